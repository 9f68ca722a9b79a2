"""Start a real Kubernetes control plane on loopback for the e2e suite (test infrastructure only).

etcd, kube-apiserver (RBAC on, a CA-signed serving certificate, service-account tokens),
kube-controller-manager (with a request rate high enough for simulations), kube-scheduler and
KWOK, the binaries built by ``tests/e2e/binaries.py``. N fake nodes are created, labelled
``type: virtual`` and tainted ``kwok-provider`` as skctl's simulations expect, and the launcher
waits until all are Ready. Everything is stopped and the work folder removed on exit, SIGINT
or SIGTERM; children are also killed by the kernel if the launcher itself dies.

With ``metrics_server=True`` (``--metrics-server``) the cluster also serves the resource metrics
API, so HorizontalPodAutoscalers act: KWOK serves a kubelet-like resource metrics endpoint per
fake node (config/kwok's Metric, pod usage from the ClusterResourceUsage reading the
``kwok.x-k8s.io/usage-cpu``/``-memory`` pod annotations), metrics-server (built by binaries.py
under its own cache key) scrapes it with the settings KWOK gives for fake nodes, and
kube-apiserver's aggregation layer serves ``metrics.k8s.io`` from it.

Run as a script (``make cluster``) to keep one running in the foreground:
it prints ``KUBECONFIG=<path>`` once ready. Independent of skctl: uses only the standard
library, ``cryptography``, ``PyYAML`` and ``requests`` (all in the test environment).
"""

from __future__ import annotations

import ctypes
import datetime as dt
import ipaddress
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import requests
import yaml

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.e2e import binaries  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SKCTL_STAGES = ROOT / "config" / "kwok"
ADMIN_USER = "e2e-admin"
FRONT_PROXY_CLIENT = "front-proxy-client"
SERVICE_CIDR = "10.0.0.0/24"
# Simulations create many ReplicaSets and pods at once; the default 20 QPS makes the
# controllers lag the trace by seconds (see docs/run.md).
CONTROLLER_QPS = ("--kube-api-qps=500", "--kube-api-burst=1000")
NODE_CPU, NODE_MEMORY, NODE_PODS = "32", "256Gi", "110"
STARTUP_TIMEOUT = 90.0
STOP_TIMEOUT = 15.0
# With metrics-server: the HPA controller's loop every 5 s instead of 15 s, so HPA tests take
# minutes; each HPA's own behavior (stabilisation windows, policies) applies unchanged.
HPA_CONTROLLER_ARGS = ("--horizontal-pod-autoscaler-sync-period=5s",)
# What KWOK's kwokctl gives metrics-server for fake nodes: scrape each node at its InternalIP and
# status.daemonEndpoints port (KWOK's server; its path from the node annotation below), accept
# KWOK's serving certificate as it is.
METRICS_SERVER_KWOK_ARGS = ("--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname",
                            "--kubelet-use-node-status-port", "--kubelet-insecure-tls")
METRICS_PATH_ANNOTATION = "metrics.k8s.io/resource-metrics-path"
# KWOK config kinds taken from config/kwok: stages always, the metrics kinds with metrics-server
STAGE_KINDS = frozenset({"Stage"})
METRICS_KINDS = frozenset({"Metric", "ClusterResourceUsage"})


class ClusterError(Exception):
    """The control plane could not be started; the message names the component and its log."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:
    """Runs in the child before exec: the kernel kills it if the launcher dies (even by SIGKILL)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass
    os.setpgrp()  # a terminal's Ctrl-C reaches the launcher only; it stops the children in order


# --- PKI -----------------------------------------------------------------------------------------

