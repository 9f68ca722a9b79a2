"""What happened in a trace, over time: the data behind `skctl xray`'s timeline, event list,
object histories and browser.

Everything here is plain data (dicts, lists, strings), so the terminal view, the Textual
browser and `--json` show the same facts. Diffs are computed here, once:

- `--object` shows a unified diff (difflib, 3 lines of context) between consecutive
  versions of an object, each version rendered as YAML with sorted keys and block style
  (`yaml.safe_dump`), so the same trace always gives the same text, line by line;
  PyYAML writes control characters (an ANSI escape in a label) as `\\e` escapes.
- `--json` carries the same history as RFC 6902 patches (`jsonpatch.make_patch`) from each
  version to the next, which scripts can apply.
"""

from __future__ import annotations

import difflib
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from skctl.base import messages
from skctl.base.errors import InputError
from skctl.base.progress import Progress, no_progress
from skctl.base.timeparse import iso
from skctl.kube.keys import gvk_of, ns_name
from skctl.trace import format3
from skctl.trace.model import FORMAT_VERSION, Obj, Trace

# Bucket widths a timeline picks from (seconds): the smallest that keeps the timeline at
# most MAX_BUCKETS rows, so a 30-minute trace reads in minutes and a 5-second one in seconds.
NICE_BUCKETS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)
MAX_BUCKETS = 30
MAX_EXPLICIT_BUCKETS = 10_000  # an explicit --bucket may give more, never one per second of a year
DIFF_CONTEXT = 3

# Validation marks (`skctl validate`): (event index, position among the event's applied
# objects) → codes such as ["E0001"]. A producer fills it; every view shows it as is.
Marks = Mapping[tuple[int, int], Sequence[str]]
NO_MARKS: Marks = {}


def marks_from_findings(findings: Iterable[Any]) -> dict[tuple[int, int], list[str]]:
    """Marks from validation findings: anything with `event`, `obj` (position among the
    event's applied objects) and `code` attributes, as `skctl validate` reports them."""
    marks: dict[tuple[int, int], list[str]] = defaultdict(list)
    for finding in findings:
        codes = marks[(finding.event, finding.obj)]
        if finding.code not in codes:
            codes.append(finding.code)
    return dict(marks)


