"""The terminal summary of a report and the table of a diff (plain text, a few lines)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from skctl.base import messages
from skctl.report.slo import GateResult, show


def _top(counts: Mapping[str, int], n: int = 3) -> str:
    return ", ".join(f"{reason} ({count})" for reason, count in list(counts.items())[:n]) or "none"


def report_lines(doc: Mapping[str, Any]) -> list[str]:
    m = doc["metrics"]
    sim = doc.get("simulation") or {}
    sched = doc.get("scheduling") or {}
    fid = doc.get("fidelity") or {}
    drv = doc.get("driver") or {}
    status = "complete" if doc.get("complete") else f"INCOMPLETE ({doc.get('incomplete_reason') or 'stopped'})"
    lines = [
        f"report of simulation {sim.get('name')}: {status}, {doc['window']['seconds']:g}s of replay at speed "
        f"{sim.get('speed'):g}",
        f"  pods: {m['pods']} created, startup p50 {show('pod_startup_p50', m['pod_startup_p50'])} "
        f"p99 {show('pod_startup_p99', m['pod_startup_p99'])} max {show('pod_startup_max', m['pod_startup_max'])} "
        f"(create→schedule p99 {show('create_to_schedule_p99', m['create_to_schedule_p99'])}, "
        f"schedule→run p99 {show('schedule_to_run_p99', m['schedule_to_run_p99'])})",
        f"  scheduling: {m['unschedulable_pods']} pods unschedulable (at most {m['unschedulable_max']} at once; "
        f"{_top(sched.get('reasons') or {})}), pending p99 {show('pending_p99', m['pending_p99'])}, "
        f"{m['preemptions']} preemptions, {m['evictions']} evictions, throughput max "
        f"{show('scheduling_throughput_max', m['scheduling_throughput_max'])} pods/s",
        f"  nodes: {m['nodes_min']}-{m['nodes_max']} ({m['nodes_added']} added, {m['nodes_removed']} removed), "
        f"CPU requested peak {show('cpu_utilisation_peak', m['cpu_utilisation_peak'])} mean "
        f"{show('cpu_utilisation_mean', m['cpu_utilisation_mean'])}, memory peak "
        f"{show('memory_utilisation_peak', m['memory_utilisation_peak'])}, pods-per-node spread "
        f"{show('pods_per_node_spread', m['pods_per_node_spread'])}",
        f"  fidelity: {show('fidelity', m['fidelity'])} of {fid.get('checkpoints', 0)} judged (object, checkpoint) pairs agree "
        f"({fid.get('settling', 0)} settling); "
        f"lifecycles {m['lifecycles_found']} found, {m['lifecycles_missing']} none",
        f"  driver: {drv.get('events', 0)} events, lateness p50 {show('driver_lateness_p50', m['driver_lateness_p50'])} "
        f"p99 {show('driver_lateness_p99', m['driver_lateness_p99'])}, {m['driver_failed_applies']} failed applies, "
        f"{m['driver_failed_deletes']} failed deletes",
    ]
    hpas = (doc.get("autoscaling") or {}).get("hpas") or []
    if hpas:
        judged = sum(h["checkpoints"] for h in hpas)
        agree = sum(h["agreeing"] for h in hpas)
        lines.append(f"  autoscaling: {len(hpas)} HPAs; desired replicas agree with the recorded ones at {agree} of "
                     f"{judged} checkpoints; " + ", ".join(
                         f"{h['hpa']} {h['desired_final'] if h['desired_final'] is not None else '-'}/"
                         f"{h['recorded_final'] if h['recorded_final'] is not None else '-'}" for h in hpas[:3])
                     + " (desired/recorded at the end)")
    worst = [o for o in fid.get("objects") or [] if o["score"] is not None and o["score"] < 1][:3]
    if worst:
        lines.append("  least faithful: " + ", ".join(f"{o['object']} {o['score'] * 100:.0f}%" for o in worst))
    return lines


def diff_lines(rows: Sequence[Mapping[str, Any]], names: tuple[str, str] = ("baseline", "candidate")) -> list[str]:
    width = max(len(r["metric"]) for r in rows)
    lines = [f"{'metric':<{width}}  {names[0]:>12}  {names[1]:>12}  {'change':>10}  verdict"]
    for r in rows:
        rel = "" if r["relative"] is None else f"{r['relative'] * 100:+.0f}%"
        lines.append(f"{r['metric']:<{width}}  {show(r['metric'], r['baseline']):>12}  "
                     f"{show(r['metric'], r['candidate']):>12}  {rel:>10}  {r['verdict']}")
    return lines


def gate_lines(results: Sequence[GateResult]) -> tuple[list[str], list[str]]:
    """(lines for stdout: every gate's outcome, lines for stderr: one per violation)."""
    out = [f"  SLO {'ok' if r.passed else 'VIOLATED'}: {r.gate.text} ({r.detail})" for r in results]
    err = [messages.SLO_VIOLATED.format(expr=r.gate.text, detail=r.detail) for r in results if not r.passed]
    return out, err
