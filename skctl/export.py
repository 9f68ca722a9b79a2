"""`skctl export` as a library: source → window → codec → storage.

The source is either a trace file (`--from URL`, any format `skctl.trace.load` reads;
the window is cut here by `skctl.trace.window.export_window`) or a running tracer,
which cuts the same window itself and answers CBOR bytes over HTTP (skctl.tracer.client). Either way the
result is written to the destination URL atomically through `skctl.storage`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from skctl.base import messages
from skctl.base.errors import InputError, OperationalError
from skctl.base.progress import Progress, no_progress
from skctl.kube.names import is_dns1123_label
from skctl.kube.selectors import SelectorError, parse_selector
from skctl.trace import (
    DEFAULT_EXCLUDED_NAMESPACES,
    DEFAULT_FORMAT_VERSION,
    DEFAULT_OUTPUT,
    DEFAULT_TRACER_ADDRESS,
    DEFAULT_TRACER_TIMEOUT,
)
from skctl.trace.model import Trace, gc_paused
from skctl.trace.window import ExportFilters, export_window


@dataclass
class ExportRequest:
    """Everything one export needs; the CLI fills it from flags."""

    start_ts: int
    end_ts: int
    filters: ExportFilters = field(default_factory=ExportFilters)
    output: str = DEFAULT_OUTPUT
    source_url: str | None = None  # --from; None means ask the tracer
    tracer_address: str = DEFAULT_TRACER_ADDRESS
    storage_options: dict[str, Any] = field(default_factory=dict)
    fmt: str = "cbor"  # "cbor" or "msgpack"
    version: int = DEFAULT_FORMAT_VERSION  # skctl CBOR file format version: 3 streams, 2 for older readers
    compression: str | None = None  # None: the codec's default (or as the tracer sent it)
    tracer_timeout: float = DEFAULT_TRACER_TIMEOUT
    progress: Progress = no_progress  # bytes moved, e.g. skctl.cli.output.transfer_progress
    work: Progress = no_progress  # events decoded, cut and encoded, e.g. skctl.cli.output.work_progress()
    tracer_writes: bool = False  # ask the tracer to write a cloud --output itself (SimKube's way)
    transform: Any = None  # --transform: a skctl.trace.skel.Program, applied per recorded event


@dataclass
class ExportResult:
    """What was written, for the summary line and for scripts/benchmarks."""

    destination: str
    fmt: str
    size: int
    events: int
    objects: int
    owners: int
    start_ts: int  # the window's effective start: the recording's first event when asked to start earlier
    end_ts: int
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage
    requested_start_ts: int | None = None  # the start as asked (--start-time); None: not known

    @property
    def start_moved(self) -> bool:
        """Whether the start was moved up to the recording's first event (skctl.trace.window rule 0)."""
        return self.requested_start_ts is not None and self.requested_start_ts != self.start_ts


def filters_from_flags(namespaces: list[str] | None, labels: list[str]) -> ExportFilters:
    """`--excluded-namespaces` values (comma lists; None = the defaults, '' = none) and
    `--excluded-labels` selectors → ExportFilters; bad input is an InputError naming the flag."""
    if namespaces is None:
        names = list(DEFAULT_EXCLUDED_NAMESPACES)
    else:
        names = [n.strip() for value in namespaces for n in value.split(",") if n.strip()]
    for name in names:
        if not is_dns1123_label(name):
            raise InputError(messages.EXPORT_BAD_NAMESPACE.format(name=name))
    for text in labels:
        try:
            parse_selector(text)
        except SelectorError as exc:
            raise InputError(messages.EXPORT_BAD_SELECTOR.format(selector=text, detail=exc)) from exc
    return ExportFilters.from_strings(names, labels)


