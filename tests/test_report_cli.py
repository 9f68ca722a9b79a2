"""`skctl drive --report`, `skctl report show|diff`, `--slo` and `--junit` against the sandbox.

The sandbox runs no controllers, scheduler or KWOK: the replayed Deployments never get a
ready pod, so fidelity is measurable and poor, which is what the gates here are checked on.
The real control plane's outcome (scheduling, nodes, fidelity near 1) is tests/e2e/test_report.py.
"""

from __future__ import annotations

import json
import signal
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from skctl.cli.main import main
from tests.helpers import running, wait_for

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((ROOT / "skctl" / "data" / "report.schema.json").read_text())


def drive(kubeconfig: Path, trace: Path, dest: Path, *extra: str, name: str = "rep") -> int:
    # dsb-scaling's first 20 minutes at speed 200: 6 s of replay; the settle time (5 s wall =
    # 1000 trace seconds) leaves the checkpoints after 1000 s to judge
    return main(["drive", name, "--kubeconfig", str(kubeconfig), "--trace-path", f"file://{trace}",
                 "--speed", "200", "--duration", "20m", "--report", str(dest), *extra])


@pytest.fixture
def dsb(reference_dir: Path) -> Path:
    return reference_dir / "dsb-scaling.sktrace"


def test_drive_writes_a_schema_valid_report_and_gates_fail_with_one_line_each(
        capsys, sandbox_kubeconfig: Path, dsb: Path, tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    code = drive(sandbox_kubeconfig, dsb, tmp_path / "run", "--slo", "fidelity>=0.99", "--slo", "unschedulable_max==0",
                 "--slo", "pod_startup_p99<=5s", "--junit", str(junit))
    out, err = capsys.readouterr()
    assert code == 1, err
    doc = json.loads((tmp_path / "run" / "report.json").read_text())
    jsonschema.validate(doc, SCHEMA)
    assert doc["complete"] is True and doc["simulation"]["name"] == "rep"
    assert doc["driver"]["events"] > 0 and doc["driver"]["applies"] > 0
    # every replayed Deployment is judged, and none ever had a ready replica
    assert doc["fidelity"]["checkpoints"] > 0 and doc["metrics"]["fidelity"] == 0.0
    assert all(o["object"].startswith("apps/v1.Deployment ") for o in doc["fidelity"]["objects"])
    assert "report written to" in out and "fidelity: 0%" in out
    violations = [line for line in err.splitlines() if "SLO violated" in line]
    # fidelity fails, unschedulable_max==0 holds, pod_startup_p99 has no value (no pod ran): fails
    assert [v.split("SLO violated: ")[1].split(" ")[0] for v in violations] == ["fidelity>=0.99", "pod_startup_p99<=5s"]
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("tests") == "3" and suite.get("failures") == "2"
    cases = {c.get("name"): c.find("failure") for c in suite.iter("testcase")}
    assert set(cases) == {"fidelity>=0.99", "unschedulable_max==0", "pod_startup_p99<=5s"}
    assert cases["unschedulable_max==0"] is None
    failure = cases["fidelity>=0.99"]
    assert failure is not None and "fidelity = 0%" in (failure.get("message") or "")
    html = (tmp_path / "run" / "report.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and "<script" not in html and "http://" not in html.replace(
        'xmlns="http://www.w3.org/2000/svg"', "")


def test_report_show_and_diff(capsys, sandbox_kubeconfig: Path, dsb: Path, tmp_path: Path) -> None:
    assert drive(sandbox_kubeconfig, dsb, tmp_path / "a", name="rep-a") == 0
    assert drive(sandbox_kubeconfig, dsb, tmp_path / "b", name="rep-b") == 0
    capsys.readouterr()
    assert main(["report", "show", str(tmp_path / "a")]) == 0  # the directory is enough
    out, _ = capsys.readouterr()
    assert out.startswith("report of simulation rep-a: complete")
    assert main(["report", "show", "--json", str(tmp_path / "a" / "report.json"), "--slo", "driver_failed_applies==0"]) == 0
    shown = json.loads(capsys.readouterr()[0])
    assert shown["gates"] == [{"gate": "driver_failed_applies==0", "passed": True, "detail": "driver_failed_applies = 0"}]
    code = main(["report", "diff", str(tmp_path / "a"), str(tmp_path / "b"), "--html", str(tmp_path / "diff.html"),
                 "--slo", "candidate.fidelity>=baseline.fidelity",
                 "--slo", "candidate.driver_failed_applies<=1.1*baseline.driver_failed_applies"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.splitlines()[0].split() == ["metric", "baseline", "candidate", "change", "verdict"]
    fidelity = next(line for line in out.splitlines() if line.startswith("fidelity "))
    assert fidelity.split()[-1] == "same"
    page = (tmp_path / "diff.html").read_text()
    assert "rep-a (baseline) vs rep-b (candidate)" in page and page.count("<svg") >= 5
    assert main(["report", "diff", "--json", str(tmp_path / "a"), str(tmp_path / "b")]) == 0
    rows = {r["metric"]: r for r in json.loads(capsys.readouterr()[0])["rows"]}
    assert rows["fidelity"] == {"metric": "fidelity", "baseline": 0.0, "candidate": 0.0, "change": 0.0,
                                "relative": None, "verdict": "same"}


@pytest.mark.parametrize("expr, says", [
    ("pod_startup_p99<=", "is not a gate"),
    ("pod_startup_p99 5s", "exactly one comparison"),
    ("nonsense_metric<=5s", "unknown metric 'nonsense_metric'"),
    ("pod_startup_p99<=5parsecs", "unknown unit 'parsecs'"),
    ("baseline.fidelity>=0.9", "only makes sense in `skctl report diff`"),
    ("1<2", "names no metric"),
    ("__import__('os')<=1", "is not a gate"),
])
def test_a_malformed_gate_is_exit_2_before_anything_runs(capsys, tmp_path: Path, expr: str, says: str) -> None:
    # the kubeconfig and trace do not exist: the gate is refused first
    code = main(["drive", "x", "--kubeconfig", str(tmp_path / "none"), "--trace-path", str(tmp_path / "none"),
                 "--report", str(tmp_path / "r"), "--slo", expr])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and says in err, err
    assert not (tmp_path / "r").exists()


def test_report_show_of_something_else_is_one_line(capsys, tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text('{"hello": 1}')
    assert main(["report", "show", str(tmp_path / "x.json")]) == 2
    err = capsys.readouterr()[1]
    assert "is not a skctl simulation report" in err and len(err.strip().splitlines()) == 1
    assert main(["report", "show", str(tmp_path / "missing.json")]) == 2


def test_slo_without_a_report_is_refused(capsys, tmp_path: Path) -> None:
    assert main(["drive", "x", "--trace-path", str(tmp_path / "t"), "--slo", "fidelity>=0.9"]) == 2
    assert "--slo needs --report" in capsys.readouterr()[1]


def test_sigterm_writes_the_report_of_what_was_seen_marked_incomplete(
        sandbox, sandbox_kubeconfig: Path, dsb: Path, tmp_path: Path) -> None:
    from skctl.kube.api import Kube

    kube = Kube(sandbox.api_client())
    dest = tmp_path / "stopped"
    argv = [sys.executable, "-m", "skctl", "drive", "term", "--kubeconfig", str(sandbox_kubeconfig),
            "--trace-path", str(dsb), "--speed", "20", "--report", str(dest)]
    with running(argv) as proc:
        # the replay has begun (and its signal handlers are in place) once a Deployment is applied
        wait_for(lambda: kube.list("apps/v1", "Deployment", "virtual-dsb"), "the driver never applied anything", timeout=30, process=proc)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err
    doc = json.loads((dest / "report.json").read_text())
    jsonschema.validate(doc, SCHEMA)
    assert doc["complete"] is False and doc["incomplete_reason"] == "stopped by SIGTERM"
    assert doc["driver"]["stopped_by"] == "SIGTERM"
    assert "recording a report" in out and "INCOMPLETE" in out and "Traceback" not in err
    kube.close()
    assert main(["report", "show", str(dest)]) == 0
