"""The report's autoscaling section: per HPA, the simulated HPA's desired replicas against the
replicas recorded for its scale target, on constructed event streams with exact numbers, in
report.json (schema-valid) and report.html."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from skctl.report import autoscaling, document, html, measure
from skctl.report.autoscaling import hpa_targets
from skctl.report.measure import DriverFacts, TraceFacts
from skctl.report.recorder import Recorder
from skctl.report.records import ReplayRecords

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = json.loads((ROOT / "skctl" / "data" / "report.schema.json").read_text())
T0 = 1_000_000.0
NS = "virtual-shop"
HPA = ("autoscaling/v2.HorizontalPodAutoscaler", f"{NS}/web")
DEP = ("apps/v1.Deployment", f"{NS}/web")


def hpa(desired: int | None) -> dict[str, Any]:
    status = {} if desired is None else {"desiredReplicas": desired, "currentReplicas": 1}
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web", "namespace": NS, "uid": "uid-hpa"},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}},
            "status": status}


def test_hpa_targets_come_from_the_trace_in_virtual_namespaces() -> None:
    recorded = hpa(None)
    recorded["metadata"] = {"name": "web", "namespace": "shop"}
    other = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"}}
    assert hpa_targets([(1, "applied", recorded), (1, "applied", other)], "virtual") == {HPA: DEP}


def test_hpas_are_listed_by_namespace_then_name() -> None:
    """Rows come in (namespace, name) order: "a/x" before "a-b/a", although the "ns/name"
    strings alone sort the other way round ('-' sorts before '/')."""
    def named(name: str, ns: str) -> dict[str, Any]:
        return {**hpa(None), "metadata": {"name": name, "namespace": ns}}

    targets = hpa_targets([(1, "applied", named("a", "a-b")), (1, "applied", named("x", "a"))], "virtual")
    section = autoscaling.measure(ReplayRecords(), targets, {}, 0.0, 10.0, 1.0, T0, T0 + 10, "virtual")
    assert [(row["hpa"], row["target"]) for row in section["hpas"]] == [
        ("a/x", "apps/v1.Deployment a/web"), ("a-b/a", "apps/v1.Deployment a-b/web")]


def run_measure() -> dict[str, Any]:
    r = Recorder([NS], ["apps/v1.Deployment", HPA[0]], "virtual", clock=lambda: pytest.fail("every change has a time"))
    # the simulated HPA: no status at first, wants 2 from wall +5, 4 from +70 (the recorded 4 came at trace 60)
    r.on_object(HPA[0], "ADDED", hpa(None), T0 + 1)
    r.on_object(HPA[0], "MODIFIED", hpa(2), T0 + 5)
    r.on_object(HPA[0], "MODIFIED", hpa(2), T0 + 20)  # the same desired count: no new point
    r.on_object(HPA[0], "MODIFIED", hpa(4), T0 + 70)
    r.records.replay_start, r.records.replay_end = T0, T0 + 120
    facts = TraceFacts(t0=0.0, t_end=120.0, speed=1.0, kinds=frozenset({DEP[0], HPA[0]}),
                       replicas={DEP: [(0.0, 2), (60.0, 4)]}, hpas={HPA: DEP})
    return measure.measure(r.records, facts, DriverFacts())


def test_desired_against_recorded_replicas_at_checkpoints() -> None:
    doc = run_measure()
    (row,) = doc["autoscaling"]["hpas"]
    # checkpoints every trace second 0..120; settling 30 s after each recorded change (0..29, 60..89);
    # 30..59 desired 2 = recorded 2 (30 agree); 90..120 desired 4 = recorded 4 (31 agree)
    assert row == {"hpa": "shop/web", "target": "apps/v1.Deployment shop/web", "checkpoints": 61, "agreeing": 61,
                   "score": 1.0, "max_difference": 0, "desired_final": 4, "recorded_final": 4}
    assert doc["series"]["hpa_replicas"]["shop/web"] == {"desired": [[5.0, 2], [70.0, 4]],
                                                         "recorded": [[0.0, 2], [60.0, 4]]}


def test_a_simulated_hpa_that_disagrees_scores_below_one() -> None:
    r = Recorder([NS], [DEP[0], HPA[0]], "virtual", clock=lambda: pytest.fail("every change has a time"))
    r.on_object(HPA[0], "ADDED", hpa(1), T0 + 1)  # never scales up
    r.records.replay_start, r.records.replay_end = T0, T0 + 100
    facts = TraceFacts(t0=0.0, t_end=100.0, speed=1.0, replicas={DEP: [(0.0, 3)]}, hpas={HPA: DEP})
    (row,) = measure.measure(r.records, facts, DriverFacts())["autoscaling"]["hpas"]
    assert (row["checkpoints"], row["agreeing"], row["score"], row["max_difference"]) == (71, 0, 0.0, 2)


def test_the_report_document_and_page_carry_it() -> None:
    sections = run_measure()
    doc = document.build(sections, simulation={"name": "s", "trace": "t", "speed": 1.0, "duration": None,
                                               "trace_start": 0.0, "trace_end": 120.0},
                         complete=True, incomplete_reason=None, created=T0)
    jsonschema.validate(doc, SCHEMA)
    page = html.render_report(doc)
    assert "desired vs recorded replicas per HPA" in page and "shop/web" in page and 'id="hpa-0"' in page
    # no HPA in the trace: an empty list, and no section on the page
    r = Recorder([NS], [DEP[0]], "virtual", clock=lambda: 0.0)
    r.records.replay_start, r.records.replay_end = T0, T0 + 10
    bare = measure.measure(r.records, TraceFacts(t0=0.0, t_end=10.0, speed=1.0), DriverFacts())
    assert bare["autoscaling"]["hpas"] == []
    plain = document.build(bare, simulation={"name": "s", "trace": "t", "speed": 1.0, "duration": None},
                           complete=True, incomplete_reason=None, created=T0)
    assert "per HPA" not in html.render_report(plain)


def test_report_show_summarises_the_hpas() -> None:
    from skctl.report.summary import report_lines

    doc = document.build(run_measure(), simulation={"name": "s", "trace": "t", "speed": 1.0, "duration": None},
                         complete=True, incomplete_reason=None, created=T0)
    (line,) = [x for x in report_lines(doc) if "autoscaling" in x]
    assert "1 HPAs; desired replicas agree with the recorded ones at 61 of 61 checkpoints; shop/web 4/4" in line
