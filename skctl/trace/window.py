"""Export semantics: cut the window `[start, end)` out of a trace and filter it.

This is the one definition of "export" in skctl: `skctl export --from` applies it to a
trace file and the tracer's `POST /export` applies it to its store, so both give the
same answer. The rules (docs/export.md has the reasoning):

0. A start before the recording's first event is moved up to that event (`window_start`):
   nothing was recorded before it, and a start at 0 would make a replay idle for decades
   before the first event. The exported trace's first event is the effective start.
1. Objects alive at `start` (applied before it, not deleted before or at it) are
   flattened into ONE event at `start` holding each object's latest state before
   `start`: the starting configuration. Bare pods whose recorded lifecycles all ended
   before `start` are not flattened. The start event is kept even when empty, so the
   exported trace's clock starts at `start` and replay keeps the window's timing.
2. Events with `start <= ts < end` are kept with their own ts; events at or after `end`
   are not. Events left empty by the filters are dropped.
3. Filters apply to each recorded state of an object (each applied or deleted mention),
   as SimKube's tracer does: a state is left out when its namespace is excluded, when
   it matches one of the excluded label selectors (several are OR-ed), or when it is
   owned by a DaemonSet (the DaemonSet, when exported, recreates it; when not, its pods
   would only be pinned to nodes the simulation does not have). A state left out before
   `start` does not update the starting configuration.
4. An object whose owner chain (ownerReferences as recorded in the trace, through
   intermediate objects such as ReplicaSets) reaches an exported object is left out:
   the owner recreates it in the simulation.
5. Pod lifecycles are kept only for exported owners, and only those that overlap the
   window as SimKube's `filter_lifecycles_map` decides: a finished lifecycle overlaps
   when its start or its end falls in `[start, end)` (so one that spans the whole window,
   or began before `start` and ended at `end` or later, drops); a running one when it
   began before `end`. Kept lifecycles that began before `start` are clipped to `start`.
6. The index is rebuilt for the exported objects, keeping the input's hash when it
   has one, otherwise `skctl.trace.pods.spec_hash` of the object's last exported state.
7. The starting state (the `cluster` section: nodes and PriorityClasses,
   skctl.trace.cluster) is cut like the events: its state before `start` becomes one
   event at `start`, its changes in `[start, end)` keep their times. The filters do not
   apply to it (namespaces and owners are not a node's; the inventory is the cluster's).
8. The recorded pod usage (the `usage` section, skctl.trace.usage) is kept for exported
   owners, as lifecycles are, and cut to `[start, end)` by `usage.clip`.

The result shares object dicts with the input (no copies): treat both as read-only.
One pass over the events, dict lookups only, so a million events take seconds.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from skctl.kube.keys import Key, key_of
from skctl.kube.names import is_dns1123_label
from skctl.kube.owners import owner_candidates, owner_key
from skctl.kube.selectors import Selector, SelectorError, parse_selector, selector_from_json
from skctl.trace import DEFAULT_EXCLUDED_NAMESPACES, cluster, usage
from skctl.trace.model import Obj, Trace, gc_paused, new_event
from skctl.trace.pods import spec_hash

if TYPE_CHECKING:
    from skctl.trace.skel import Program  # lark loads only for a transform

_EMPTY: dict[str, Any] = {}


@dataclass(frozen=True)
class ExportFilters:
    """What to leave out of an export. `ExportFilters()` applies the default namespaces."""

    excluded_namespaces: frozenset[str] = frozenset(DEFAULT_EXCLUDED_NAMESPACES)
    excluded_labels: tuple[Selector, ...] = field(default_factory=tuple)

    @classmethod
    def from_strings(cls, namespaces: Iterable[str], labels: Iterable[str]) -> ExportFilters:
        """From CLI-style strings; raises ValueError (SelectorError) on a bad name or selector."""
        names = frozenset(n.strip() for n in namespaces if n.strip())
        for name in names:
            if not is_dns1123_label(name):
                raise ValueError(f"'{name}' is not a valid namespace name")
        # An empty selector would match every object; as an exclusion that is never what
        # was meant, so blank strings are ignored instead.
        selectors = tuple(parse_selector(text) for text in labels if text.strip())
        return cls(names, selectors)

    @classmethod
    def from_json(cls, doc: Mapping[str, Any] | None) -> ExportFilters:
        """The `filters` object of a `POST /export` request (strings or LabelSelector objects)."""
        doc = doc or {}
        namespaces = doc.get("excluded_namespaces")
        if namespaces is None:
            namespaces = DEFAULT_EXCLUDED_NAMESPACES
        if not isinstance(namespaces, (list, tuple)) or not all(isinstance(n, str) for n in namespaces):
            raise SelectorError("excluded_namespaces must be a list of strings")
        labels = doc.get("excluded_labels") or []
        if not isinstance(labels, (list, tuple)):
            raise SelectorError("excluded_labels must be a list")
        return cls(
            frozenset(namespaces),
            tuple(selector_from_json(s) for s in labels if not (isinstance(s, str) and not s.strip())),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "excluded_namespaces": sorted(self.excluded_namespaces),
            "excluded_labels": [s.text or str(s) for s in self.excluded_labels],
        }


NO_FILTERS = ExportFilters(frozenset(), ())


def lifecycle_overlaps(lifecycle: Mapping[str, Any], start_ts: int, end_ts: int) -> bool:
    """SimKube's overlap rule (module doc, rule 5); a lifecycle without a start never overlaps."""
    begin, finish = lifecycle.get("start_ts"), lifecycle.get("end_ts")
    if begin is None:
        return False
    if finish is None:
        return bool(begin < end_ts)
    return bool(start_ts <= begin < end_ts or start_ts <= finish < end_ts)


