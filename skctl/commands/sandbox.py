"""`skctl sandbox`: run the loopback Kubernetes API server until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import sys

from skctl import messages
from skctl.commands import COMMANDS
from skctl.errors import InputError, OperationalError

SCENARIO_NAMES = ("none", "mixed", "deployments", "cronjobs", "pods", "volcano")


def build_parser(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "sandbox",
        parents=[parent],
        help=COMMANDS["sandbox"],
        description=messages.SANDBOX_DESCRIPTION,
    )
    p.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=0, help="port to listen on; 0 picks a free one (default: 0)")
    p.add_argument("--write-kubeconfig", metavar="PATH", help="write a kubeconfig (context skctl-sandbox) here")
    p.add_argument("--tls", action="store_true", help="serve HTTPS with a generated self-signed certificate")
    p.add_argument("--token", help="require this bearer token on every request")
    p.add_argument("--workload", choices=SCENARIO_NAMES, default="none",
                   help="generate object churn: deployments, cronjobs, bare pods, a Volcano-like CRD (default: none)")
    p.add_argument("--workload-rate", type=float, default=5.0, metavar="N",
                   help="workload actions per second (default: 5)")
    p.add_argument("--workload-seed", type=int, default=0, metavar="SEED", help="workload random seed (default: 0)")
    p.add_argument("--workload-namespace", default="default", metavar="NS", help="namespace for the workload")
    p.add_argument("--bookmark-interval", type=float, default=60.0, metavar="SECONDS",
                   help="seconds between watch BOOKMARK events, about a minute as on a real server (default: 60)")
    p.add_argument("--max-history", type=int, default=200_000, metavar="N",
                   help="watch events kept for resuming; older resourceVersions get 410 (default: 200000)")
    return p


class _Terminated(Exception):
    """Raised from the SIGTERM handler to unwind the main thread."""


def run(args: argparse.Namespace) -> int:
    import signal
    import threading
    from pathlib import Path

    from skctl.sandbox.server import SandboxServer

    if args.port < 0 or args.port > 65535:
        raise InputError(messages.SANDBOX_BAD_PORT.format(port=args.port))
    if args.workload_rate <= 0:
        raise InputError(messages.SANDBOX_BAD_RATE.format(rate=args.workload_rate))
    if args.max_history < 1:
        raise InputError(messages.SANDBOX_BAD_HISTORY.format(n=args.max_history))
    if args.tls:
        try:
            import cryptography  # noqa: F401 - only checking it is there
        except ImportError:
            raise InputError(messages.SANDBOX_TLS_UNAVAILABLE) from None
    try:
        server = SandboxServer(
            args.host,
            args.port,
            tls=args.tls,
            token=args.token,
            bookmark_interval=args.bookmark_interval,
            max_history=args.max_history,
        )
    except ValueError:
        raise InputError(messages.SANDBOX_NOT_LOOPBACK.format(host=args.host)) from None
    except OSError as exc:
        raise OperationalError(
            messages.SANDBOX_LISTEN_FAILED.format(host=args.host, port=args.port, detail=exc.strerror or exc)
        ) from None

    generator = None
    previous = signal.getsignal(signal.SIGTERM)
    stopped = threading.Event()

    def on_term(signum: int, frame: object) -> None:
        stopped.set()
        raise _Terminated()

    try:
        signal.signal(signal.SIGTERM, on_term)
        server.start()
        print(messages.SANDBOX_LISTENING.format(url=server.url), flush=True)
        if args.write_kubeconfig:
            path = Path(args.write_kubeconfig)
            try:
                server.write_kubeconfig(path)
            except OSError as exc:
                raise OperationalError(
                    messages.SANDBOX_KUBECONFIG_FAILED.format(path=path, detail=exc.strerror or exc)
                ) from None
            print(messages.SANDBOX_KUBECONFIG_WRITTEN.format(path=path), flush=True)
        if args.workload != "none":
            from skctl.sandbox.workload import WorkloadGenerator

            generator = WorkloadGenerator(server.store, seed=args.workload_seed, scenario=args.workload,
                                          namespace=args.workload_namespace).start(args.workload_rate)
            print(messages.SANDBOX_WORKLOAD.format(name=args.workload, rate=args.workload_rate,
                                                   seed=args.workload_seed), flush=True)
        while not stopped.wait(3600):
            pass
    except _Terminated:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        if generator is not None:
            generator.stop()
        server.stop()
    print(messages.SANDBOX_STOPPED, file=sys.stderr, flush=True)
    return 0