def export(request: ExportRequest) -> ExportResult:
    """Run one export end to end; raises InputError/OperationalError with a message."""
    from skctl import storage

    # reject a bad destination before any work; a tracer that writes checks with its own credentials
    storage.check_destination(request.output, request.storage_options, remote=not request.tracer_writes)
    timings: dict[str, float] = {}
    with gc_paused():  # the whole job: see gc_paused for why not just the decode
        if request.source_url is not None and _is_journal(request.source_url):
            data, trace = _from_journal(request, timings)
        elif request.source_url is not None:
            streamed = _stream_trace_file(request, timings)
            if streamed is not None:
                return streamed
            data, trace = _from_trace_file(request, timings)
        elif request.tracer_writes:
            return _tracer_writes(request, timings)
        else:
            data, trace = _from_tracer(request, timings)
        t0 = time.perf_counter()
        storage.write_bytes(request.output, data, request.storage_options, progress=request.progress)
        timings["write"] = time.perf_counter() - t0
        result = ExportResult(
            destination=request.output,
            fmt=request.fmt,
            size=len(data),
            events=len(trace.events),
            objects=sum(len(names) for names in trace.index.values()),
            owners=len(trace.pod_lifecycles),
            start_ts=effective_start(trace, request.start_ts),
            end_ts=request.end_ts,
            timings=timings,
            requested_start_ts=request.start_ts,
        )
        del data, trace  # freed by reference counting while the collector is still off
    return result


def _is_journal(url: str) -> bool:
    from skctl import storage
    from skctl.tracer.journal import is_journal

    return storage.is_local(url) and is_journal(storage.local_path(url))


def _from_journal(request: ExportRequest, timings: dict[str, float]) -> tuple[bytes, Trace]:
    """A window cut from a tracer's journal directory, with no tracer running."""
    from skctl import storage
    from skctl.tracer.journal import JournalError, export_journal

    assert request.source_url is not None
    t0 = time.perf_counter()
    try:
        window = export_journal(storage.local_path(request.source_url), request.start_ts, request.end_ts, request.filters,
                                request.transform)
    except JournalError as exc:
        raise InputError(str(exc)) from None
    t1 = time.perf_counter()
    data = encode(window, request.fmt, request.compression, request.version)
    timings.update(journal=t1 - t0, encode=time.perf_counter() - t1)
    return data, window


def _tracer_writes(request: ExportRequest, timings: dict[str, float]) -> ExportResult:
    """`--tracer-writes`: the tracer writes the trace to cloud storage itself and answers an
    empty 200 (SimKube's contract); then check that the object is really there."""
    from skctl import storage
    from skctl.tracer.client import fetch_from_tracer

    if not storage.is_cloud_url(request.output):
        raise InputError(messages.EXPORT_TRACER_WRITES_LOCAL.format(url=request.output))
    t0 = time.perf_counter()
    data = fetch_from_tracer(
        request.tracer_address, request.start_ts, request.end_ts, request.filters,
        timeout=request.tracer_timeout, progress=request.progress, export_path=request.output,
        fmt=request.fmt, transform=_program_text(request), version=request.version,
    )
    timings["tracer"] = time.perf_counter() - t0
    if data:
        storage.write_bytes(request.output, data, request.storage_options, progress=request.progress)
    elif not storage.exists(request.output, request.storage_options):
        raise OperationalError(messages.EXPORT_TRACER_WROTE_NOTHING.format(url=request.output))
    from skctl.trace import load

    raw = data or load.read_trace_bytes(request.output, request.storage_options)
    trace, fmt = load.decode_any(raw, request.output)
    return ExportResult(
        destination=request.output, fmt=fmt, size=len(raw), events=len(trace.events),
        objects=sum(len(n) for n in trace.index.values()), owners=len(trace.pod_lifecycles),
        start_ts=effective_start(trace, request.start_ts), end_ts=request.end_ts, timings=timings,
        requested_start_ts=request.start_ts,
    )


def effective_start(window: Trace, requested: int) -> int:
    """The start the exported `window` really has: its first event, which every exporter (this
    one, the tracer's, SimKube's) puts at the window start. Later than `requested` when the
    recording began after it (skctl.trace.window.window_start)."""
    first = window.events[0]["ts"] if window.events else requested
    return first if isinstance(first, int) and first > requested else requested


def _from_trace_file(request: ExportRequest, timings: dict[str, float]) -> tuple[bytes, Trace]:
    from skctl.trace import load

    assert request.source_url is not None
    t0 = time.perf_counter()
    raw = load.read_trace_bytes(request.source_url, request.storage_options, progress=request.progress)
    t1 = time.perf_counter()
    trace, _fmt = load.decode_any(raw, request.source_url, request.work)
    del raw
    t2 = time.perf_counter()
    window = export_window(trace, request.start_ts, request.end_ts, request.filters, transform=request.transform)
    t3 = time.perf_counter()
    data = encode(window, request.fmt, request.compression, request.version, request.work)
    t4 = time.perf_counter()
    timings.update(read=t1 - t0, decode=t2 - t1, window=t3 - t2, encode=t4 - t3)
    return data, window