def clip_lifecycle(lifecycle: Mapping[str, Any], start_ts: int) -> dict[str, int | None]:
    """The lifecycle with its start moved up to `start_ts` when it began earlier."""
    begin = lifecycle.get("start_ts")
    if begin is not None and begin < start_ts:
        return {**lifecycle, "start_ts": start_ts}
    return dict(lifecycle)


def filter_lifecycles(
    pods: Mapping[int, Sequence[Mapping[str, Any]]], start_ts: int, end_ts: int
) -> dict[int, list[dict[str, int | None]]]:
    """One owner's lifecycles (pod hash → list) cut to the window; hashes left empty drop."""
    kept_pods = {}
    for pod_hash, lcs in pods.items():
        kept = [clip_lifecycle(lc, start_ts) for lc in lcs if lifecycle_overlaps(lc, start_ts, end_ts)]
        if kept:
            kept_pods[pod_hash] = kept
    return kept_pods


def owned_by_daemonset(meta: Mapping[str, Any]) -> bool:
    refs = meta.get("ownerReferences") or ()
    return any(isinstance(r, Mapping) and r.get("kind") == "DaemonSet" for r in refs)


def window_start(trace: Trace, start_ts: int, end_ts: int) -> int:
    """The start an export of `[start_ts, end_ts)` really uses (rule 0): the recording's first
    event when `start_ts` is before it and that event is inside the window, else `start_ts`.
    An export's first event is always at this time, so callers read it back from there."""
    first = min((event["ts"] for event in trace.events), default=None)
    return _clamped_start(first, start_ts, end_ts)


def _clamped_start(first_ts: int | None, start_ts: int, end_ts: int) -> int:
    return first_ts if first_ts is not None and start_ts < first_ts < end_ts else start_ts


def export_window(
    trace: Trace,
    start_ts: int,
    end_ts: int,
    filters: ExportFilters | None = None,
    extra_owners: Mapping[Key, list[Key]] | None = None,
    transform: Program | None = None,
) -> Trace:
    """The trace a simulation of `[start_ts, end_ts)` needs, filtered; see the module doc.

    `transform` (a SimKube transform program, skctl.trace.skel) rewrites every recorded event
    first, relative times counted from `start_ts`, as SimKube's tracer applies one: the
    window, filters and flattening then see the transformed objects.

    `extra_owners` adds owner links of objects the trace does not hold (the tracer knows
    that a ReplicaSet it never recorded belongs to a Deployment), so rule 4 follows
    chains through them.
    """
    with gc_paused():
        if transform is not None:
            trace = transform.apply_trace(trace, start_ts)
        return _export_window(trace, start_ts, end_ts, filters, extra_owners or {})