def _write_pki(d: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import NameOID

    def pem_key(key) -> bytes:
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())

    now = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    later = now + dt.timedelta(days=2)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "skctl-e2e-ca")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now).not_valid_after(later)
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    srv_key = ec.generate_private_key(ec.SECP256R1())
    service_ip = next(ipaddress.ip_network(SERVICE_CIDR).hosts())
    sans = [x509.DNSName(n) for n in ("localhost", "kubernetes", "kubernetes.default",
                                      "kubernetes.default.svc", "kubernetes.default.svc.cluster.local")]
    sans += [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.IPAddress(service_ip)]
    srv = (x509.CertificateBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
           .issuer_name(ca_name).public_key(srv_key.public_key()).serial_number(x509.random_serial_number())
           .not_valid_before(now).not_valid_after(later)
           .add_extension(x509.SubjectAlternativeName(sans), critical=False)
           .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
           .sign(ca_key, hashes.SHA256()))
    # the aggregation layer: kube-apiserver proxies metrics.k8s.io to metrics-server with this
    # client certificate, which metrics-server trusts through the front-proxy CA
    fp_key = ec.generate_private_key(ec.SECP256R1())
    fp_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "skctl-e2e-front-proxy-ca")])
    fp_ca = (x509.CertificateBuilder().subject_name(fp_name).issuer_name(fp_name)
             .public_key(fp_key.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(now).not_valid_after(later)
             .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
             .sign(fp_key, hashes.SHA256()))
    proxy_key = ec.generate_private_key(ec.SECP256R1())
    proxy = (x509.CertificateBuilder()
             .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, FRONT_PROXY_CLIENT)]))
             .issuer_name(fp_name).public_key(proxy_key.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(now).not_valid_after(later)
             .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
             .sign(fp_key, hashes.SHA256()))
    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (d / "ca.crt").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (d / "ca.key").write_bytes(pem_key(ca_key))
    (d / "apiserver.crt").write_bytes(srv.public_bytes(serialization.Encoding.PEM))
    (d / "apiserver.key").write_bytes(pem_key(srv_key))
    (d / "sa.key").write_bytes(pem_key(sa_key))
    (d / "front-proxy-ca.crt").write_bytes(fp_ca.public_bytes(serialization.Encoding.PEM))
    (d / "front-proxy-client.crt").write_bytes(proxy.public_bytes(serialization.Encoding.PEM))
    (d / "front-proxy-client.key").write_bytes(pem_key(proxy_key))
    (d / "sa.pub").write_bytes(sa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))


# --- the cluster ---------------------------------------------------------------------------------

