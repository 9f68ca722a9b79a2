"""Simulation reports: what happened during a replay, measured beside it (docs/report.md).

One module per concern, each importable without the cluster libraries:

- `records`: the compact per-object records a replay is folded into (timestamps and
  step series, never whole objects);
- `recorder`: list+watch of Pods, Nodes, Events and the virtual objects
  (skctl.kube.watch), folding each change into the records as it arrives;
- `resources`: a pod's effective resource requests and Kubernetes quantities;
- `measure`: the measurements, pure functions from records to numbers;
- `document`: the versioned report.json, reading and atomic writing (skctl.storage);
- `html`: report.html and the diff page, SVG charts generated here (no script, no network);
- `slo`: the `--slo` gate grammar and its evaluation; `junit`: gate results as JUnit XML;
- `summary`: the terminal summary and the diff table.

The package sits beside skctl.sim: it reads the trace and the driver's results, and the
drive command starts and stops the recorder around the replay.
"""

REPORT_SCHEMA = "skctl.report/v1"
REPORT_VERSION = 1
REPORT_JSON = "report.json"
REPORT_HTML = "report.html"
DIFF_HTML = "diff.html"