def _export_window(
    trace: Trace, start_ts: int, end_ts: int, filters: ExportFilters | None, extra_owners: Mapping[Key, list[Key]]
) -> Trace:
    events = trace.events
    stamps = [event["ts"] for event in events]
    if any(map(operator.gt, stamps, itertools.islice(stamps, 1, None))):
        events = sorted(events, key=lambda e: e["ts"])  # stable: same-ts order is kept
    cutter = Cutter(trace, start_ts, end_ts, filters, events[0]["ts"] if events else None, extra_owners)
    window = cutter.feed(events)
    exported = cutter.resolve()
    out_events = [cutter.start_event(exported), *cutter.emit(window, exported)]
    return cutter.result(out_events, exported)


# (event, its kept applied (key, obj) pairs, its kept deleted pairs, whether none was filtered out)
Item = tuple[dict[str, Any], list[tuple[Key, Obj]], list[tuple[Key, Obj]], bool]


class Cutter:
    """The window's rules over events fed in time order, in one piece or chunk by chunk.

    `feed` keeps the state before the start and returns the in-window events with their
    filtered objects; once every event before the end has been fed, `resolve` decides which
    objects are exported (rule 4 needs all of them) and `emit`/`start_event`/`result` build
    the output. A streaming caller may emit a chunk early with `decide` (the decisions as
    far as known) and re-emit the few chunks whose decisions `resolve` later changed.
    `trace` gives the sections (index, pod_lifecycles, config, extra); its events are not read.
    """

    def __init__(
        self,
        trace: Trace,
        start_ts: int,
        end_ts: int,
        filters: ExportFilters | None,
        first_ts: int | None,
        extra_owners: Mapping[Key, list[Key]] | None = None,
    ) -> None:
        self.trace = trace
        self.filters = ExportFilters() if filters is None else filters
        self.start_ts = _clamped_start(first_ts, start_ts, end_ts)  # rule 0
        self.end_ts = end_ts
        self.done = False  # an event at or after the end was seen
        self.extra_owners = extra_owners or {}
        self.state: dict[Key, Obj] = {}  # alive before start: latest state
        self.owner_refs: dict[Key, list[Key]] = {}  # key → the owners it names (skctl.kube.owners)
        self._last_refs: dict[Key, Any] = {}
        self.deleted_at_start: set[Key] = set()
        self.candidates: set[Key] = set()  # every in-window key the output could mention
        self.last: dict[Key, Obj] = {}  # in-window keys in first-mention order → latest kept state
        self._labels_match = _labels_matcher(self.filters.excluded_labels)

    def _note_owners(self, key: Key, ns: str | None, refs: Any) -> None:
        if self._last_refs.get(key) is refs:
            return
        self._last_refs[key] = refs
        known = self.owner_refs.setdefault(key, [])
        for ref in refs:
            owner = owner_key(ref, ns)
            if owner is not None and owner not in known:
                known.append(owner)

    def _keyed(self, objs: Any, in_window: bool) -> list[tuple[Key, Obj]]:
        # The hot loop (once per object mention): dict lookups only.
        # A mention the filters leave out is dropped here (rule 3).
        pairs = []
        excluded_ns = self.filters.excluded_namespaces
        labels_match = self._labels_match
        for obj in objs:
            meta = obj.get("metadata") or _EMPTY
            ns = meta.get("namespace")
            key = key_of(obj)
            refs = meta.get("ownerReferences")
            if refs:
                self._note_owners(key, ns, refs)
            if (
                ns in excluded_ns
                or (refs and owned_by_daemonset(meta))
                or (labels_match is not None and labels_match(meta.get("labels") or _EMPTY))
            ):
                continue
            pairs.append((key, obj))
            if in_window:
                self.candidates.add(key)
                self.last[key] = obj
        return pairs

    def keyed_again(self, objs: Any) -> list[tuple[Key, Obj]]:
        """Objects keyed and filtered as `feed` did, recording nothing (to cut a chunk again)."""
        return self._keyed(objs, False)

    def feed(self, events: Iterable[dict[str, Any]]) -> list[Item]:
        """Take the next events (in time order); the in-window ones, keyed and filtered."""
        window: list[Item] = []
        start_ts, end_ts, state, keyed = self.start_ts, self.end_ts, self.state, self._keyed
        for event in events:
            ts = event["ts"]
            if ts >= end_ts:
                self.done = True
                break
            if ts < start_ts:
                for key, obj in keyed(event.get("applied_objs") or (), False):
                    state[key] = obj
                for key, _obj in keyed(event.get("deleted_objs") or (), False):
                    state.pop(key, None)
            else:
                applied, deleted = event.get("applied_objs") or (), event.get("deleted_objs") or ()
                apairs = keyed(applied, True)
                dpairs = keyed(deleted, True)
                if ts == start_ts:
                    self.deleted_at_start.update(key for key, _ in dpairs)
                window.append((event, apairs, dpairs, len(apairs) == len(applied) and len(dpairs) == len(deleted)))
        return window

    def initial(self) -> list[tuple[Key, Obj]]:
        """The starting configuration: alive at start, not deleted at start, not a finished pod."""
        return [
            (key, obj)
            for key, obj in self.state.items()
            if key not in self.deleted_at_start and not _finished_pod(self.trace, key, self.start_ts)
        ]

    def _owners(self) -> dict[Key, list[Key]]:
        owner_refs = self.owner_refs
        for key, owners in self.extra_owners.items():
            if key not in owner_refs:
                owner_refs[key] = list(owners)
        return owner_refs

    def resolve(self) -> set[Key]:
        """The exported keys (rule 4), once every event before the end has been fed."""
        candidates = set(self.candidates)
        candidates.update(key for key, _obj in self.initial())
        owner_refs = self._owners()
        known = set(owner_refs) | candidates | set(self.state)
        return _resolve_exported(candidates, candidates.__contains__, owner_refs, known.__contains__)

    def decide(self, keys: Iterable[Key]) -> set[Key]:
        """Which of `keys` are exported as far as the events fed so far tell (streaming)."""
        owner_refs, candidates, state = self._owners(), self.candidates, self.state

        def is_candidate(key: Key) -> bool:
            return key in candidates or (key in state and key not in self.deleted_at_start)

        def is_known(key: Key) -> bool:
            return key in owner_refs or key in candidates or key in state

        return _resolve_exported(set(keys), is_candidate, owner_refs, is_known)

    def start_event(self, exported: set[Key]) -> dict[str, Any]:
        return new_event(self.start_ts, [obj for key, obj in self.initial() if key in exported], [])

    @staticmethod
    def emit(window: Iterable[Item], exported: set[Key]) -> list[dict[str, Any]]:
        """The output events of in-window items; events the filters left empty drop."""
        out_events = []
        for event, apairs, dpairs, unfiltered in window:
            keep_a = [obj for key, obj in apairs if key in exported]
            keep_d = [obj for key, obj in dpairs if key in exported]
            if not keep_a and not keep_d:
                continue
            if (
                unfiltered
                and len(keep_a) == len(apairs)
                and len(keep_d) == len(dpairs)
                and "applied_objs" in event
                and "deleted_objs" in event
            ):
                out_events.append(event)  # nothing filtered out: share the input event
            else:
                out = dict(event)
                out["applied_objs"], out["deleted_objs"] = keep_a, keep_d
                out_events.append(out)
        return out_events

    def index(self, exported: set[Key]) -> dict[str, dict[str, int]]:
        """Rule 6, keys in the order of their first exported state (the start event's first)."""
        last: dict[Key, Obj] = {key: obj for key, obj in self.initial() if key in exported}
        for key, obj in self.last.items():
            if key in exported:
                last[key] = obj
        index: dict[str, dict[str, int]] = {}
        for (gvk, name), obj in last.items():
            known = self.trace.index.get(gvk)
            value = known.get(name) if known else None
            index.setdefault(gvk, {})[name] = value if isinstance(value, int) else spec_hash(obj)
        return index

    def lifecycles(self, exported: set[Key]) -> dict[tuple[str, str], dict[int, list[dict[str, int | None]]]]:
        lifecycles: dict[tuple[str, str], dict[int, list[dict[str, int | None]]]] = {}
        for owner, pods in self.trace.pod_lifecycles.items():
            if tuple(owner) not in exported:
                continue
            kept_pods = filter_lifecycles(pods, self.start_ts, self.end_ts)
            if kept_pods:
                lifecycles[owner] = kept_pods
        return lifecycles

    def result(self, out_events: list[dict[str, Any]], exported: set[Key]) -> Trace:
        """The exported trace with these events; `sections` alone when streaming (events=[])."""
        return Trace(
            config=self.trace.config,
            events=out_events,
            index=self.index(exported),
            pod_lifecycles=self.lifecycles(exported),
            version=self.trace.version,
            extra=_window_extra(self.trace, self.start_ts, self.end_ts, exported),
        )


