"""The recorded-vs-replayed comparison: did a simulation receive what a trace recorded?

Each side is a Tally: per GVK and object every version of its spec, as spec hashes
(skctl.trace.pods.spec_hash), and the deletes. The recorded side is the trace's, each
version turned into its virtual twin by the driver's own rules (skctl.sim.driver.virtual_twin);
the replayed side is observed on the simulation's API server (a SimulationObserver on a
sandbox store), not taken from the driver's bookkeeping, so a dropped apply or a missed
update shows up as a mismatch.
`skctl demo` ends with it; tests replaying into other clusters can use it too.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from skctl.kube.keys import gvk_of, ns_name
from skctl.sim import DEFAULT_VIRTUAL_NS_PREFIX, SIMULATION_LABEL, VIRTUAL_LABEL
from skctl.trace.model import Trace

if TYPE_CHECKING:
    from skctl.sandbox.store import Event
    from skctl.sim.driver import DriveOptions

OBJECTS, VERSIONS, DELETES = "objects", "versions", "deletes"
OUTSIDE = "(not in a virtual namespace)"  # marks a simulation object that landed elsewhere


@dataclass
class Tally:
    """One side of the comparison: per GVK and object ("ns/name", the original namespace) the
    versions of its spec in order, as spec hashes of what the simulation is applied (the
    virtual twin: namespace, labels, virtual-node placement), and the deletes per GVK.

    An apply that leaves the spec as it was is not a new version (a status or label update
    in production; the pod watcher's annotations in the simulation); one after a delete is."""

    versions: dict[str, dict[str, list[int]]] = field(default_factory=dict)
    deletes: Counter[str] = field(default_factory=Counter)
    _gone: set[tuple[str, str]] = field(default_factory=set, repr=False)

    def applied(self, gvk: str, key: str, spec_hash: int) -> None:
        seq = self.versions.setdefault(gvk, {}).setdefault(key, [])
        if not seq or seq[-1] != spec_hash or (gvk, key) in self._gone:
            seq.append(spec_hash)
        self._gone.discard((gvk, key))

    def deleted(self, gvk: str, key: str) -> None:
        self.deletes[gvk] += 1
        self._gone.add((gvk, key))

    def copy(self) -> Tally:
        return Tally({g: {k: list(v) for k, v in by_key.items()} for g, by_key in self.versions.items()},
                     Counter(self.deletes), set(self._gone))


@dataclass(frozen=True)
class Row:
    section: str  # OBJECTS, VERSIONS or DELETES
    gvk: str
    recorded: int
    simulated: int
    differing: int = 0  # objects missing on one side (OBJECTS) or whose versions differ (VERSIONS)

    @property
    def matches(self) -> bool:
        return self.recorded == self.simulated and not self.differing


@dataclass
class Comparison:
    rows: list[Row]
    failures: list[str] = field(default_factory=list)  # the driver's failed applies and deletes
    # Pod lifecycles in the trace, per owner GVK: information, not compared. The sandbox runs
    # no controllers and no KWOK, so the simulation's pods never run; on kind + KWOK they would.
    lifecycles: dict[str, int] = field(default_factory=dict)

    @property
    def mismatches(self) -> list[Row]:
        return [r for r in self.rows if not r.matches]

    @property
    def ok(self) -> bool:
        return not self.mismatches and not self.failures

    def total(self, section: str, side: str = "recorded") -> int:
        return sum(getattr(r, side) for r in self.rows if r.section == section)


def recorded_tally(trace: Trace, opts: DriveOptions) -> Tally:
    """What the trace asks the driver to apply and delete, each applied version as the driver
    turns it into its virtual twin (skctl.sim.driver.virtual_twin, the driver's own rules).
    Namespaces are left out: the driver makes virtual ones instead."""
    from skctl.sim.driver import virtual_twin
    from skctl.trace.pods import spec_hash
    from skctl.trace.tracked import config_of_trace

    config = config_of_trace(trace)
    tally = Tally()
    for _ts, action, obj in trace.iter_objects():
        gvk = gvk_of(obj)
        if gvk == "v1.Namespace":
            continue
        if action == "applied":
            namespaced = bool((obj.get("metadata") or {}).get("namespace"))
            tally.applied(gvk, ns_name(obj), spec_hash(virtual_twin(obj, opts, config, namespaced)))
        else:
            tally.deleted(gvk, ns_name(obj))
    return tally


def trace_lifecycles(trace: Trace) -> dict[str, int]:
    """The recorded pod lifecycles per owner GVK (shown, not compared: see Comparison)."""
    counts: Counter[str] = Counter()
    for (owner_gvk, _owner), by_hash in (trace.pod_lifecycles or {}).items():
        counts[owner_gvk] += sum(len(entries) for entries in by_hash.values())
    return dict(sorted(counts.items()))


def compare(recorded: Tally, simulated: Tally, failures: list[str] | None = None,
            lifecycles: dict[str, int] | None = None) -> Comparison:
    """Row by row, recorded against simulated; a kind on either side gets a row. Objects:
    how many, and which (one missing and one extra still differ); versions: every object's
    sequence of specs; deletes: how many. Any failure of the driver fails the comparison too."""
    rows = []
    kinds = sorted(set(recorded.versions) | set(simulated.versions))
    for gvk in kinds:
        rec, sim = recorded.versions.get(gvk, {}), simulated.versions.get(gvk, {})
        rows.append(Row(OBJECTS, gvk, len(rec), len(sim), len(set(rec) ^ set(sim))))
    for gvk in kinds:
        rec, sim = recorded.versions.get(gvk, {}), simulated.versions.get(gvk, {})
        differing = sum(1 for key in set(rec) | set(sim) if rec.get(key) != sim.get(key))
        rows.append(Row(VERSIONS, gvk, sum(map(len, rec.values())), sum(map(len, sim.values())), differing))
    rows += [Row(DELETES, gvk, recorded.deletes[gvk], simulated.deletes[gvk])
             for gvk in sorted(set(recorded.deletes) | set(simulated.deletes))]
    return Comparison(rows, list(failures or []), dict(lifecycles or {}))


class SimulationObserver:
    """Tallies, on the simulation server, every version of every object the replay wrote.

    A sandbox store observer (called for every write, in order). Only objects labelled with
    the simulation's name count; a namespaced one must be in a virtual namespace
    `<prefix>-<original>`, and is keyed by that original namespace (one elsewhere is keyed by
    where it landed and OUTSIDE, so it shows up as a difference). `close()` ends the tally before the
    driver's cleanup deletes everything."""

    def __init__(self, name: str, ns_prefix: str = DEFAULT_VIRTUAL_NS_PREFIX) -> None:
        self.name = name
        self.ns_prefix = ns_prefix
        self.tally = Tally()
        self._open = True
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        from skctl.trace.pods import spec_hash

        obj = event.obj
        labels = (obj.get("metadata") or {}).get("labels") or {}
        gvk = gvk_of(obj)
        if labels.get(SIMULATION_LABEL) != self.name or labels.get(VIRTUAL_LABEL) != "true" or gvk == "v1.Namespace":
            return
        with self._lock:
            if not self._open:
                return
            if event.type in ("ADDED", "MODIFIED"):
                self.tally.applied(gvk, self._original_key(obj), spec_hash(obj))
            elif event.type == "DELETED":
                self.tally.deleted(gvk, self._original_key(obj))

    def _original_key(self, obj: dict[str, Any]) -> str:
        """"ns/name" with ns the original namespace, read off where the object landed."""
        meta = obj.get("metadata") or {}
        ns, name = meta.get("namespace"), meta.get("name", "")
        if not ns:
            return str(name)
        prefix = f"{self.ns_prefix}-"
        if ns.startswith(prefix):
            return f"{ns[len(prefix):]}/{name}"
        return f"{ns}/{name} {OUTSIDE}"

    def close(self) -> None:
        with self._lock:
            self._open = False

    def result(self) -> Tally:
        with self._lock:
            return self.tally.copy()
