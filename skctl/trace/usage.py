"""Recorded pod usage: the trace's `usage` section (docs/trace-format.md, "usage").

When the recorded cluster serves the resource metrics API, the tracer samples PodMetrics
(skctl.tracer.usage) and the trace carries, per lifecycle owner and pod-spec hash (the keys
of `pod_lifecycles`, skctl.trace.pods), one time series per pod:

    "usage": {"interval": 30,
              "owners": [{"owner": ["apps/v1.Deployment", "ns/web"], "hash": <u64>,
                          "pods": [{"t": [ts, ...], "cpu": [millicores, ...], "mem": [bytes, ...]}]}]}

`t` are unix seconds (the metrics' own scrape times), strictly increasing; `cpu` and `mem`
are the pod's summed container usage at those times. Pods are listed per owner and hash in
the order of their first sample, so the driver's n-th simulated pod of an owner and hash
replays the n-th series, by the rule that gives it the n-th lifecycle
(`skctl.trace.pods.lookup_recorded`). SimKube's reader ignores the key (its `Trace` struct
has no `deny_unknown_fields`).

Why per pod and not per-owner quantiles: a replay must make each simulated pod report the
usage of the pod it stands for (an HPA averages over the pods it sees, and a pod that is
hot in production is hot in the simulation); the measured cost is in docs/trace-format.md.

This module is the section's one home: building it, its shape check (the reader's gate),
validate's semantic findings, the export window's cut (`clip`), xray's summary and the
driver's lookup of the value at a trace time.
"""

from __future__ import annotations

import bisect
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

USAGE_KEY = "usage"
DEFAULT_INTERVAL = 30  # seconds, as the HPA controller's default sync and metrics-server's resolution
SERIES_KEYS = ("t", "cpu", "mem")
OWNER_KEYS = ("owner", "hash", "pods")
SECTION_KEYS = ("interval", "owners")
_HASH_MAX = 2**64 - 1
_INT_MAX = 2**63 - 1

Owner = tuple[str, str]  # (GVK, "ns/name"), as pod_lifecycles
Series = dict[str, list[int]]  # {"t": [...], "cpu": [...], "mem": [...]}


def section_of(doc: Any) -> dict[str, Any] | None:
    """The usage section of a Trace (its `extra`) or of a document, or None."""
    extra = getattr(doc, "extra", doc)
    section = extra.get(USAGE_KEY) if isinstance(extra, Mapping) else None
    return section if isinstance(section, dict) else None


def build(entries: Iterable[tuple[Owner, int, Sequence[int], Sequence[int], Sequence[int]]],
          interval: int = DEFAULT_INTERVAL) -> dict[str, Any] | None:
    """The section from (owner, pod hash, times, cpu, mem) per pod; None when no pod has a sample.
    Owners keep the order of their first pod; pods within one are ordered by first sample."""
    grouped: dict[tuple[Owner, int], list[Series]] = {}
    for owner, h, t, cpu, mem in entries:
        if len(t):
            grouped.setdefault((owner, h), []).append({"t": list(t), "cpu": list(cpu), "mem": list(mem)})
    if not grouped:
        return None
    ordered: list[tuple[int, dict[str, Any]]] = []
    for (owner, h), pods in grouped.items():
        pods.sort(key=lambda s: s["t"][0])  # stable: same first time keeps the given order
        ordered.append((pods[0]["t"][0], {"owner": [owner[0], owner[1]], "hash": h, "pods": pods}))
    ordered.sort(key=lambda item: item[0])
    owners = [entry for _first, entry in ordered]
    return {"interval": int(interval), "owners": owners}


# --- the reader's gate and validate ----------------------------------------------------------