def _window_extra(trace: Trace, start_ts: int, end_ts: int, exported: set[Key]) -> dict[str, Any]:
    """The input's other top-level keys; the starting state (rule 7) and the usage series
    (rule 8) cut to the window."""
    extra = dict(trace.extra)
    if usage.USAGE_KEY in extra:
        clipped = usage.clip(usage.section_of(trace), start_ts, end_ts, lambda owner: tuple(owner) in exported)
        if clipped is None:
            del extra[usage.USAGE_KEY]
        else:
            extra[usage.USAGE_KEY] = clipped
    if cluster.CLUSTER_KEY in extra:
        section = cluster.window(trace, start_ts, end_ts)
        if section is None:
            del extra[cluster.CLUSTER_KEY]
        else:
            extra[cluster.CLUSTER_KEY] = section
    return extra


def _labels_matcher(selectors: tuple[Selector, ...]) -> Callable[[Mapping[str, Any]], bool] | None:
    """One predicate for "matches any of the selectors" (None when there are none)."""
    if not selectors:
        return None
    compiled = [s.requirements for s in selectors]

    def match(labels: Mapping[str, Any]) -> bool:
        for requirements in compiled:
            for req in requirements:
                if not req.matches(labels):
                    break
            else:
                return True
        return False

    return match


