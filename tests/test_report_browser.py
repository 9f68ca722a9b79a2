"""report.html and the diff page in a real browser: headless Chromium, network off.

Chromium (Debian's `chromium`, installed by scripts/install_chromium.sh from `make chromium`
and .ci/run) loads each page from disk through a file:// URL, with every host name resolving
to nothing and every request sent to a proxy that does not exist, so a page that needed the
network would show it. A copy of the page gets a small checking script appended: it records
script errors and, for every chart, the SVG's rendered size and the rendered length of each
series line, into the DOM that `--dump-dom` prints. The report page itself has no script.
The screenshot is kept in build/report-screenshot.png (build/diff-screenshot.png for the diff).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from skctl.report import document, html
from skctl.report.diff import compare
from tests.helpers import deployment
from tests.test_report_measure import NS, T0, facts, node, pod, recorder

ROOT = Path(__file__).resolve().parent.parent
ARTEFACTS = ROOT / "build"
CHECK = """<script>
window.__errors = [];
window.addEventListener('error', e => window.__errors.push(String(e.message)));
window.addEventListener('load', () => {
  const charts = [...document.querySelectorAll('figure.chart')].map(f => {
    const svg = f.querySelector('svg'); const box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
    return {id: f.id, width: box.width, height: box.height,
            lines: [...f.querySelectorAll('path.series')].map(p => p.getTotalLength())};
  });
  const out = document.createElement('pre'); out.id = 'chart-check';
  out.textContent = JSON.stringify({errors: window.__errors, charts: charts,
                                    external: performance.getEntriesByType('resource').map(r => r.name)});
  document.body.appendChild(out);
});
</script>"""


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        why = "chromium is not installed: run `make chromium` (scripts/install_chromium.sh; .ci/run does)"
        if os.environ.get("SKCTL_BROWSER_REQUIRED") == "1":  # .ci/run: a skip here is a failure
            pytest.fail(why)
        pytest.skip(why)
    return found


def browser(exe: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    argv = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
            "--disable-background-networking", "--disable-sync", "--disable-component-update",
            "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
            f"--user-data-dir={profile}", "--hide-scrollbars", "--font-render-hinting=none", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env)


def rich_report(name: str, packed: bool) -> dict[str, Any]:
    """A report with data in every series: pods pending, unschedulable, bound, nodes added."""
    r = recorder()
    r.on_node("ADDED", node("n1", cpu="4"), T0 - 1)
    r.on_node("ADDED", node("n2", cpu="4"), T0 + 6)
    for i in range(12):
        p = f"p{i}"
        r.on_pod("ADDED", pod(p, owner_uid="rs1"), T0 + i * 0.5)
        if i >= 8:
            r.on_pod("MODIFIED", pod(p, owner_uid="rs1", unschedulable="0/1 nodes are available: 1 Insufficient cpu."),
                     T0 + i * 0.5 + 0.1)
        where = "n1" if packed or i % 2 else "n2"
        bound = T0 + i * 0.5 + (0.3 if i < 8 else 6)
        r.on_pod("MODIFIED", pod(p, owner_uid="rs1", node=where), bound)
        r.on_pod("MODIFIED", pod(p, owner_uid="rs1", node=where, phase="Running"), bound + 0.4 + i * 0.05)
    r.on_object("apps/v1.Deployment", "ADDED", deployment("web", NS, replicas=12, uid="d1", status={"readyReplicas": 0}), T0)
    r.on_object("apps/v1.ReplicaSet", "ADDED", {"metadata": {"name": "web-1", "namespace": NS, "uid": "rs1",
                                                              "ownerReferences": [{"uid": "d1", "controller": True}]}}, T0)
    for k in range(1, 13):
        r.on_object("apps/v1.Deployment", "MODIFIED", deployment("web", NS, replicas=12, uid="d1", status={"readyReplicas": k}), T0 + k)
    r.records.replay_start, r.records.replay_end = T0, T0 + 20
    from skctl.report import measure

    f = facts(speed=5.0, t_end=100.0, replicas={("apps/v1.Deployment", f"{NS}/web"): [(0.0, 12)]})
    sections = measure.measure(r.records, f, measure.DriverFacts(events=3, applies=3))
    return document.build(sections, simulation={"name": name, "trace": "file:///t", "speed": 5.0, "duration": None,
                                                "trace_start": 0.0, "trace_end": 100.0},
                          complete=True, incomplete_reason=None, created=T0 + 21)


def check_page(exe: str, page: str, tmp_path: Path, screenshot: Path) -> dict[str, Any]:
    path = tmp_path / "page.html"
    path.write_text(page)
    ARTEFACTS.mkdir(exist_ok=True)
    shot = browser(exe, tmp_path / "profile-shot", f"--screenshot={screenshot}", "--window-size=1360,2600",
                   path.as_uri())
    assert screenshot.is_file() and screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", shot.stderr[-2000:]
    assert screenshot.stat().st_size > 20_000, "the screenshot is (nearly) blank"
    checked = tmp_path / "checked.html"
    checked.write_text(page.replace("</body>", CHECK + "</body>"))
    dom = browser(exe, tmp_path / "profile-dom", "--dump-dom", "--virtual-time-budget=5000", checked.as_uri())
    match = re.search(r'<pre id="chart-check">(.*?)</pre>', dom.stdout, re.S)
    assert match is not None, dom.stderr[-2000:]
    result: dict[str, Any] = json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&")
                                        .replace("&lt;", "<").replace("&gt;", ">"))
    assert result["errors"] == []
    assert result["external"] == []  # nothing fetched: the page is self-contained
    assert "Uncaught" not in dom.stderr
    return result


def test_report_page_renders_every_chart_offline(tmp_path: Path) -> None:
    exe = chromium()
    doc = rich_report("browser", packed=False)
    page = html.render_report(doc)
    assert "<script" not in page
    result = check_page(exe, page, tmp_path, ARTEFACTS / "report-screenshot.png")
    charts = {c["id"]: c for c in result["charts"]}
    assert set(charts) == {"pending", "nodes", "utilisation", "bound", "startup-cdf", "object-0"}
    assert page.count('<figure class="chart"') == len(charts)
    for c in charts.values():
        assert c["width"] > 300 and c["height"] > 150, c
        assert c["lines"] and all(length > 0 for length in c["lines"]), c


def test_diff_page_overlays_both_runs(tmp_path: Path) -> None:
    exe = chromium()
    base, cand = rich_report("spread", packed=False), rich_report("packed", packed=True)
    page = html.render_diff(base, cand, compare(base, cand))
    result = check_page(exe, page, tmp_path, ARTEFACTS / "diff-screenshot.png")
    charts = {c["id"]: c for c in result["charts"]}
    assert charts["bound"]["lines"] and len(charts["bound"]["lines"]) == 2  # baseline and candidate
    assert len(charts["pending"]["lines"]) == 4  # pending and unschedulable of each run
    assert all(length > 0 for c in charts.values() for length in c["lines"])