class Cluster:
    """A running control plane. Use as a context manager, or call start() and stop()."""

    def __init__(self, nodes: int = 4, workdir: Path | None = None, bin_dir: Path | None = None,
                 log: Callable[[str], None] = lambda _m: None, apiserver_args: Iterable[str] = (),
                 scheduler_config: dict | None = None, metrics_server: bool = False,
                 metric_resolution: str = "15s") -> None:
        self.nodes = nodes
        # metrics-server and KWOK's resource metrics, so HorizontalPodAutoscalers act (see above);
        # metric_resolution is metrics-server's scrape interval (KWOK's kwokctl uses 15s)
        self.metrics_server = metrics_server
        self.metric_resolution = metric_resolution
        self.kwok_port = 0
        self.metrics_server_port = 0
        self.apiserver_args = list(apiserver_args)
        # a KubeSchedulerConfiguration (its profiles, e.g. a NodeResourcesFit scoring strategy);
        # the launcher fills in the client connection and turns leader election off
        self.scheduler_config = scheduler_config
        self.bin_dir = bin_dir or binaries.bin_dir()
        self._own_workdir = workdir is None
        self.dir = workdir or Path(tempfile.mkdtemp(prefix="skctl-e2e-"))
        self.log = log
        self.procs: dict[str, subprocess.Popen] = {}
        self.token = secrets.token_hex(16)
        self.etcd_url = ""
        self.server = ""
        self.kubeconfig = self.dir / "admin.kubeconfig"
        self.ca_file = self.dir / "pki" / "ca.crt"

    # lifecycle ---------------------------------------------------------------------------------
    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> Cluster:
        missing = [b for b in binaries.BINARIES if not (self.bin_dir / b).is_file()]
        if missing:
            raise ClusterError(f"control plane binaries missing in {self.bin_dir} ({', '.join(missing)}): "
                               "run `make controlplane`")
        if self.metrics_server and not binaries.metrics_server_path().is_file():
            raise ClusterError(f"metrics-server missing ({binaries.metrics_server_path()}): run `make controlplane`")
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        t0 = time.monotonic()
        pki = self.dir / "pki"
        pki.mkdir(parents=True, exist_ok=True)
        _write_pki(pki)
        (self.dir / "tokens.csv").write_text(f'{self.token},{ADMIN_USER},{ADMIN_USER},"system:masters"\n')
        self._start_etcd()
        self._start_apiserver()
        self._write_kubeconfig()
        self._start_controllers()
        self._create_nodes()
        self.wait_nodes_ready()
        if self.metrics_server:
            self._start_metrics_server()
        self.log(f"control plane ready in {time.monotonic() - t0:.1f} s at {self.server}")

    def stop(self) -> None:
        """Stop every process (newest first), wait for each to exit, then remove the work folder."""
        # one at a time, newest first: the API server needs etcd until it has shut down
        for name in reversed(list(self.procs)):
            _terminate(self.procs[name])
        self.procs.clear()
        if self._own_workdir:
            shutil.rmtree(self.dir, ignore_errors=True)

    # components --------------------------------------------------------------------------------
    def _spawn(self, name: str, args: Iterable[str], binary: Path | None = None) -> subprocess.Popen:
        log = open(self.dir / f"{name}.log", "ab")  # noqa: SIM115 - the child owns it
        proc = subprocess.Popen([str(binary or self.bin_dir / name), *args], stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, cwd=self.dir, preexec_fn=_die_with_parent)
        log.close()
        self.procs[name] = proc
        return proc

    def log_tail(self, name: str, lines: int = 15) -> str:
        path = self.dir / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def _wait(self, name: str, ready: Callable[[], bool], timeout: float = STARTUP_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            proc = self.procs.get(name)
            if proc is not None and proc.poll() is not None:
                raise ClusterError(f"{name} exited with {proc.returncode}:\n{self.log_tail(name)}")
            try:
                if ready():
                    return
            except (requests.RequestException, OSError):
                pass
            time.sleep(0.2)
        raise ClusterError(f"{name} not ready after {timeout:.0f} s:\n{self.log_tail(name)}")

    def _start_etcd(self) -> None:
        client, peer = free_port(), free_port()
        self.etcd_url = f"http://127.0.0.1:{client}"
        peer_url = f"http://127.0.0.1:{peer}"
        self._spawn("etcd", [
            "--name=e2e", f"--data-dir={self.dir / 'etcd'}",
            f"--listen-client-urls={self.etcd_url}", f"--advertise-client-urls={self.etcd_url}",
            f"--listen-peer-urls={peer_url}", f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=e2e={peer_url}", "--unsafe-no-fsync", "--log-level=warn",
        ])
        self._wait("etcd", lambda: requests.get(f"{self.etcd_url}/health", timeout=2).ok)

    def _start_apiserver(self, port: int | None = None) -> None:
        port = port or free_port()
        self.server = f"https://127.0.0.1:{port}"
        pki = self.dir / "pki"
        self._spawn("kube-apiserver", [
            f"--etcd-servers={self.etcd_url}", "--bind-address=127.0.0.1", f"--secure-port={port}",
            # an advertise address in the loopback range is refused unless endpoints are not reconciled
            "--advertise-address=127.0.0.1", "--endpoint-reconciler-type=none",
            f"--cert-dir={pki}", f"--tls-cert-file={pki / 'apiserver.crt'}",
            f"--tls-private-key-file={pki / 'apiserver.key'}", f"--client-ca-file={pki / 'ca.crt'}",
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--token-auth-file={self.dir / 'tokens.csv'}", "--authorization-mode=RBAC",
            f"--service-cluster-ip-range={SERVICE_CIDR}", "--allow-privileged=true",
            *(self._aggregation_args() if self.metrics_server else ()), *self.apiserver_args,
        ])
        self._wait("kube-apiserver", lambda: self._get("/readyz").status_code == 200)

    def _aggregation_args(self) -> list[str]:
        """kube-apiserver's aggregation layer, which serves metrics.k8s.io from metrics-server."""
        pki = self.dir / "pki"
        return [f"--requestheader-client-ca-file={pki / 'front-proxy-ca.crt'}",
                f"--requestheader-allowed-names={FRONT_PROXY_CLIENT}",
                "--requestheader-username-headers=X-Remote-User", "--requestheader-group-headers=X-Remote-Group",
                "--requestheader-extra-headers-prefix=X-Remote-Extra-",
                f"--proxy-client-cert-file={pki / 'front-proxy-client.crt'}",
                f"--proxy-client-key-file={pki / 'front-proxy-client.key'}"]

    def restart_apiserver(self) -> None:
        """Stop the API server and start it again on the same port: every client connection (and
        watch) drops for real, and clients must reconnect and resume."""
        _terminate(self.procs.pop("kube-apiserver"))
        port = int(self.server.rsplit(":", 1)[1])
        deadline = time.monotonic() + STOP_TIMEOUT
        while time.monotonic() < deadline:  # the old process may hold the port a little longer
            with socket.socket() as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    s.bind(("127.0.0.1", port))
                    break
                except OSError:
                    time.sleep(0.2)
        self._start_apiserver(port)

    def _start_controllers(self) -> None:
        pki = self.dir / "pki"
        kc = f"--kubeconfig={self.kubeconfig}"
        self._spawn("kube-controller-manager", [
            kc, "--leader-elect=false", "--bind-address=127.0.0.1", "--secure-port=0",
            f"--root-ca-file={pki / 'ca.crt'}", f"--service-account-private-key-file={pki / 'sa.key'}",
            "--use-service-account-credentials=false", *CONTROLLER_QPS,
            "--concurrent-deployment-syncs=20", "--concurrent-replicaset-syncs=20",
            *(HPA_CONTROLLER_ARGS if self.metrics_server else ()),
        ])
        if self.scheduler_config is None:
            self._spawn("kube-scheduler", [kc, "--leader-elect=false", "--bind-address=127.0.0.1",
                                           "--secure-port=0", *CONTROLLER_QPS])
        else:
            config = {"apiVersion": "kubescheduler.config.k8s.io/v1", "kind": "KubeSchedulerConfiguration",
                      **self.scheduler_config,
                      "clientConnection": {"kubeconfig": str(self.kubeconfig), "qps": 500, "burst": 1000},
                      "leaderElection": {"leaderElect": False}}
            path = self.dir / "scheduler-config.yaml"
            path.write_text(yaml.safe_dump(config, sort_keys=False))
            self._spawn("kube-scheduler", [f"--config={path}", "--bind-address=127.0.0.1", "--secure-port=0"])
        # skctl's own config comes last: a stage of the same name replaces KWOK's
        kinds = STAGE_KINDS | (METRICS_KINDS if self.metrics_server else frozenset())
        paths = sorted(binaries.stages_dir().glob("*.yaml")) + sorted(SKCTL_STAGES.glob("*.yaml"))
        merged = self.dir / "kwok-stages.yaml"
        merged.write_text(_merge_kwok_config(paths, kinds))
        args = [kc, f"--config={merged}", "--manage-nodes-with-label-selector=type=virtual", "--cidr=10.244.0.0/16"]
        if self.metrics_server:
            # KWOK's server is every fake node's "kubelet": nodes get InternalIP 127.0.0.1 and this
            # port as status.daemonEndpoints, where metrics-server scrapes them (loopback only)
            self.kwok_port = free_port()
            args += ["--node-ip=127.0.0.1", f"--node-port={self.kwok_port}",
                     f"--server-address=127.0.0.1:{self.kwok_port}",
                     f"--tls-cert-file={pki / 'apiserver.crt'}", f"--tls-private-key-file={pki / 'apiserver.key'}"]
        else:
            args += ["--node-ip=10.1.0.1"]
        self._spawn("kwok", args)

    def _start_metrics_server(self, timeout: float = 2 * STARTUP_TIMEOUT) -> None:
        """metrics-server on loopback, registered as v1beta1.metrics.k8s.io; returns once the
        aggregator reports it Available and the API answers. (A node or pod shows up there once
        it has two scrapes of non-zero usage: metrics-server drops zeros, and a KWOK node without
        pods reports none.)"""
        pki = self.dir / "pki"
        self.metrics_server_port = free_port()
        kc = str(self.kubeconfig)
        self._spawn("metrics-server", [
            *METRICS_SERVER_KWOK_ARGS, f"--metric-resolution={self.metric_resolution}",
            "--bind-address=127.0.0.1", f"--secure-port={self.metrics_server_port}",
            f"--kubeconfig={kc}", f"--authentication-kubeconfig={kc}", f"--authorization-kubeconfig={kc}",
            f"--tls-cert-file={pki / 'apiserver.crt'}", f"--tls-private-key-file={pki / 'apiserver.key'}",
        ], binary=binaries.metrics_server_path())
        # the aggregator resolves an ExternalName service to its name: loopback, no kube-proxy needed
        service = {"apiVersion": "v1", "kind": "Service",
                   "metadata": {"name": "metrics-server", "namespace": "kube-system"},
                   "spec": {"type": "ExternalName", "externalName": "127.0.0.1"}}
        api_service = {"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
                       "metadata": {"name": "v1beta1.metrics.k8s.io"},
                       "spec": {"group": "metrics.k8s.io", "version": "v1beta1",
                                "service": {"name": "metrics-server", "namespace": "kube-system",
                                            "port": self.metrics_server_port},
                                # metrics-server's own manifest does the same; the hop is loopback
                                "insecureSkipTLSVerify": True,
                                "groupPriorityMinimum": 100, "versionPriority": 100}}
        for path, body in (("/api/v1/namespaces/kube-system/services", service),
                           ("/apis/apiregistration.k8s.io/v1/apiservices", api_service)):
            r = self._request("POST", path, json=body)
            if r.status_code not in (201, 409):
                raise ClusterError(f"creating {body['kind']}: {r.status_code} {r.text[:300]}")
        self._wait("metrics-server", lambda: self._api_service_available("v1beta1.metrics.k8s.io")
                   and self._get("/apis/metrics.k8s.io/v1beta1/nodes").status_code == 200, timeout)

    def _api_service_available(self, name: str) -> bool:
        r = self._get(f"/apis/apiregistration.k8s.io/v1/apiservices/{name}")
        conditions = r.json().get("status", {}).get("conditions", []) if r.status_code == 200 else []
        return any(c["type"] == "Available" and c["status"] == "True" for c in conditions)

    def node_metrics(self) -> dict[str, dict]:
        """NodeMetrics by node name from the resource metrics API (empty while it is not served)."""
        r = self._get("/apis/metrics.k8s.io/v1beta1/nodes")
        return {m["metadata"]["name"]: m for m in r.json().get("items", [])} if r.status_code == 200 else {}

    def _write_kubeconfig(self) -> None:
        doc = {
            "apiVersion": "v1", "kind": "Config", "current-context": "e2e",
            "clusters": [{"name": "e2e", "cluster": {"server": self.server,
                                                     "certificate-authority": str(self.ca_file)}}],
            "users": [{"name": ADMIN_USER, "user": {"token": self.token}}],
            "contexts": [{"name": "e2e", "context": {"cluster": "e2e", "user": ADMIN_USER}}],
        }
        self.kubeconfig.write_text(yaml.safe_dump(doc, sort_keys=False))

    def kubeconfig_for_token(self, token: str, path: Path, user: str = "sa") -> Path:
        """A kubeconfig for another identity (e.g. a ServiceAccount's TokenRequest token)."""
        doc = yaml.safe_load(self.kubeconfig.read_text())
        doc["users"] = [{"name": user, "user": {"token": token}}]
        doc["contexts"][0]["context"]["user"] = user
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        return path

    # nodes -------------------------------------------------------------------------------------
    def node_manifest(self, name: str) -> dict:
        annotations = {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"}
        if self.metrics_server:  # where metrics-server finds the node's resource metrics on KWOK's server
            annotations[METRICS_PATH_ANNOTATION] = f"/metrics/nodes/{name}/metrics/resource"
        return {
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "annotations": annotations,
                         "labels": {"type": "virtual", "kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                                    "kubernetes.io/arch": "amd64", "kubernetes.io/role": "agent"}},
            "spec": {"taints": [{"key": "kwok-provider", "value": "true", "effect": "NoSchedule"}]},
            "status": {"allocatable": {"cpu": NODE_CPU, "memory": NODE_MEMORY, "pods": NODE_PODS},
                       "capacity": {"cpu": NODE_CPU, "memory": NODE_MEMORY, "pods": NODE_PODS}},
        }

    def _create_nodes(self) -> None:
        for i in range(self.nodes):
            self.add_node(f"kwok-node-{i}")

    def add_node(self, name: str) -> None:
        r = self._request("POST", "/api/v1/nodes", json=self.node_manifest(name))
        if r.status_code not in (201, 409):
            raise ClusterError(f"creating node {name}: {r.status_code} {r.text[:300]}")

    def ready_nodes(self) -> list[str]:
        items = self._get("/api/v1/nodes").json().get("items", [])
        return [n["metadata"]["name"] for n in items
                if any(c["type"] == "Ready" and c["status"] == "True" for c in n.get("status", {}).get("conditions", []))]

    def wait_nodes_ready(self, timeout: float = STARTUP_TIMEOUT) -> None:
        self._wait("kwok", lambda: len(self.ready_nodes()) >= self.nodes, timeout)

    # access ------------------------------------------------------------------------------------
    def _request(self, method: str, path: str, **kw) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}", **kw.pop("headers", {})}
        return requests.request(method, self.server + path, headers=headers, verify=str(self.ca_file),
                                timeout=kw.pop("timeout", 10), **kw)

    def _get(self, path: str) -> requests.Response:
        return self._request("GET", path)

    def request(self, method: str, path: str, **kw) -> requests.Response:
        """A raw authenticated request as the admin (tests use it for ground truth)."""
        return self._request(method, path, **kw)

    def env(self) -> dict[str, str]:
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig)}

    def kubectl(self, *args: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess:
        proc = subprocess.run([str(self.bin_dir / "kubectl"), f"--kubeconfig={self.kubeconfig}", *args],
                              capture_output=True, text=True, input=input, timeout=120)
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {proc.stderr.strip()}")
        return proc

    def service_account_token(self, namespace: str, name: str, seconds: int = 3600) -> str:
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                "spec": {"expirationSeconds": seconds}}
        r = self._request("POST", f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token", json=body)
        r.raise_for_status()
        return str(r.json()["status"]["token"])

    def compact_etcd(self) -> int:
        """Compact etcd to its current revision, so every older resourceVersion answers 410 Gone."""
        rev = int(requests.post(f"{self.etcd_url}/v3/kv/range", json={"key": "AA=="}, timeout=5)
                  .json()["header"]["revision"])
        r = requests.post(f"{self.etcd_url}/v3/kv/compaction", json={"revision": str(rev), "physical": True},
                          timeout=30)
        r.raise_for_status()
        return rev


def _terminate(proc: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL after STOP_TIMEOUT; returns once the process has exited."""
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _merge_kwok_config(paths: list[Path], kinds: frozenset[str]) -> str:
    """One multi-document KWOK config of the given kinds; a later document of the same kind and
    name replaces an earlier one (files that are not YAML, e.g. a kustomization, add nothing)."""
    by_name: dict[tuple[str, str], dict] = {}
    for p in paths:
        try:
            docs = list(yaml.safe_load_all(p.read_text()))
        except yaml.YAMLError:
            continue
        for doc in docs:
            if isinstance(doc, dict) and doc.get("kind") in kinds:
                by_name[(doc["kind"], doc["metadata"]["name"])] = doc
    return yaml.safe_dump_all(by_name.values(), sort_keys=False)


def main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="Run a real control plane with KWOK nodes on loopback.")
    parser.add_argument("--nodes", type=int, default=4, help="KWOK nodes to create (default 4)")
    parser.add_argument("--apiserver-arg", action="append", default=[], metavar="FLAG",
                        help="extra kube-apiserver flag, e.g. --apiserver-arg=--watch-cache=false (repeatable)")
    parser.add_argument("--scheduler-config", metavar="FILE",
                        help="a KubeSchedulerConfiguration (YAML) for kube-scheduler, e.g. another scoring strategy")
    parser.add_argument("--metrics-server", action="store_true",
                        help="also serve the resource metrics API (metrics-server scraping KWOK's per-node "
                             "metrics; pod usage from kwok.x-k8s.io/usage-cpu/-memory annotations), so HPAs act")
    args = parser.parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so the finally below stops everything either way; SIGINT is
    # reset because a shell without job control starts background commands with it ignored
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_a: sys.exit(143))
    scheduler_config = yaml.safe_load(Path(args.scheduler_config).read_text()) if args.scheduler_config else None
    cluster = Cluster(nodes=args.nodes, log=lambda m: print(m, file=sys.stderr, flush=True),
                      apiserver_args=args.apiserver_arg, scheduler_config=scheduler_config,
                      metrics_server=args.metrics_server)
    try:
        cluster.start()
        print(f"KUBECONFIG={cluster.kubeconfig}", flush=True)
        print(json.dumps({"server": cluster.server, "nodes": cluster.ready_nodes()}), file=sys.stderr, flush=True)
        while True:
            time.sleep(3600)
    except ClusterError as exc:
        print(f"cluster: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        # a second Ctrl-C must not cut the cleanup short
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