def _finished_pod(trace: Trace, key: Key, start_ts: int) -> bool:
    """A bare pod whose every recorded lifecycle ended before `start` (SPEC: not flattened)."""
    if key[0] != "v1.Pod":
        return False
    pods = trace.pod_lifecycles.get(key)
    if not pods:
        return False
    lifecycles = [lc for lcs in pods.values() for lc in lcs]
    return bool(lifecycles) and all(
        (end := lc.get("end_ts")) is not None and end < start_ts for lc in lifecycles
    )


def _resolve_exported(
    queries: set[Key],
    is_candidate: Callable[[Key], bool],
    owner_refs: dict[Key, list[Key]],
    is_known: Callable[[Key], bool],
) -> set[Key]:
    """The `queries` with no exported ancestor (memoised; cycles stop the walk)."""
    # reach[k]: some strict ancestor of k is exported.
    reach: dict[Key, bool] = {}
    in_progress: set[Key] = set()

    def owners_of(key: Key) -> list[Key]:
        result = []
        for owner in owner_refs.get(key, ()):
            found = next((k for k in owner_candidates(owner) if is_known(k)), None)
            if found is not None:
                result.append(found)
        return result

    def is_exported(key: Key) -> bool:
        return is_candidate(key) and not reaches(key)

    def reaches(key: Key) -> bool:
        if key in reach:
            return reach[key]
        if key in in_progress:  # an ownership cycle: do not follow it again
            return False
        in_progress.add(key)
        result = any(is_exported(owner) or reaches(owner) for owner in owners_of(key))
        in_progress.discard(key)
        reach[key] = result
        return result

    return {key for key in queries if key not in owner_refs or not reaches(key)}