def shape_problem(section: Any) -> str | None:
    """What keeps the section from being walked (types and lengths), or None. Values out of
    order or negative are validate's findings, not a refusal: the reader stays lenient."""
    if not isinstance(section, dict):
        return "is not a map"
    interval = section.get("interval", DEFAULT_INTERVAL)
    if type(interval) is not int or interval < 0:
        return "'interval' is not a whole number of seconds"
    owners = section.get("owners")
    if not isinstance(owners, list):
        return "'owners' is missing or not a list"
    for i, entry in enumerate(owners):
        where = f"owner entry {i}"
        if not isinstance(entry, dict):
            return f"{where} is not a map"
        owner = entry.get("owner")
        if not (isinstance(owner, list) and len(owner) == 2 and all(isinstance(p, str) for p in owner)):
            return f"{where} has no [GVK, ns/name] 'owner'"
        h = entry.get("hash")
        if type(h) is not int or not 0 <= h <= _HASH_MAX:
            return f"{where} has no pod hash (an unsigned 64-bit integer)"
        pods = entry.get("pods")
        if not isinstance(pods, list):
            return f"{where} has no 'pods' list"
        for j, series in enumerate(pods):
            if not isinstance(series, dict):
                return f"{where} pod {j} is not a map"
            columns = [series.get(k) for k in SERIES_KEYS]
            if not all(isinstance(c, list) for c in columns):
                return f"{where} pod {j} lacks one of the lists {', '.join(SERIES_KEYS)}"
            if len({len(c) for c in columns if isinstance(c, list)}) != 1:
                return f"{where} pod {j} has lists of different lengths"
            for column in columns:
                assert isinstance(column, list)
                if not all(type(v) is int and -_INT_MAX <= v <= _INT_MAX for v in column):
                    return f"{where} pod {j} has a value that is not a 64-bit integer"
    return None


def findings(section: Mapping[str, Any], known_owner: Callable[[Owner], bool] | None = None) -> list[dict[str, Any]]:
    """What `skctl validate` reports about a well-shaped section: unknown keys, sample times
    not strictly increasing, negative values, owners the trace does not know. Each finding
    is {"owner": [gvk, ns/name] | None, "pod": index | None, "ts": time | None, "problem": text}."""
    out: list[dict[str, Any]] = []
    unknown = sorted(set(section) - set(SECTION_KEYS))
    if unknown:
        out.append({"owner": None, "pod": None, "ts": None, "problem": f"unknown key(s) {', '.join(unknown)}"})
    for entry in section.get("owners") or ():
        owner = list(entry["owner"])
        extra = sorted(set(entry) - set(OWNER_KEYS))
        if extra:
            out.append({"owner": owner, "pod": None, "ts": None, "problem": f"unknown key(s) {', '.join(extra)}"})
        if known_owner is not None and not known_owner((owner[0], owner[1])):
            out.append({"owner": owner, "pod": None, "ts": None,
                        "problem": "an owner the trace does not record (no object or lifecycle of it)"})
        for j, series in enumerate(entry["pods"]):
            out.extend({"owner": owner, "pod": j, "ts": ts, "problem": what} for ts, what in _series_problems(series))
    return out


def _series_problems(series: Mapping[str, Any]) -> list[tuple[int | None, str]]:
    out: list[tuple[int | None, str]] = []
    extra = sorted(set(series) - set(SERIES_KEYS))
    if extra:
        out.append((None, f"unknown key(s) {', '.join(extra)}"))
    times = series["t"]
    for before, at in zip(times, times[1:], strict=False):
        if at <= before:
            out.append((at, f"sample time {at} is not after {before}: times must increase"))
            break
    for key, unit in (("cpu", "CPU"), ("mem", "memory")):
        for ts, value in zip(times, series[key], strict=True):
            if value < 0:
                out.append((ts, f"negative {unit} usage {value}"))
                break
    return out


def fixed(section: Mapping[str, Any], known_owner: Callable[[Owner], bool] | None = None) -> dict[str, Any] | None:
    """The section with what `findings` reports removed: unknown keys, owners not known, and
    every series with times out of order or negative values. None when nothing is left."""
    owners = []
    for entry in section.get("owners") or ():
        owner = (entry["owner"][0], entry["owner"][1])
        if known_owner is not None and not known_owner(owner):
            continue
        pods = [{k: list(s[k]) for k in SERIES_KEYS} for s in entry["pods"]
                if not [p for p in _series_problems({k: s[k] for k in SERIES_KEYS})]]
        if pods:
            owners.append({"owner": list(owner), "hash": entry["hash"], "pods": pods})
    if not owners:
        return None
    return {"interval": section.get("interval", DEFAULT_INTERVAL), "owners": owners}


# --- the export window ---------------------------------------------------------------------


