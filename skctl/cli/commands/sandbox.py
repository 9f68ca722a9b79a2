"""`skctl sandbox`: run the loopback Kubernetes API server until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import sys

from skctl.base import messages
from skctl.base.errors import InputError, OperationalError
from skctl.cli import argtypes
from skctl.cli.commands import COMMANDS

NO_WORKLOAD = "none"


def build_parser(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> argparse.ArgumentParser:
    from skctl.sandbox.scenario import DEFAULT_RATE, SCENARIOS
    from skctl.sandbox.server import DEFAULT_BOOKMARK_INTERVAL, DEFAULT_HOST
    from skctl.sandbox.store import DEFAULT_MAX_HISTORY

    p = sub.add_parser(
        "sandbox",
        parents=[parent],
        help=COMMANDS["sandbox"],
        description=messages.SANDBOX_DESCRIPTION,
    )
    p.add_argument("--host", default=DEFAULT_HOST, help=f"loopback address to bind (default: {DEFAULT_HOST})")
    p.add_argument("--port", type=argtypes.port, default=0, help="port to listen on; 0 picks a free one (default: 0)")
    p.add_argument("--write-kubeconfig", metavar="PATH", help="write a kubeconfig (context skctl-sandbox) here")
    p.add_argument("--tls", action="store_true", help="serve HTTPS with a generated self-signed certificate")
    p.add_argument("--token", help="require this bearer token on every request")
    p.add_argument("--workload", choices=(NO_WORKLOAD, *SCENARIOS), default=NO_WORKLOAD,
                   help="generate object churn: deployments, cronjobs, bare pods, a Volcano-like CRD (default: none)")
    p.add_argument("--workload-rate", type=argtypes.positive_float, default=DEFAULT_RATE, metavar="N",
                   help="workload actions per second (default: %(default)g)")
    p.add_argument("--workload-seed", type=int, default=0, metavar="SEED", help="workload random seed (default: 0)")
    p.add_argument("--workload-namespace", type=argtypes.namespace, default="default", metavar="NS", help="namespace for the workload")
    p.add_argument("--bookmark-interval", type=argtypes.duration, default=DEFAULT_BOOKMARK_INTERVAL,
                   metavar="SECONDS",
                   help="seconds (or a duration such as 2m) between watch BOOKMARK events, about a minute as on a real "
                   "server (default: %(default)g)")
    p.add_argument("--max-history", type=argtypes.positive_int, default=DEFAULT_MAX_HISTORY, metavar="N",
                   help="at most this many watch events kept for resuming (75 s of them otherwise); "
                   "older resourceVersions get 410 (default: %(default)d)")
    p.add_argument("--metrics", action="store_true",
                   help="serve the resource metrics API (metrics.k8s.io PodMetrics) from the pods' KWOK usage "
                   "annotations, as metrics-server would")
    return p


def run(args: argparse.Namespace) -> int:
    import threading
    from pathlib import Path

    from skctl.base.signals import stop_on_signals
    from skctl.sandbox.server import SandboxServer
    from skctl.sandbox.tls import require_tls

    if args.tls:
        require_tls()
    try:
        server = SandboxServer(
            args.host,
            args.port,
            tls=args.tls,
            token=args.token,
            bookmark_interval=args.bookmark_interval,
            max_history=args.max_history,
            metrics=args.metrics,
        )
    except ValueError:
        raise InputError(messages.SANDBOX_NOT_LOOPBACK.format(host=args.host)) from None
    except OSError as exc:
        raise OperationalError(
            messages.SANDBOX_LISTEN_FAILED.format(host=args.host, port=args.port, detail=exc.strerror or exc)
        ) from exc

    generator = None
    stopped = threading.Event()
    try:
        with stop_on_signals(lambda _name: stopped.set(), ("SIGTERM",)):
            server.start()
            print(messages.SANDBOX_LISTENING.format(url=server.url), flush=True)
            if args.write_kubeconfig:
                path = Path(args.write_kubeconfig)
                server.write_kubeconfig(path)  # OperationalError naming the path if it cannot be written
                from skctl.base.text import printable

                print(printable(messages.SANDBOX_KUBECONFIG_WRITTEN.format(path=path)), flush=True)
            if args.workload != NO_WORKLOAD:
                from skctl.sandbox.scenario import WorkloadGenerator

                generator = WorkloadGenerator(server.store, seed=args.workload_seed, scenario=args.workload,
                                              namespace=args.workload_namespace).start(args.workload_rate)
                print(messages.SANDBOX_WORKLOAD.format(name=args.workload, rate=args.workload_rate,
                                                       seed=args.workload_seed), flush=True)
            stopped.wait()
    finally:
        if generator is not None:
            generator.stop()
        server.stop()
    print(messages.SANDBOX_STOPPED, file=sys.stderr, flush=True)
    return 0