def bucket_width(duration: int, max_buckets: int = MAX_BUCKETS) -> int:
    """The smallest nice width (seconds) that covers `duration` in at most `max_buckets` buckets."""
    for width in NICE_BUCKETS:
        if (duration // width) + 1 <= max_buckets:
            return width
    return duration // (max_buckets - 1) + 1


def timeline(trace: Trace, width: int | None = None) -> dict[str, Any]:
    """Applies and deletes per time bucket and kind over the trace's range.

    Buckets start at the first event's second and are `width` seconds wide ([start,
    start+width)); every bucket in the range is listed, quiet ones included, so gaps show.
    """
    line = Timeline(trace.time_range(), width)
    line.feed(trace.events)
    return line.result()


class Timeline:
    """timeline() fed the events in order (a whole trace, or chunk by chunk); the range is
    known first (a version-3 index has it), so too many buckets is refused before reading."""

    def __init__(self, time_range: tuple[int, int] | None, width: int | None = None) -> None:
        self.width = width or 1
        self.start = self.count = 0
        self.kinds: set[str] = set()
        if time_range is None:
            return
        start, end = int(time_range[0]), int(time_range[1])
        self.width = width = width or bucket_width(end - start)
        self.start, self.count = start, (end - start) // width + 1
        if self.count > MAX_EXPLICIT_BUCKETS:
            raise InputError(messages.XRAY_TOO_MANY_BUCKETS.format(width=width, count=self.count, span=end - start,
                                                                   limit=MAX_EXPLICIT_BUCKETS))
        self.applied: list[dict[str, int]] = [defaultdict(int) for _ in range(self.count)]
        self.deleted: list[dict[str, int]] = [defaultdict(int) for _ in range(self.count)]

    def feed(self, events: Iterable[dict[str, Any]]) -> None:
        if not self.count:
            return
        start, width, kinds = self.start, self.width, self.kinds
        for event in events:
            at = (int(event["ts"]) - start) // width
            for action, buckets in (("applied_objs", self.applied), ("deleted_objs", self.deleted)):
                for obj in event.get(action, ()):
                    gvk = gvk_of(obj)
                    kinds.add(gvk)
                    buckets[at][gvk] += 1

    def result(self) -> dict[str, Any]:
        if not self.count:
            return {"bucket_seconds": self.width, "kinds": [], "buckets": []}
        buckets = []
        for i in range(self.count):
            ts = self.start + i * self.width
            buckets.append(
                {
                    "start_ts": ts,
                    "start": iso(ts),
                    "applied": dict(sorted(self.applied[i].items())),
                    "deleted": dict(sorted(self.deleted[i].items())),
                    "total": sum(self.applied[i].values()) + sum(self.deleted[i].values()),
                }
            )
        return {"bucket_seconds": self.width, "kinds": sorted(self.kinds), "buckets": buckets}


def streamed_report(reader: format3.Reader, width: int | None = None, progress: Progress = no_progress) -> dict[str, Any]:
    """report(trace, summary=True, ...) of a version-3 trace in one pass over its chunks,
    holding one chunk at a time (plus the validation findings and the counts)."""
    from skctl.trace import validate
    from skctl.xray import summary

    sections = reader.sections()
    shell = Trace(config=sections["config"], index=sections["index"], pod_lifecycles=sections["pod_lifecycles"],
                  version=FORMAT_VERSION,
                  extra={k: v for k, v in sections.items() if k not in ("config", "index", "pod_lifecycles")})
    time_range = reader.time_range()
    line = Timeline(time_range, width)
    tally = summary.Counts()

    def events() -> Iterator[dict[str, Any]]:
        for _i, chunk in reader.iter_chunks(progress):
            tally.feed(chunk)
            line.feed(chunk)
            yield from chunk

    findings, _ = validate.check(shell, events=events())
    doc = summary.summary_doc(shell, tally, time_range, findings)
    doc["timeline"] = line.result()
    return doc


def iter_mentions(trace: Trace) -> Iterator[tuple[int, int, str, int, Obj]]:
    """(event index, ts, action, position within the event's list for that action, obj)."""
    return mentions(trace.events)


def mentions(events: Iterable[dict[str, Any]]) -> Iterator[tuple[int, int, str, int, Obj]]:
    """iter_mentions over any run of events in trace order (a stream of chunks)."""
    for index, event in enumerate(events):
        for action in ("applied", "deleted"):
            for position, obj in enumerate(event.get(f"{action}_objs", ())):
                yield index, event["ts"], action, position, obj


def event_rows(trace: Trace, marks: Marks = NO_MARKS) -> list[dict[str, Any]]:
    """One row per object mention, in trace order, with the object's name and its marks."""
    time_range = trace.time_range()
    start = time_range[0] if time_range else 0
    return [
        {
            "event": index,
            "ts": ts,
            "time": iso(ts),
            "offset_seconds": ts - start,
            "action": action,
            "position": position,
            "gvk": gvk_of(obj),
            "object": ns_name(obj),
            "marks": list(marks.get((index, position), ())) if action == "applied" else [],
        }
        for index, ts, action, position, obj in iter_mentions(trace)
    ]


def object_yaml(obj: Obj | None) -> str:
    """An object as stable YAML: sorted keys, block style; '' for no object."""
    if obj is None:
        return ""
    import yaml

    return str(yaml.safe_dump(obj, sort_keys=True, default_flow_style=False, allow_unicode=False, width=1000))


def unified_diff(before: Obj | None, after: Obj | None, from_label: str, to_label: str) -> list[str]:
    """The unified diff between two versions' YAML, as lines without newlines."""
    return list(
        difflib.unified_diff(
            object_yaml(before).splitlines(),
            object_yaml(after).splitlines(),
            fromfile=from_label,
            tofile=to_label,
            n=DIFF_CONTEXT,
            lineterm="",
        )
    )


def json_patch(before: Obj | None, after: Obj) -> list[dict[str, Any]]:
    """RFC 6902 operations from one version to the next (from nothing: one `add` of the root)."""
    if before is None:
        return [{"op": "add", "path": "", "value": after}]
    import jsonpatch

    return list(jsonpatch.make_patch(before, after).patch)


def object_keys(trace: Trace) -> list[tuple[str, str]]:
    """Every (GVK, "ns/name") the trace mentions, sorted."""
    return sorted({(gvk_of(obj), ns_name(obj)) for _ts, _action, obj in trace.iter_objects()})


def version_label(key: str, version: Mapping[str, Any]) -> str:
    return f"{key} @ {version['time']} (event {version['event']}, {version['action']})"


def object_history(trace: Trace, key: str, gvk: str | None = None) -> list[dict[str, Any]]:
    """Every version of the object(s) named `key` ("ns/name", or "name" when cluster-scoped).

    One entry per kind that has an object of that name (a Deployment and a Service often
    share one), each with its versions in trace order: the event, time, action, the object
    as recorded, the unified diff from the previous version and the same change as a JSON
    patch. A delete is a version too (what the tracer saw last). InputError when the trace
    has no such object.
    """
    return history_of(iter_mentions(trace), key, gvk)


def streamed_object_history(reader: format3.Reader, key: str, progress: Progress = no_progress) -> list[dict[str, Any]]:
    """object_history of a version-3 trace read chunk by chunk: only the object's versions
    are held. Every chunk is read (and checked): the index says nothing of the objects a
    chunk holds."""
    events = (event for _i, chunk in reader.iter_chunks(progress) for event in chunk)
    return history_of(mentions(events), key)


def history_of(found: Iterable[tuple[int, int, str, int, Obj]], key: str, gvk: str | None = None) -> list[dict[str, Any]]:
    """object_history over mentions (iter_mentions of a trace, or of a stream)."""
    versions: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for index, ts, action, position, obj in found:
        if ns_name(obj) != key or (gvk is not None and gvk_of(obj) != gvk):
            continue
        versions[gvk_of(obj)].append(
            {"event": index, "ts": ts, "time": iso(ts), "action": action, "position": position, "object": obj}
        )
    if not versions:
        raise InputError(messages.XRAY_NO_SUCH_OBJECT.format(key=key))
    histories = []
    for kind in sorted(versions):
        previous: dict[str, Any] | None = None
        for version in versions[kind]:
            before = previous["object"] if previous else None
            from_label = version_label(key, previous) if previous else "/dev/null"
            version["diff"] = unified_diff(before, version["object"], from_label, version_label(key, version))
            version["patch"] = json_patch(before, version["object"])
            previous = version
        histories.append({"gvk": kind, "object": key, "versions": versions[kind]})
    return histories


def previous_rows(rows: Sequence[Mapping[str, Any]]) -> list[int | None]:
    """For each event row, the index of the same object's previous row (None for its first)."""
    last: dict[tuple[str, str], int] = {}
    previous: list[int | None] = []
    for i, row in enumerate(rows):
        key = (row["gvk"], row["object"])
        previous.append(last.get(key))
        last[key] = i
    return previous


def row_object(trace: Trace, row: Mapping[str, Any]) -> Obj:
    """The object an event row stands for, as recorded."""
    obj: Obj = trace.events[row["event"]][f"{row['action']}_objs"][row["position"]]
    return obj


def mention_diff(trace: Trace, row: Mapping[str, Any], before: Mapping[str, Any] | None) -> list[str]:
    """The unified diff from the row `before` (the object's previous mention, or None) to `row`."""
    key = row["object"]
    return unified_diff(
        row_object(trace, before) if before is not None else None,
        row_object(trace, row),
        version_label(key, before) if before is not None else "/dev/null",
        version_label(key, row),
    )


def parse_object_key(text: str) -> str:
    """`--object` value: "ns/name" or "name" (cluster-scoped), as the index keys them."""
    namespace, slash, name = text.partition("/")
    if not namespace or (slash and not name):
        raise InputError(messages.XRAY_BAD_OBJECT.format(value=text))
    return text


def report(trace: Trace, *, summary: bool, events: bool, key: str | None, width: int | None = None,
           progress: Progress = no_progress) -> dict[str, Any]:
    """What `skctl xray` shows, as one document (its `--json`): the summary and timeline when
    `summary`, `event_list` (with validation marks) when `events`, `history` when `key`.
    `progress` advances by the trace's events once per view built."""
    from skctl.trace import validate
    from skctl.xray.summary import summarize

    doc: dict[str, Any] = {}
    views = sum(1 for wanted in (summary, events, key is not None) if wanted)
    with progress("analysing the trace", views * len(trace.events)) as advance:
        if summary:
            doc.update(summarize(trace))
            doc["timeline"] = timeline(trace, width)
            advance(len(trace.events))
        if events:
            doc["event_list"] = event_rows(trace, marks_from_findings(validate.check(trace)[0]))
            advance(len(trace.events))
        if key is not None:
            doc["history"] = object_history(trace, key)
            advance(len(trace.events))
    return doc
