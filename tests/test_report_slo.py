"""The `--slo` grammar, its evaluation and JUnit output (skctl.report.slo, skctl.report.junit)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from skctl.base.errors import InputError
from skctl.report.junit import junit_xml
from skctl.report.slo import evaluate, parse


@pytest.mark.parametrize("text, metrics, passed", [
    ("pod_startup_p99<=5s", {"pod_startup_p99": 5.0}, True),
    ("pod_startup_p99<=5s", {"pod_startup_p99": 5.001}, False),
    ("pod_startup_p99 < 500ms", {"pod_startup_p99": 0.4}, True),
    ("pod_startup_p99<1m", {"pod_startup_p99": 61.0}, False),
    ("fidelity>=99%", {"fidelity": 0.99}, True),
    ("fidelity>=0.99", {"fidelity": 0.985}, False),
    ("unschedulable_max==0", {"unschedulable_max": 0}, True),
    ("unschedulable_max!=0", {"unschedulable_max": 0}, False),
    ("5s>=pod_startup_p50", {"pod_startup_p50": 4.0}, True),
    ("cpu_utilisation_peak>0.5*memory_utilisation_peak", {"cpu_utilisation_peak": 0.6, "memory_utilisation_peak": 1.0}, True),
])
def test_gates_on_one_report(text: str, metrics: dict, passed: bool) -> None:
    assert evaluate(parse(text), {"candidate": metrics}).passed is passed


def test_gates_in_a_diff_compare_the_two_runs() -> None:
    gate = parse("candidate.pod_startup_p99<=1.1*baseline.pod_startup_p99", diff=True)
    runs = {"baseline": {"pod_startup_p99": 2.0}, "candidate": {"pod_startup_p99": 2.2}}
    result = evaluate(gate, runs)
    assert result.passed and result.detail == "candidate.pod_startup_p99 = 2.2s; baseline.pod_startup_p99 = 2s"
    runs["candidate"]["pod_startup_p99"] = 2.3
    assert not evaluate(gate, runs).passed
    bare = parse("pod_startup_p99<=baseline.pod_startup_p99", diff=True)  # a bare metric is the candidate's
    assert not evaluate(bare, runs).passed


def test_a_metric_without_a_value_fails_the_gate() -> None:
    result = evaluate(parse("pod_startup_p99<=5s"), {"candidate": {"pod_startup_p99": None}})
    assert not result.passed and "no value" in result.detail


@pytest.mark.parametrize("text", ["", "fidelity", "fidelity>=", "fidelity>=>=1", "fidelity>=1 extra",
                                  "fidelity>=x.y.z", "fidelity*fidelity>=1", "os.system('x')>=1",
                                  "fidelity>=1e999999999", "pod_startup_p99<=5lightyears", "other.fidelity>=1"])
def test_malformed_gates_are_input_errors(text: str) -> None:
    with pytest.raises(InputError):
        parse(text, diff=True)


def test_junit_names_each_gate_and_gives_the_failures_values() -> None:
    results = [evaluate(parse("unschedulable_max==0"), {"candidate": {"unschedulable_max": 7}}),
               evaluate(parse("fidelity>=0.9"), {"candidate": {"fidelity": 0.95}})]
    root = ET.fromstring(junit_xml(results))
    suite = root.find("testsuite")
    assert suite is not None and (suite.get("tests"), suite.get("failures")) == ("2", "1")
    failing, passing = list(suite.iter("testcase"))
    assert failing.get("name") == "unschedulable_max==0"
    failure = failing.find("failure")
    assert failure is not None and failure.get("message") == "SLO violated: unschedulable_max==0 (unschedulable_max = 7)"
    assert passing.get("name") == "fidelity>=0.9" and passing.find("failure") is None
