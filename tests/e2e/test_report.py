"""`skctl drive --report` on the real control plane (marker e2e): the measurements of a replay.

dsb-scaling (27 Deployments of 1-CPU pods, 1134 s of trace time) is replayed at speed 40
(~28 s) on 4 KWOK nodes (the baseline, measured once for the module), on 1 schedulable node
(the others cordoned), and on a control plane whose scheduler scores with MostAllocated
instead of the default LeastAllocated. Reports are compared with `skctl report diff`.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from skctl.sim import SIMULATION_LABEL
from tests.e2e.cluster import Cluster
from tests.e2e.helpers import items, namespaces
from tests.helpers import ROOT, skctl, wait_for

SPEED = "40"
SCHEMA = json.loads((ROOT / "skctl" / "data" / "report.schema.json").read_text())
MOST_ALLOCATED = {"profiles": [{
    "schedulerName": "default-scheduler",
    "plugins": {"score": {"disabled": [{"name": "NodeResourcesBalancedAllocation"}]}},
    "pluginConfig": [{"name": "NodeResourcesFit", "args": {"scoringStrategy": {
        "type": "MostAllocated", "resources": [{"name": "cpu", "weight": 1}, {"name": "memory", "weight": 1}]}}}],
}]}


def drive_report(cluster: Cluster, trace: Path, name: str, dest: str, *extra: str) -> tuple[int, str, str]:
    r = skctl("drive", name, "--trace-path", f"file://{trace}", "--speed", SPEED, "--kubeconfig",
              str(cluster.kubeconfig), "--report", dest, *extra, timeout=400)
    wait_for(lambda: not namespaces(cluster, f"{SIMULATION_LABEL}={name}"), timeout=120,
            what="the virtual namespaces to be deleted", interval=0.5)
    return r.returncode, r.stdout, r.stderr


def load(dest: Path) -> dict[str, Any]:
    doc = json.loads((dest / "report.json").read_text())
    jsonschema.validate(doc, SCHEMA)
    return doc


@pytest.fixture(scope="module")
def dsb(reference_dir: Path) -> Path:
    return reference_dir / "dsb-scaling.sktrace"


@pytest.fixture(scope="module")
def four_nodes(real_cluster: Cluster, dsb: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("report") / "four"
    code, out, err = drive_report(real_cluster, dsb, "e2e-rep4", str(dest))
    assert code == 0, out + err
    return dest


def test_four_nodes_replay_is_faithful_with_nothing_unschedulable(four_nodes: Path) -> None:
    doc = load(four_nodes)
    m = doc["metrics"]
    assert doc["complete"] is True
    assert m["fidelity"] is not None and m["fidelity"] >= 0.99, doc["fidelity"]["objects"][:3]
    assert m["unschedulable_max"] == 0 and m["unschedulable_pods"] == 0
    assert m["pods"] > 30 and m["nodes_max"] == 4 and m["nodes_min"] == 4
    assert doc["pods"]["running"] >= 0.9 * doc["pods"]["count"]  # all but those the last events made
    assert m["pod_startup_p50"] is not None and m["pod_startup_p50"] < 10
    # every virtual owner is a Deployment of the trace
    assert doc["pods"]["startup"]["by_owner"] and all(o.startswith("apps/v1.Deployment ")
                                                       for o in doc["pods"]["startup"]["by_owner"])
    assert m["driver_failed_applies"] == 0


def test_one_node_is_unschedulable_for_insufficient_cpu_and_the_gate_says_so(
        real_cluster: Cluster, dsb: Path, four_nodes: Path, tmp_path: Path) -> None:
    nodes = [n["metadata"]["name"] for n in items(real_cluster, "/api/v1/nodes")]
    for n in nodes[1:]:
        real_cluster.kubectl("cordon", n)
    try:
        junit = tmp_path / "junit.xml"
        code, out, err = drive_report(real_cluster, dsb, "e2e-rep1", str(tmp_path / "one"),
                                      "--slo", "unschedulable_max==0", "--slo", "driver_failed_applies==0",
                                      "--junit", str(junit))
    finally:
        for n in nodes[1:]:
            real_cluster.kubectl("uncordon", n)
    assert code == 1, out + err
    assert [line for line in err.splitlines() if "SLO violated" in line] == [
        next(line for line in err.splitlines() if "SLO violated: unschedulable_max==0" in line)]
    cases = {c.get("name"): c.find("failure") for c in ET.parse(junit).getroot().iter("testcase")}
    assert cases["unschedulable_max==0"] is not None and cases["driver_failed_applies==0"] is None
    one = load(tmp_path / "one")
    assert one["metrics"]["unschedulable_max"] > 0
    assert "Insufficient cpu" in one["scheduling"]["reasons"]
    base = load(four_nodes)
    assert one["metrics"]["fidelity"] < base["metrics"]["fidelity"]

    diff = skctl("report", "diff", str(four_nodes), str(tmp_path / "one"), "--json")
    assert diff.returncode == 0, diff.stderr
    rows = {r["metric"]: r for r in json.loads(diff.stdout)["rows"]}
    assert rows["unschedulable_max"]["baseline"] == 0 and rows["unschedulable_max"]["candidate"] > 0
    assert rows["unschedulable_max"]["verdict"] == "worse" and rows["fidelity"]["verdict"] == "worse", rows["fidelity"]
    table = skctl("report", "diff", str(four_nodes), str(tmp_path / "one"), "--html", str(tmp_path / "diff.html"))
    assert table.returncode == 0 and any(line.startswith("unschedulable_max ") and line.endswith("worse")
                                         for line in table.stdout.splitlines()), table.stdout


@pytest.fixture(scope="module")
def most_allocated_cluster() -> Iterator[Cluster]:
    from tests.e2e import binaries

    if not binaries.is_built():
        pytest.skip("no real control plane built: run `make controlplane`")
    with Cluster(nodes=4, scheduler_config=MOST_ALLOCATED) as cluster:
        yield cluster


def test_a_scheduler_scoring_change_shows_in_pods_per_node(
        most_allocated_cluster: Cluster, dsb: Path, four_nodes: Path, tmp_path: Path) -> None:
    code, out, err = drive_report(most_allocated_cluster, dsb, "e2e-most", str(tmp_path / "most"))
    assert code == 0, out + err
    packed, spread = load(tmp_path / "most"), load(four_nodes)
    # LeastAllocated (the default) spreads the pods over the 4 nodes; MostAllocated fills one first
    assert packed["metrics"]["pods_per_node_spread"] > spread["metrics"]["pods_per_node_spread"]
    peaks = sorted(n["pods_at_peak"] for n in packed["nodes"]["per_node"].values())
    assert peaks[-1] >= 2 * max(1, peaks[0])
    diff = skctl("report", "diff", str(four_nodes), str(tmp_path / "most"), "--json")
    rows = {r["metric"]: r for r in json.loads(diff.stdout)["rows"]}
    assert rows["pods_per_node_spread"]["verdict"] == "changed"
    assert rows["pods_per_node_spread"]["candidate"] > rows["pods_per_node_spread"]["baseline"]


def test_drive_report_to_s3(real_cluster: Cluster, dsb: Path, s3_bucket_url: str) -> None:
    dest = f"{s3_bucket_url}/reports/e2e-s3"
    r = skctl("drive", "e2e-s3", "--trace-path", f"file://{dsb}", "--speed", "200", "--duration", "10m",
              "--kubeconfig", str(real_cluster.kubeconfig), "--report", dest, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"report written to {dest}/report.json and {dest}/report.html" in r.stdout
    shown = skctl("report", "show", "--json", f"{dest}/report.json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["complete"] is True
    from tests.fixtures.storage_servers import list_objects

    assert {"reports/e2e-s3/report.json", "reports/e2e-s3/report.html"} <= set(list_objects(s3_bucket_url))