def encode(trace: Trace, fmt: str = "cbor", compression: str | None = None, version: int = DEFAULT_FORMAT_VERSION,
           progress: Progress = no_progress) -> bytes:
    from skctl.trace import load

    return load.encode_as(trace, fmt, compression, version, progress)


def _stream_trace_file(request: ExportRequest, timings: dict[str, float]) -> ExportResult | None:
    """`--from` a version-3 trace into a version-3 trace, chunk by chunk (skctl.trace.stream);
    None when the source or the output is another format (they are cut in memory)."""
    from skctl import storage
    from skctl.trace import format3, stream

    assert request.source_url is not None
    if request.fmt != "cbor" or request.version != format3.VERSION:
        return None
    opened = open_trace_source(request.source_url, request.storage_options)
    if opened is None:
        return None
    source, closer = opened
    try:
        t0 = time.perf_counter()
        reader = format3.Reader(source, request.source_url)
        job = stream.StreamingExport(reader, request.start_ts, request.end_ts, request.filters, request.compression,
                                     request.transform, request.work)
        job.run()
        t1 = time.perf_counter()
        try:
            storage.write_bytes(request.output, job.chunks(), request.storage_options, progress=request.progress)
        finally:
            job.close()
        timings.update(window=t1 - t0, write=time.perf_counter() - t1)
    finally:
        closer()
    return ExportResult(
        destination=request.output, fmt=request.fmt, size=job.size, events=job.events, objects=job.objects,
        owners=job.owners, start_ts=max(job.start_ts, request.start_ts), end_ts=request.end_ts, timings=timings,
        requested_start_ts=request.start_ts,
    )


def open_trace_source(url: str, options: dict[str, Any] | None = None) -> tuple[Any, Any] | None:
    """A version-3 trace at `url` opened for random access, as (format3.Source, close), or
    None when it is another format or cannot seek (a pipe): those are read whole."""
    import os
    import stat

    from skctl.storage.backends import open_target
    from skctl.storage.errors import map_error
    from skctl.storage.local import open_for_reading
    from skctl.trace import format3

    target = open_target(url, options)
    try:
        if target.fs is None:
            f = open_for_reading(target.path)
            info = os.fstat(f.fileno())
            if not stat.S_ISREG(info.st_mode):
                f.close()
                return None
            size = info.st_size
        else:
            f = target.fs.open(target.path, "rb", **target.open_kwargs)
            size = int(getattr(f, "size", 0) or 0)
        head = f.read(16)
    except (KeyboardInterrupt, InputError, OperationalError):
        raise
    except Exception as exc:  # noqa: BLE001 - every backend raises its own kinds
        raise map_error(exc, url, writing=False) from exc
    if not format3.is_v3(head):
        f.close()
        return None
    return format3.Source(stream=f, size=size), f.close


def _from_tracer(request: ExportRequest, timings: dict[str, float]) -> tuple[bytes, Trace]:
    from skctl.trace import load
    from skctl.tracer.client import fetch_from_tracer, tracer_export_url

    t0 = time.perf_counter()
    data = fetch_from_tracer(
        request.tracer_address,
        request.start_ts,
        request.end_ts,
        request.filters,
        timeout=request.tracer_timeout,
        progress=request.progress,
        transform=_program_text(request),
        version=request.version,
    )
    t1 = time.perf_counter()
    url = tracer_export_url(request.tracer_address)
    try:
        trace, got = load.decode_any(data, url)  # verify before writing anything
    except InputError as exc:
        raise OperationalError(messages.EXPORT_TRACER_BROKEN.format(url=url, detail=exc)) from exc
    t2 = time.perf_counter()
    timings.update(download=t1 - t0, decode=t2 - t1)
    if request.fmt != got or request.compression is not None or (got == "cbor" and load.cbor_version(data) != request.version):
        data = encode(trace, request.fmt, request.compression, request.version, request.work)
        timings["encode"] = time.perf_counter() - t2
    return data, trace


def _program_text(request: ExportRequest) -> str | None:
    """The transform program's text, as SimKube's ExportRequest carries it to a tracer."""
    return request.transform.source if request.transform is not None else None


