"""report.html and the diff page: one self-contained file, charts as SVG generated here.

Why SVG from Python rather than a chart library (README, docs/report.md): the page must open
from a file with no network, and the zipapp must stay small. A charting library shipped as
package data would add 100-300 KB of JavaScript to every pyz and every report, plus a script
that can fail; step charts of a few hundred points each are a few dozen lines of SVG path
here, render without any script, print, and stay readable in a diff of two HTML files.
The page has no <script> at all and references nothing outside itself.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from html import escape
from typing import Any

from skctl.report.slo import show

WIDTH, HEIGHT = 640, 230
LEFT, RIGHT, TOP, BOTTOM = 58, 12, 28, 34
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")
RUN_COLORS = {"baseline": "#1f77b4", "candidate": "#ff7f0e"}

CSS = """
body{font-family:DejaVu Sans,Helvetica,Arial,sans-serif;margin:24px;color:#222;max-width:1340px}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}
.charts{display:flex;flex-wrap:wrap;gap:12px}
figure.chart{margin:0;border:1px solid #e3e3e3;border-radius:4px;background:#fff}
table{border-collapse:collapse;font-size:13px;margin:8px 0}
td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}th{background:#f4f4f4}
td:first-child,th:first-child{text-align:left}
.bad{color:#b00020;font-weight:bold}.good{color:#0a7d28}.note{color:#666;font-size:13px}
.verdict-worse{color:#b00020}.verdict-better{color:#0a7d28}
"""


def _nice(value: float) -> float:
    """A round upper bound for an axis: 1, 2, 2.5, 5 times a power of ten."""
    if value <= 0 or not math.isfinite(value):
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power


def _fmt_tick(value: float) -> str:
    return f"{value:.0f}" if abs(value) >= 10 or value == int(value) else f"{value:.2g}"


Series = tuple[str, Sequence[Sequence[float]], str, bool]  # (label, [[x, y]...], color, dashed)


def chart(chart_id: str, title: str, series: Sequence[Series], *, x_label: str = "seconds since the replay started",
          y_format: Callable[[float], str] = _fmt_tick, y_max: float | None = None, step: bool = True,
          x_max: float | None = None) -> str:
    """One SVG line chart (step lines by default) with axes, ticks and a legend."""
    xs = [p[0] for _l, pts, _c, _d in series for p in pts]
    ys = [p[1] for _l, pts, _c, _d in series for p in pts]
    x_hi = _nice(max([*xs, x_max or 0.0], default=1.0))
    y_hi = y_max if y_max is not None else _nice(max(ys, default=1.0))
    pw, ph = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def sx(x: float) -> float:
        return LEFT + pw * min(max(x, 0.0), x_hi) / x_hi

    def sy(y: float) -> float:
        return TOP + ph - ph * min(max(y, 0.0), y_hi) / y_hi

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
             f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">',
             f'<text x="{LEFT}" y="17" font-size="14" font-weight="bold">{escape(title)}</text>',
             f'<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="#fafafa" stroke="#ccc"/>']
    for i in range(6):
        yv = y_hi * i / 5
        y = sy(yv)
        parts.append(f'<line x1="{LEFT}" x2="{LEFT + pw}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e6e6e6"/>'
                     f'<text x="{LEFT - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end">{escape(y_format(yv))}</text>')
        xv = x_hi * i / 5
        x = sx(xv)
        parts.append(f'<text x="{x:.1f}" y="{TOP + ph + 15}" font-size="11" text-anchor="middle">{_fmt_tick(xv)}</text>')
    parts.append(f'<text x="{LEFT + pw / 2}" y="{HEIGHT - 3}" font-size="11" text-anchor="middle" fill="#555">'
                 f'{escape(x_label)}</text>')
    for n, (label, pts, color, dashed) in enumerate(series):
        d = _path(pts, sx, sy, step, x_hi)
        dash = ' stroke-dasharray="6 4"' if dashed else ""
        parts.append(f'<path class="series" data-series="{escape(label)}" d="{d}" fill="none" stroke="{color}" '
                     f'stroke-width="2"{dash}/>')
        lx = LEFT + 8 + 150 * n
        parts.append(f'<line x1="{lx}" x2="{lx + 18}" y1="{TOP + 10}" y2="{TOP + 10}" stroke="{color}" '
                     f'stroke-width="2"{dash}/><text x="{lx + 22}" y="{TOP + 14}" font-size="11">{escape(label)}</text>')
    parts.append("</svg>")
    return f'<figure class="chart" id="{escape(chart_id)}" data-chart="{escape(chart_id)}">{"".join(parts)}</figure>'


def _path(points: Sequence[Sequence[float]], sx: Callable[[float], float], sy: Callable[[float], float],
          step: bool, x_hi: float) -> str:
    pts = list(points) or [[0.0, 0.0]]
    out = [f"M{sx(pts[0][0]):.1f},{sy(pts[0][1]):.1f}"]
    for x, y in pts[1:]:
        if step:
            out.append(f"H{sx(x):.1f}V{sy(y):.1f}")
        else:
            out.append(f"L{sx(x):.1f},{sy(y):.1f}")
    if step:
        out.append(f"H{sx(max(pts[-1][0], x_hi)):.1f}")
    return "".join(out)


def _pct(value: float) -> str:
    return f"{value * 100:.0f}%"


def _page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f'<meta name="viewport" content="width=device-width"><style>{CSS}</style></head>'
            f"<body>{body}</body></html>\n")


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]], classes: Sequence[str] | None = None) -> str:
    head = "".join(f"<th>{escape(str(h))}</th>" for h in header)
    body = []
    for i, row in enumerate(rows):
        cls = f' class="{classes[i]}"' if classes and classes[i] else ""
        body.append(f"<tr{cls}>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _charts(runs: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The time-series charts of one run, or of several overlaid (one colour per run)."""
    many = len(runs) > 1
    length = max(float((doc.get("window") or {}).get("seconds") or 0) for doc in runs.values())

    def color(run: str, i: int) -> str:
        return RUN_COLORS.get(run, COLORS[0]) if many else COLORS[i]

    def lines(keys: Sequence[tuple[str, str]]) -> list[Series]:
        out: list[Series] = []
        for run, doc in runs.items():
            for i, (key, label) in enumerate(keys):
                out.append((f"{run} {label}" if many else label, doc["series"].get(key) or [], color(run, i),
                            many and i > 0))
        return out

    charts = [
        chart("pending", "Pods pending and unschedulable", lines([("pending", "pending"), ("unschedulable", "unschedulable")]),
              x_max=length),
        chart("nodes", "Nodes (type=virtual)", lines([("nodes", "nodes")]), x_max=length),
        chart("utilisation", "Requested / allocatable", lines([("cpu_utilisation", "CPU"), ("memory_utilisation", "memory")]),
              y_format=_pct, y_max=max(1.0, *(max((p[1] for p in doc["series"].get(k) or []), default=0)
                                             for doc in runs.values() for k in ("cpu_utilisation", "memory_utilisation"))),
              x_max=length),
        chart("bound", "Pods bound to nodes", lines([("pods_bound", "pods")]), x_max=length),
        chart("startup-cdf", "Pod startup latency (created → running), CDF",
              [(f"{run}" if many else "pods", doc["series"].get("startup_cdf") or [], color(run, 0), False)
               for run, doc in runs.items()], x_label="seconds", y_format=_pct, y_max=1.0),
    ]
    return charts


def _object_charts(runs: Mapping[str, Mapping[str, Any]]) -> list[str]:
    many = len(runs) > 1
    names: list[str] = []
    for doc in runs.values():
        for name in (doc["series"].get("ready_vs_trace") or {}):
            if name not in names:
                names.append(name)
    out = []
    for i, name in enumerate(names):
        series: list[Series] = []
        trace_pts: Sequence[Sequence[float]] = []
        for doc in runs.values():
            found = (doc["series"].get("ready_vs_trace") or {}).get(name)
            if found:
                trace_pts = found.get("trace") or []
                break
        series.append(("trace replicas", trace_pts, "#555", True))
        for run, doc in runs.items():
            pts = ((doc["series"].get("ready_vs_trace") or {}).get(name) or {}).get("ready") or []
            series.append((f"{run} ready" if many else "ready", pts, RUN_COLORS.get(run, COLORS[0]) if many else COLORS[0], False))
        length = max(float((doc.get("window") or {}).get("seconds") or 0) for doc in runs.values())
        out.append(chart(f"object-{i}", name, series, x_max=length))
    return out


def _hpa_section(doc: Mapping[str, Any]) -> list[str]:
    """Per HPA: desired (simulation) vs recorded (trace) replicas, a chart each and a table."""
    hpas = (doc.get("autoscaling") or {}).get("hpas") or []
    if not hpas:
        return []
    found = (doc.get("series") or {}).get("hpa_replicas") or {}
    length = float((doc.get("window") or {}).get("seconds") or 0)
    charts = []
    for i, row in enumerate(hpas):
        pts = found.get(row["hpa"]) or {}
        charts.append(chart(f"hpa-{i}", f"HPA {row['hpa']} → {row['target']}", [
            ("recorded replicas", pts.get("recorded") or [], "#555", True),
            ("desired (simulation)", pts.get("desired") or [], COLORS[0], False)], x_max=length))
    return [
        "<h2>Autoscaling: desired vs recorded replicas per HPA</h2>", '<div class="charts">', *charts, "</div>",
        _table(("HPA", "target", "checkpoints", "agreeing", "score", "max difference", "desired at end",
                "recorded at end"),
               [(r["hpa"], r["target"], r["checkpoints"], r["agreeing"],
                 "not judged" if r["score"] is None else _pct(r["score"]), r["max_difference"],
                 "-" if r["desired_final"] is None else r["desired_final"],
                 "-" if r["recorded_final"] is None else r["recorded_final"]) for r in hpas],
               ["bad" if r["score"] is not None and r["score"] < 1 else "" for r in hpas]),
    ]


def render_report(doc: Mapping[str, Any]) -> str:
    from skctl.report.summary import report_lines

    sim = doc.get("simulation") or {}
    m = doc["metrics"]
    title = f"skctl report: simulation {sim.get('name')}"
    status = ("" if doc.get("complete") else
              f'<p class="bad">Incomplete report: {escape(str(doc.get("incomplete_reason") or "stopped"))}</p>')
    lines = "".join(f"<li>{escape(line.strip())}</li>" for line in report_lines(doc)[1:])
    metric_rows = [(k, show(k, v)) for k, v in m.items()]
    nodes = doc.get("nodes", {}).get("per_node") or {}
    node_rows = [(name, n.get("pods_peak"), n.get("pods_at_peak", ""), n.get("pods_total"),
                  f"{n.get('cpu_requested_peak_m', 0) / 1000:g} / {n.get('cpu_allocatable_m', 0) / 1000:g}",
                  "" if n.get("cpu_utilisation_peak") is None else _pct(n["cpu_utilisation_peak"]))
                 for name, n in nodes.items()]
    reasons = (doc.get("scheduling") or {}).get("reasons") or {}
    objects = (doc.get("fidelity") or {}).get("objects") or []
    owners = ((doc.get("pods") or {}).get("startup") or {}).get("by_owner") or {}
    body = [
        f"<h1>{escape(title)}</h1>", status,
        f'<p class="note">trace {escape(str(sim.get("trace")))}, speed {sim.get("speed")}, window '
        f'{escape(str(doc["window"]["start"]))} to {escape(str(doc["window"]["end"]))} ({doc["window"]["seconds"]} s); '
        f'{escape(str(doc.get("generator")))}, report schema {escape(str(doc.get("schema")))}</p>',
        f"<ul>{lines}</ul>",
        '<h2>Time series</h2><div class="charts">', *_charts({"run": doc}), "</div>",
        "<h2>Fidelity: ready replicas vs the trace (least faithful objects)</h2>",
        '<div class="charts">', *_object_charts({"run": doc}), "</div>",
        _table(("object", "checkpoints", "agreeing", "score", "max difference"),
               [(o["object"], o["checkpoints"], o["agreeing"], "settling" if o["score"] is None else _pct(o["score"]),
                 o["max_difference"]) for o in objects],
               ["bad" if o["score"] is not None and o["score"] < 1 else "" for o in objects]),
        *_hpa_section(doc),
        "<h2>Scheduling</h2>",
        _table(("scheduler reason", "pods"), list(reasons.items()) or [("none", 0)]),
        "<h2>Nodes</h2>",
        _table(("node", "pods peak", "pods at the overall peak", "pods bound in total", "CPU requested peak / allocatable",
                "CPU peak"), node_rows),
        "<h2>Pod startup by owner (created → running)</h2>",
        _table(("owner", "pods", "p50", "p90", "p99", "max"),
               [(o, s["count"], show("pod_startup_p50", s["p50"]), show("pod_startup_p90", s["p90"]),
                 show("pod_startup_p99", s["p99"]), show("pod_startup_max", s["max"])) for o, s in owners.items()]),
        "<h2>All metrics</h2>", _table(("metric", "value"), metric_rows),
    ]
    return _page(title, "".join(body))


def render_diff(baseline: Mapping[str, Any], candidate: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]) -> str:
    b_name = (baseline.get("simulation") or {}).get("name")
    c_name = (candidate.get("simulation") or {}).get("name")
    title = f"skctl report diff: {b_name} (baseline) vs {c_name} (candidate)"
    runs = {"baseline": baseline, "candidate": candidate}
    table = _table(("metric", "baseline", "candidate", "change", "verdict"),
                   [(r["metric"], show(r["metric"], r["baseline"]), show(r["metric"], r["candidate"]),
                     "" if r["relative"] is None else f"{r['relative'] * 100:+.0f}%", r["verdict"]) for r in rows],
                   [f"verdict-{r['verdict']}" for r in rows])
    body = [f"<h1>{escape(title)}</h1>",
            '<h2>Time series (baseline and candidate overlaid)</h2><div class="charts">', *_charts(runs), "</div>",
            '<h2>Fidelity: ready replicas vs the trace</h2><div class="charts">', *_object_charts(runs), "</div>",
            "<h2>Every metric</h2>", table]
    return _page(title, "".join(body))