def clip(section: Mapping[str, Any] | None, start_ts: int, end_ts: int,
         keep_owner: Callable[[Owner], bool] | None = None) -> dict[str, Any] | None:
    """The section of the export window `[start_ts, end_ts)`: samples inside it, for the owners
    `keep_owner` accepts (the exported ones, as for lifecycles); pods and owners left without
    a sample drop; None when nothing is left. A pod sampled both before and inside the
    window (running across its start) keeps its last earlier sample, moved to `start_ts`, so
    it reports its usage from the first second of the replay."""
    if not section:
        return None
    owners = []
    for entry in section.get("owners") or ():
        owner = (entry["owner"][0], entry["owner"][1])
        if keep_owner is not None and not keep_owner(owner):
            continue
        pods = []
        for series in entry.get("pods") or ():
            cut = _clip_series(series, start_ts, end_ts)
            if cut is not None:
                pods.append(cut)
        if pods:
            pods.sort(key=lambda s: s["t"][0])
            owners.append({"owner": [owner[0], owner[1]], "hash": entry["hash"], "pods": pods})
    if not owners:
        return None
    return {"interval": section.get("interval", DEFAULT_INTERVAL), "owners": owners}


def _clip_series(series: Mapping[str, Any], start_ts: int, end_ts: int) -> Series | None:
    times = series["t"]
    lo = bisect.bisect_left(times, start_ts)
    hi = bisect.bisect_left(times, end_ts)
    t, cpu, mem = list(times[lo:hi]), list(series["cpu"][lo:hi]), list(series["mem"][lo:hi])
    if not t:
        return None
    if lo > 0 and t[0] != start_ts:
        # running across the start: its last sample before the window holds from the start
        t.insert(0, start_ts)
        cpu.insert(0, series["cpu"][lo - 1])
        mem.insert(0, series["mem"][lo - 1])
    return {"t": t, "cpu": cpu, "mem": mem}


# --- xray ------------------------------------------------------------------------------------


def summary(section: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """One row per owner (all its pod hashes together): pods sampled, samples, and the peak
    and median of the per-pod CPU (millicores) and memory (bytes) samples; busiest first."""
    if not section:
        return []
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for entry in section.get("owners") or ():
        owner = (entry["owner"][0], entry["owner"][1])
        row = rows.setdefault(owner, {"owner": list(owner), "pods": 0, "samples": 0, "_cpu": [], "_mem": []})
        for series in entry.get("pods") or ():
            row["pods"] += 1
            row["samples"] += len(series["t"])
            row["_cpu"].extend(series["cpu"])
            row["_mem"].extend(series["mem"])
    out = []
    for row in rows.values():
        cpu, mem = row.pop("_cpu"), row.pop("_mem")
        row.update({
            "cpu_peak_m": max(cpu, default=0), "cpu_median_m": int(statistics.median(cpu)) if cpu else 0,
            "mem_peak_bytes": max(mem, default=0), "mem_median_bytes": int(statistics.median(mem)) if mem else 0,
        })
        out.append(row)
    out.sort(key=lambda r: (-r["cpu_peak_m"], r["owner"]))
    return out


# --- the driver ------------------------------------------------------------------------------


def by_owner(section: Mapping[str, Any] | None) -> dict[Owner, dict[int, list[Series]]]:
    """owner → pod hash → series, the shape `skctl.trace.pods.lookup_recorded` reads."""
    out: dict[Owner, dict[int, list[Series]]] = {}
    for entry in (section or {}).get("owners") or ():
        owner = (entry["owner"][0], entry["owner"][1])
        out.setdefault(owner, {}).setdefault(entry["hash"], []).extend(entry.get("pods") or ())
    return out


def value_at(series: Mapping[str, Sequence[int]], ts: float) -> tuple[int, int]:
    """(millicores, bytes) the pod reported at trace time `ts`: the latest sample at or before
    it; before the first sample, the first (a pod reports from its start)."""
    i = bisect.bisect_right(series["t"], ts) - 1
    i = max(i, 0)
    return series["cpu"][i], series["mem"][i]


def change_times(series: Mapping[str, Sequence[int]]) -> list[int]:
    """The sample times at which the reported value changes (the first sample included)."""
    times, cpu, mem = series["t"], series["cpu"], series["mem"]
    return [t for i, t in enumerate(times) if i == 0 or cpu[i] != cpu[i - 1] or mem[i] != mem[i - 1]]
