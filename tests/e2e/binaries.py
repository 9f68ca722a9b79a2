"""Build and locate the real control plane the e2e suite runs (test infrastructure only).

The binaries are built from the Go modules pinned in ``controlplane/`` into a cache folder
outside the checkout, keyed by a hash of the pins, so a fresh clone finds a previous build
and a second run is instant. metrics-server is built from its own module under its own key
(``metrics_server_key()``), so it never invalidates that build. Run as a script (``make
controlplane``) to build both.

Standard library only: this must run before any virtualenv exists.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODULE = ROOT / "controlplane"
KUBERNETES_VERSION = "v1.37.2"
KWOK_MODULE = "sigs.k8s.io/kwok"
KWOK_VERSION = "v0.8.0"
MIN_GO = (1, 26)
# Room for the module cache (~1 GB), the build cache (~4 GB) and the binaries (~0.4 GB).
NEEDED_FREE_BYTES = 7 * 1024**3

# name -> Go package, built inside controlplane/ so the pins in its go.mod apply.
K8S_BINARIES = {
    "etcd": "./etcd",
    "kube-apiserver": "k8s.io/kubernetes/cmd/kube-apiserver",
    "kube-controller-manager": "k8s.io/kubernetes/cmd/kube-controller-manager",
    "kube-scheduler": "k8s.io/kubernetes/cmd/kube-scheduler",
    "kubectl": "k8s.io/kubernetes/cmd/kubectl",
}
BINARIES = (*K8S_BINARIES, "kwok")
# KWOK's own stages, relative to its module: node-initialize, node-heartbeat, pod-ready, pod-delete.
KWOK_STAGES = ("kustomize/stage/node/fast/node-initialize.yaml",
               "kustomize/stage/node/heartbeat/node-heartbeat.yaml",
               "kustomize/stage/pod/fast/pod-ready.yaml",
               "kustomize/stage/pod/fast/pod-delete.yaml")
# metrics-server, for HorizontalPodAutoscalers in e2e: built from its own module (its go.mod has no
# replace directives, so `go install module@version` applies its own pins) under its own cache key,
# so adding or bumping it never invalidates the control plane above. v0.9.0 is served but not an
# approved release here.
METRICS_SERVER_MODULE = "sigs.k8s.io/metrics-server"
METRICS_SERVER_VERSION = "v0.8.0"
METRICS_SERVER_COMMIT = "d66279c6426c6581d9656fe3d42bc52db7c29597"  # the v0.8.0 tag, for `--version`


class BuildError(Exception):
    """One line that says what is missing and what to do."""


def pins_key() -> str:
    """A short hash of everything that decides what gets built."""
    h = hashlib.sha256()
    for name in ("go.mod", "go.sum", "tools.go", "etcd/main.go"):
        h.update(name.encode() + b"\0" + (MODULE / name).read_bytes() + b"\0")
    h.update(f"{KWOK_MODULE}@{KWOK_VERSION}\0{_ldflags()}\0{KWOK_STAGES}".encode())
    return h.hexdigest()[:16]


def metrics_server_key() -> str:
    """A short hash of what decides the metrics-server build (independent of pins_key())."""
    h = hashlib.sha256(f"{METRICS_SERVER_MODULE}@{METRICS_SERVER_VERSION}\0{_metrics_server_ldflags()}".encode())
    return h.hexdigest()[:16]


def cache_root() -> Path:
    env = os.environ.get("SKCTL_CONTROLPLANE_CACHE")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "skctl" / "controlplane"


def bin_dir() -> Path:
    return cache_root() / pins_key() / "bin"


def stages_dir() -> Path:
    return cache_root() / pins_key() / "stages"


def metrics_server_path() -> Path:
    return cache_root() / f"metrics-server-{metrics_server_key()}" / "bin" / "metrics-server"


def is_built() -> bool:
    d = bin_dir()
    return all((d / b).is_file() for b in BINARIES) and stages_dir().is_dir()


def go_version() -> tuple[int, int] | None:
    go = shutil.which("go")
    if go is None:
        return None
    out = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True).stdout.strip()
    m = re.match(r"go(\d+)\.(\d+)", out)
    return (int(m.group(1)), int(m.group(2))) if m else None


def check_go() -> None:
    v = go_version()
    want = f"{MIN_GO[0]}.{MIN_GO[1]}"
    if v is None:
        raise BuildError(f"the e2e control plane is built from source and needs Go {want} or newer on PATH; "
                         "install Go (the official tarball or your distribution's golang package)")
    if v < MIN_GO:
        raise BuildError(f"Go {v[0]}.{v[1]} is too old to build Kubernetes {KUBERNETES_VERSION}; "
                         f"install Go {want} or newer")


def check_space(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(path).free
    if free < NEEDED_FREE_BYTES:
        raise BuildError(f"building the control plane needs about {NEEDED_FREE_BYTES / 1024**3:.0f} GiB free "
                         f"under {path}, only {free / 1024**3:.1f} GiB is; free some space or set "
                         "SKCTL_CONTROLPLANE_CACHE to a roomier folder")


def du(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def _ldflags() -> str:
    major, minor = KUBERNETES_VERSION.lstrip("v").split(".")[:2]
    x = []
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        x += [f"-X {pkg}.gitVersion={KUBERNETES_VERSION}", f"-X {pkg}.gitMajor={major}",
              f"-X {pkg}.gitMinor={minor}", f"-X {pkg}.gitTreeState=clean",
              f"-X {pkg}.buildDate=1970-01-01T00:00:00Z"]
    return " ".join(["-s", "-w", *x])


def _metrics_server_ldflags() -> str:
    pkg = "k8s.io/client-go/pkg/version"  # what metrics-server's own Makefile stamps
    return " ".join(["-s", "-w", f"-X {pkg}.gitVersion={METRICS_SERVER_VERSION}",
                     f"-X {pkg}.gitCommit={METRICS_SERVER_COMMIT}", f"-X {pkg}.gitTreeState=clean",
                     f"-X {pkg}.buildDate=1970-01-01T00:00:00Z"])


def _mb(n: int) -> str:
    return f"{n / 1024**2:,.0f} MB"


def _go_env() -> tuple[dict[str, str], Path, bool]:
    """The build environment, the Go build cache it uses and whether to keep that cache."""
    keep_cache = os.environ.get("SKCTL_KEEP_GO_BUILD_CACHE") == "1"
    gocache = Path(os.environ["GOCACHE"]) if keep_cache and os.environ.get("GOCACHE") else \
        cache_root() / "go-build-cache"
    env = dict(os.environ, GOCACHE=str(gocache), GOFLAGS="-buildvcs=false", CGO_ENABLED="0")
    env["GOTOOLCHAIN"] = "local"
    return env, gocache, keep_cache


def _drop_build_cache(gocache: Path, keep_cache: bool, log) -> None:
    if gocache.exists() and not keep_cache:
        log(f"removing the Go build cache ({_mb(du(gocache))}; keep it with SKCTL_KEEP_GO_BUILD_CACHE=1)")
        shutil.rmtree(gocache, ignore_errors=True)


def build(log=print) -> Path:
    """Build whatever is missing; returns the bin folder. Idempotent and instant once built."""
    target = bin_dir()
    if is_built():
        log(f"control plane {KUBERNETES_VERSION} (kwok {KWOK_VERSION}) already built in {target}")
        return target
    check_go()
    check_space(cache_root())
    target.mkdir(parents=True, exist_ok=True)
    env, gocache, keep_cache = _go_env()
    started = time.monotonic()
    for name, pkg in K8S_BINARIES.items():
        out = target / name
        if out.is_file():
            continue
        t0 = time.monotonic()
        log(f"building {name} {KUBERNETES_VERSION} ...")
        tmp = target / f".{name}.tmp"
        _run(["go", "build", "-trimpath", "-ldflags", _ldflags(), "-o", str(tmp), pkg], MODULE, env)
        tmp.replace(out)
        log(f"  {name}: {time.monotonic() - t0:.0f} s, {_mb(du(out))}")
    if not (target / "kwok").is_file():
        t0 = time.monotonic()
        log(f"building kwok {KWOK_VERSION} (its own module) ...")
        with tempfile.TemporaryDirectory(dir=target) as gobin:
            _run(["go", "install", "-trimpath", "-ldflags", "-s -w", f"{KWOK_MODULE}/cmd/kwok@{KWOK_VERSION}"],
                 cache_root(), dict(env, GOBIN=gobin))
            Path(gobin, "kwok").replace(target / "kwok")
        log(f"  kwok: {time.monotonic() - t0:.0f} s, {_mb(du(target / 'kwok'))}")
    _copy_stages(env)
    log(f"built in {time.monotonic() - started:.0f} s; binaries {_mb(du(target))} in {target}")
    _drop_build_cache(gocache, keep_cache, log)
    return target


def build_metrics_server(log=print) -> Path:
    """Build metrics-server if missing (its own cache key); returns the binary. Instant once built."""
    out = metrics_server_path()
    if out.is_file():
        log(f"metrics-server {METRICS_SERVER_VERSION} already built in {out.parent}")
        return out
    check_go()
    check_space(cache_root())
    out.parent.mkdir(parents=True, exist_ok=True)
    env, gocache, keep_cache = _go_env()
    t0 = time.monotonic()
    log(f"building metrics-server {METRICS_SERVER_VERSION} (its own module) ...")
    with tempfile.TemporaryDirectory(dir=out.parent) as gobin:
        _run(["go", "install", "-trimpath", "-ldflags", _metrics_server_ldflags(),
              f"{METRICS_SERVER_MODULE}/cmd/metrics-server@{METRICS_SERVER_VERSION}"],
             cache_root(), dict(env, GOBIN=gobin))
        Path(gobin, "metrics-server").replace(out)
    log(f"  metrics-server: {time.monotonic() - t0:.0f} s, {_mb(du(out))}")
    _drop_build_cache(gocache, keep_cache, log)
    return out


def _copy_stages(env: dict[str, str]) -> None:
    out = subprocess.run(["go", "mod", "download", "-json", f"{KWOK_MODULE}@{KWOK_VERSION}"],
                         cwd=cache_root(), env=env, capture_output=True, text=True, check=True).stdout
    m = re.search(r'"Dir":\s*"([^"]+)"', out)
    if not m:
        raise BuildError(f"go mod download did not report where {KWOK_MODULE}@{KWOK_VERSION} is")
    src = Path(m.group(1))
    tmp = stages_dir().with_name("stages.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for rel in KWOK_STAGES:
        shutil.copyfile(src / rel, tmp / Path(rel).name)
    shutil.rmtree(stages_dir(), ignore_errors=True)
    tmp.replace(stages_dir())


def _run(cmd: list[str], cwd: Path, env: dict[str, str]) -> None:
    proc = subprocess.run(cmd, cwd=cwd, env=env)
    if proc.returncode != 0:
        raise BuildError(f"{' '.join(cmd[:3])} ... failed with exit {proc.returncode} (output above)")


def main(argv: list[str]) -> int:
    try:
        if argv[:1] == ["--bin-dir"]:
            print(bin_dir())
            return 0
        build()
        build_metrics_server()
    except BuildError as exc:
        print(f"controlplane: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
