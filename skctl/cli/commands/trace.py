"""`skctl trace`: record a live cluster into a journal and serve exports over HTTP."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager

from skctl.base import messages
from skctl.base.text import byte_size
from skctl.cli.commands import COMMANDS


def listen_address(text: str) -> tuple[str, int]:
    """`HOST:PORT` to listen on (`[::1]:7777` for IPv6; port 0 picks a free one)."""
    from skctl.cli import argtypes

    host, sep, port_text = text.rpartition(":")
    bracketed = host.startswith("[") and host.endswith("]") and len(host) > 2
    if bracketed:
        host = host[1:-1]
    if (not sep or not host or "[" in host or "]" in host or not (port_text.isascii() and port_text.isdigit())
            or int(port_text) > argtypes.MAX_PORT):
        raise argparse.ArgumentTypeError(messages.TRACE_BAD_LISTEN.format(value=text))
    return host, int(port_text)


def journal_dir(text: str) -> str:
    """`skctl trace --journal`: a local directory, as a path or file:// URL (returned as a path).
    An object-storage URL or an empty value is refused: it used to become a relative
    directory named `s3:/bucket/key` (or the default journal)."""
    from skctl.base.errors import InputError
    from skctl.storage.urls import is_local, local_path

    try:
        path = local_path(text) if is_local(text) else ""
    except InputError:  # an unknown scheme, file://host/...
        path = ""
    if not path.strip():
        raise argparse.ArgumentTypeError(messages.TRACE_JOURNAL_NOT_LOCAL.format(value=text))
    return path


def build_parser(sub: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> argparse.ArgumentParser:
    from skctl.cli import argtypes
    from skctl.cli.commands.flags import add_cluster_flags, add_storage_option_flag
    from skctl.tracer import DEFAULT_LISTEN, DEFAULT_RETENTION

    p = sub.add_parser(
        "trace",
        parents=[parent],
        help=COMMANDS["trace"],
        description="Watch the cluster and record changes to the tracked objects and the lifecycles of "
        "their pods into a journal, serving exports on an HTTP API (POST /export, /healthz, /status, "
        "/metrics). Runs until Ctrl-C, SIGTERM or --duration; with -o, the whole recording is written "
        "there at the end. Accepts SimKube's tracer flags (-c/--config-file, --server-port). See docs/tracer.md.",
    )
    p.add_argument("-c", "--config", "--config-file", dest="config", metavar="FILE",
                   help="tracer config (SimKube's format; default: see --print-default-config)")
    p.add_argument("--print-default-config", action="store_true", help="print the default config and exit")
    add_cluster_flags(p)
    p.add_argument("--listen", type=listen_address, default=DEFAULT_LISTEN, metavar="HOST:PORT",
                   help=f"API address (default: {DEFAULT_LISTEN})")
    p.add_argument("--server-port", type=argtypes.port, metavar="PORT",
                   help="SimKube's flag: serve the API on 0.0.0.0:PORT (for a pod behind a Service)")
    p.add_argument("--journal", type=journal_dir, metavar="DIR",
                   help="journal directory (default: $XDG_STATE_HOME/skctl/journals/CONTEXT, one per kubeconfig context)")
    p.add_argument("--retention", type=argtypes.duration, default=DEFAULT_RETENTION, metavar="DURATION",
                   help=f"how much history to keep in memory and on disk (default: {DEFAULT_RETENTION})")
    p.add_argument("--duration", type=argtypes.duration, metavar="DURATION",
                   help="stop after this long, counted from when the cluster has been listed (e.g. 10m); default: until stopped")
    p.add_argument("-o", "--output", metavar="URL", help="when stopping, write the whole recording here as a trace")
    p.add_argument("--wait-for-crds", action="store_true",
                   help="start watching a tracked custom resource when its CRD appears instead of failing")
    p.add_argument("--no-starting-state", action="store_true",
                   help="do not record nodes and PriorityClasses (the starting state; also config startingState: false)")
    p.add_argument("--usage-interval", type=argtypes.usage_interval, metavar="DURATION",
                   help="how often to sample pod usage when the cluster serves metrics.k8s.io "
                   "(default: config usageInterval, else 30s)")
    add_storage_option_flag(p)
    return p


def default_journal(context: str | None) -> str:
    """The journal of a kubeconfig context (None: in a cluster) under $XDG_STATE_HOME."""
    import os

    from skctl.tracer.journal import default_dir

    state = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return str(default_dir(state, context))


def run(args: argparse.Namespace) -> int:
    import sys
    import threading
    from pathlib import Path

    from skctl import storage
    from skctl.base.signals import stop_on_signals
    from skctl.cli.output import work_progress
    from skctl.kube.api import Kube
    from skctl.kube.client import active_context, connect
    from skctl.trace.tracked import parse_config
    from skctl.tracer import DEFAULT_CONFIG_YAML
    from skctl.tracer.config import load_config
    from skctl.tracer.service import Tracer, TracerOptions

    if args.print_default_config:
        sys.stdout.write(DEFAULT_CONFIG_YAML)
        return 0
    storage_options = storage.parse_storage_options(args.storage_option)
    if args.config is not None:  # `-c ''` (an unset variable) is an error, not the default config
        config = load_config(args.config, storage_options)
    else:
        import yaml

        config = parse_config(yaml.safe_load(DEFAULT_CONFIG_YAML), "default config")
    if args.no_starting_state:
        config.starting_state = False
    if args.usage_interval is not None:
        config.usage_interval = args.usage_interval
    if args.server_port is not None:
        host, port = "0.0.0.0", args.server_port  # noqa: S104 - SimKube's flag: reachable through a Service
    else:
        host, port = args.listen
    if args.output is not None:  # `-o ''` is an error now, not a recording silently never written
        storage.check_destination(args.output, storage_options)  # a bad destination fails now, not after hours of tracing
    api_client = connect(args.kubeconfig, args.context)
    journal = args.journal if args.journal is not None else default_journal(active_context(args.kubeconfig, args.context))
    options = TracerOptions(
        config=config,
        journal_dir=Path(journal),
        retention=args.retention,
        host=host,
        port=port,
        wait_for_crds=args.wait_for_crds,
        storage_options=storage_options,
    )
    kube = Kube(api_client, field_manager="skctl-tracer")
    # a restart replays the journal first: up to seconds for hundreds of MB
    tracer = Tracer(kube, options, progress=work_progress("bytes"))

    stop = threading.Event()
    reason = {"why": "--duration"}

    def on_signal(name: str) -> None:
        reason["why"] = name
        stop.set()

    from skctl.base.errors import cleanup_step

    with stop_on_signals(on_signal), ExitStack() as stack:
        # closed however the run ends; a close that fails (a full disk: OperationalError) is
        # the error only when nothing else failed first
        stack.push(cleanup_step(tracer.close, "closing the tracer"))
        tracer.start()
        bound_host, bound_port = tracer.address
        _say(messages.TRACE_LISTENING.format(host=bound_host, port=bound_port))
        if tracer.replayed:
            _say(messages.TRACE_RESTORED.format(journal=options.journal_dir, records=tracer.replayed))
        _say(messages.TRACE_STARTED.format(kinds=", ".join(config.tracked_objects), journal=options.journal_dir,
                                           retention=_size_of_time(args.retention)))
        if args.duration is not None:
            tracer.stop_after(args.duration, stop)
        with _status_display() as on_tick:
            tracer.run_until(stop, on_tick)
    _say(messages.TRACE_STOPPED.format(reason=reason["why"], events=tracer.store.event_count(),
                                       journal=options.journal_dir))
    if args.output is not None:
        from skctl.trace import codec

        trace = tracer.store.whole()
        data = codec.encode(trace)
        storage.write_bytes(args.output, data, storage_options)
        _say(messages.TRACE_WRITTEN.format(events=len(trace.events), url=args.output, size=len(data)))
    return 130 if reason["why"] == "SIGINT" else 0


def _size_of_time(seconds: float) -> str:
    import datetime

    import durationpy

    return str(durationpy.to_str(datetime.timedelta(seconds=seconds)))


def _say(line: str) -> None:
    import sys

    from skctl.base.text import printable

    print(printable(line), file=sys.stderr, flush=True)


@contextmanager
def _status_display() -> Iterator[Callable[[dict], None]]:
    """A live rich status line on a terminal; a plain log line a minute otherwise."""
    import sys
    import time

    live = None
    last_plain = [0.0]
    if sys.stderr.isatty():
        from rich.live import Live

        from skctl.cli.output import console

        live = Live("", console=console(stderr=True), refresh_per_second=2, transient=True)

    def on_tick(status: dict) -> None:
        line = _status_line(status)
        if live is not None:
            live.update(line)
        elif time.monotonic() - last_plain[0] >= 60:
            last_plain[0] = time.monotonic()
            print(line, file=sys.stderr, flush=True)

    if live is None:
        yield on_tick
        return
    with live:
        yield on_tick


def _status_line(status: dict) -> str:
    import time

    kinds = ", ".join(f"{g.rpartition('.')[2]} {n}" for g, n in sorted(status["events_per_kind"].items())) or "none yet"
    states = {w.get("state", "?") for w in status["watches"].values()}
    last = status.get("last_event_at")
    age = f"{time.time() - last:.0f}s ago" if last else "never"
    use = status.get("usage") or {}
    usage = f"; pod usage {use.get('samples', 0)} samples" if use.get("sampling") else ""
    return (
        f"{status['events']} events ({kinds}); watches {'/'.join(sorted(states))}; last event {age}; "
        f"journal {byte_size(status['journal_bytes'], binary=False)}{usage}"
    )

