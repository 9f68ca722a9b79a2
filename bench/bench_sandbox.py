"""Sandbox API server throughput: watch events/s to one client, and list latency at 10,000 objects.

The server runs in a child process (as with `skctl sandbox`), preloaded with N objects so
their ADDED events sit in the watch history; a client then watches from resourceVersion
1 and reads all of them. Figures are printed with a same-run baseline: the rate at which
this machine can merely `json.loads` the same event lines in-process (so the ratio says
how close the server + socket + chunking get to "free"), and for lists the time to
`json.loads` the same response body. Target: >= 20,000 watch events/s. No asserts.

Run: .venv/bin/python bench/bench_sandbox.py
"""

from __future__ import annotations

import json
import multiprocessing as mp
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import report, section  # noqa: E402

from skctl.sandbox.objects import dumps  # noqa: E402

N_EVENTS = 100_000
N_WATCH_CLIENT = 20_000
N_LIVE = 50_000
N_LIST = 10_000
TARGET = 20_000


def _pod(i: int) -> dict:
    name = f"bench-{i:06d}"
    return {
        "metadata": {"name": name, "namespace": "bench", "labels": {"app": "bench", "shard": str(i % 16)}},
        "spec": {"containers": [{"name": "main", "image": "nginx:1.25",
                                 "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}],
                 "nodeName": f"node-{i % 50}", "restartPolicy": "Always"},
        "status": {"phase": "Running", "podIP": f"10.244.{i // 250 % 256}.{i % 250 + 1}",
                   "startTime": "2024-01-01T00:00:00Z"},
    }


def _serve(ready: mp.Queue, go: mp.Queue, n_events: int, n_list: int) -> None:
    from skctl.sandbox import SandboxServer

    server = SandboxServer(max_history=n_events + n_list + 10 * N_LIVE)
    store = server.store
    ns_type = store.resource("v1", "Namespace")
    store.create(ns_type, {"metadata": {"name": "bench"}})
    store.create(ns_type, {"metadata": {"name": "listing"}})
    pods = store.resource("v1", "Pod")
    start_rv = store.resource_version
    store.create_many(pods, (_pod(i) for i in range(n_events)))
    cms = store.resource("v1", "ConfigMap")
    store.create_many(cms, ({"metadata": {"name": f"cm-{i:05d}", "namespace": "listing",
                                          "labels": {"app": "list"}}, "data": {"key": "v" * 64}}
                            for i in range(n_list)))
    store.create(ns_type, {"metadata": {"name": "live"}})
    server.start()
    ready.put((server.port, start_rv))
    while True:
        n_live = go.get()  # write n_live objects as fast as possible while a client watches
        t0 = time.perf_counter()
        for i in range(n_live):
            pod = _pod(i)
            pod["metadata"].update(name=f"live-{time.time_ns()}-{i}", namespace="live")
            store.create(pods, pod)
        ready.put(time.perf_counter() - t0)


def _raw_watch(port: int, path: str, want: int) -> tuple[int, float, int]:
    """Stream a watch over a raw socket, parse chunked framing, json.loads each line."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: bench\r\nAccept: application/json\r\n\r\n".encode())
    t0 = time.perf_counter()
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += sock.recv(65536)
    head, buf = buf.split(b"\r\n\r\n", 1)
    assert b" 200 " in head.split(b"\r\n")[0], head
    count = total = 0
    pending = b""  # payload bytes not yet split into lines
    loads = json.loads
    while count < want:
        # chunk framing: size CRLF data CRLF
        while b"\r\n" not in buf:
            buf += sock.recv(1 << 20)
        size_line, buf = buf.split(b"\r\n", 1)
        size = int(size_line, 16)
        if size == 0:
            break
        while len(buf) < size + 2:
            buf += sock.recv(max(1 << 20, size + 2 - len(buf)))
        pending += buf[:size]
        buf = buf[size + 2:]
        total += size
        lines = pending.split(b"\n")
        pending = lines.pop()
        for line in lines:
            loads(line)
            count += 1
    elapsed = time.perf_counter() - t0
    sock.close()
    return count, elapsed, total


def _live_watch(port: int, go: mp.Queue, ready: mp.Queue) -> tuple[float, float]:
    """(events/s delivered, objects/s written) while the server creates N_LIVE objects."""
    import http.client
    import threading

    conn = http.client.HTTPConnection("127.0.0.1", port)
    conn.request("GET", "/api/v1/namespaces/live/pods?limit=1")
    rv = json.loads(conn.getresponse().read())["metadata"]["resourceVersion"]
    conn.close()
    result: list = []
    reader = threading.Thread(target=lambda: result.append(
        _raw_watch(port, f"/api/v1/namespaces/live/pods?watch=1&resourceVersion={rv}", N_LIVE)))
    reader.start()
    time.sleep(0.2)  # let the watch connect before the writes start
    go.put(N_LIVE)
    write_secs = ready.get(timeout=300)
    reader.join(timeout=300)
    count, elapsed, _ = result[0]
    return count / elapsed, N_LIVE / write_secs


def _baseline_loads(lines: list[bytes]) -> float:
    t0 = time.perf_counter()
    for line in lines:
        json.loads(line)
    return len(lines) / (time.perf_counter() - t0)


def _timed_loads(body: bytes) -> float:
    t0 = time.perf_counter()
    json.loads(body)
    return time.perf_counter() - t0


def _client_watch(port: int, start_rv: int, want: int) -> tuple[int, float]:
    from kubernetes import client, watch

    cfg = client.Configuration()
    cfg.host = f"http://127.0.0.1:{port}"
    core = client.CoreV1Api(client.ApiClient(cfg))
    w = watch.Watch()
    t0 = time.perf_counter()
    n = 0
    for _ in w.stream(core.list_namespaced_pod, "bench", resource_version=str(start_rv), timeout_seconds=120):
        n += 1
        if n >= want:
            w.stop()
    return n, time.perf_counter() - t0


def _list(port: int, path: str) -> tuple[float, float, bytes]:
    """(seconds to fetch, seconds to fetch+parse, body) for one GET."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port)
    t0 = time.perf_counter()
    conn.request("GET", path, headers={"Accept": "application/json"})
    body = conn.getresponse().read()
    t1 = time.perf_counter()
    doc = json.loads(body)
    t2 = time.perf_counter()
    conn.close()
    assert len(doc["items"]) == N_LIST
    return t1 - t0, t2 - t0, body


def main() -> None:
    ctx = mp.get_context("fork" if sys.platform != "win32" else "spawn")
    ready: mp.Queue = ctx.Queue()
    go: mp.Queue = ctx.Queue()
    t0 = time.perf_counter()
    proc = ctx.Process(target=_serve, args=(ready, go, N_EVENTS, N_LIST), daemon=True)
    proc.start()
    port, start_rv = ready.get(timeout=300)
    section("sandbox API server: watch and list")
    print(f"  server preloaded with {N_EVENTS} pod events + {N_LIST} configmaps in {time.perf_counter() - t0:.1f}s")
    try:
        sample = [b'{"type":"ADDED","object":' + dumps({"apiVersion": "v1", "kind": "Pod", **_pod(i)}) + b"}"
                  for i in range(N_EVENTS)]
        base_rate = _baseline_loads(sample)

        path = f"/api/v1/namespaces/bench/pods?watch=1&resourceVersion={start_rv}"
        count, elapsed, nbytes = _raw_watch(port, path, N_EVENTS)
        rate = count / elapsed
        report("watch, raw streaming client (events/s)", rate, f">= {TARGET}",
               detail=f"{count} events, {nbytes / elapsed / 1e6:.1f} MB/s, {nbytes / count:.0f} B/event")
        report("watch, raw client ÷ json.loads of the same lines", rate / base_rate,
               detail=f"json.loads alone {base_rate:,.0f} lines/s")

        live = _live_watch(port, go, ready)
        report("watch, live: events/s delivered while the server writes", live[0],
               detail=f"server wrote {live[1]:,.0f} objects/s; {live[0] / base_rate:.2f} of json.loads")

        n, secs = _client_watch(port, start_rv, N_WATCH_CLIENT)
        crate = n / secs
        report("watch, kubernetes.watch.Watch typed V1Pod (events/s)", crate,
               detail=f"{n} events; {crate / base_rate:.3f} of json.loads")

        lpath = "/api/v1/namespaces/listing/configmaps"
        fetches = [_list(port, lpath) for _ in range(5)]
        fetch = min(f[0] for f in fetches)
        total = min(f[1] for f in fetches)
        body = fetches[0][2]
        nbytes = len(body)
        parse_base = min(_timed_loads(body) for _ in range(5))
        report(f"list {N_LIST:,} configmaps: fetch (ms)", fetch * 1000,
               detail=f"{nbytes / 1e6:.1f} MB; {total * 1000:.1f} ms with parsing; best of 5")
        report(f"list {N_LIST:,} configmaps: fetch ÷ json.loads of the body", fetch / parse_base,
               detail=f"json.loads {parse_base * 1000:.1f} ms")
        sel = [_list(port, lpath + "?labelSelector=app%3Dlist") for _ in range(3)]
        report(f"list {N_LIST:,} configmaps with labelSelector: fetch ÷ json.loads",
               min(s[0] for s in sel) / parse_base, detail=f"{min(s[0] for s in sel) * 1000:.1f} ms")
    finally:
        proc.terminate()
        proc.join(timeout=10)


if __name__ == "__main__":
    main()
