"""`skctl xray`: the activity timeline, the event list, object histories as diffs, --json,
and terminal safety for strings that come from a trace."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from skctl.cli.main import main
from skctl.trace import codec
from skctl.trace.model import Trace, new_event
from skctl.xray import activity

NGINX_THRIFT_HEAD = """\
# apps/v1.Deployment dsb/nginx-thrift: 5 versions
--- /dev/null
+++ dsb/nginx-thrift @ 2024-03-19T23:48:58Z (event 1, applied)
@@ -0,0 +1,108 @@
+apiVersion: apps/v1
+kind: Deployment
+metadata:
+  annotations:
+    meta.helm.sh/release-name: dsb-social-network
+    meta.helm.sh/release-namespace: dsb
+  labels:
+    app.kubernetes.io/managed-by: Helm
+    service: nginx-thrift
+  name: nginx-thrift
+  namespace: dsb
+spec:
"""

NGINX_THRIFT_CHANGES = """\
--- dsb/nginx-thrift @ 2024-03-19T23:48:58Z (event 1, applied)
+++ dsb/nginx-thrift @ 2024-03-19T23:58:14Z (event 6, applied)
@@ -11,7 +11,7 @@
   namespace: dsb
 spec:
   progressDeadlineSeconds: 600
-  replicas: 1
+  replicas: 2
   revisionHistoryLimit: 10
   selector:
     matchLabels:
--- dsb/nginx-thrift @ 2024-03-19T23:58:14Z (event 6, applied)
+++ dsb/nginx-thrift @ 2024-03-20T00:02:15Z (event 11, applied)
@@ -11,7 +11,7 @@
   namespace: dsb
 spec:
   progressDeadlineSeconds: 600
-  replicas: 2
+  replicas: 4
   revisionHistoryLimit: 10
   selector:
     matchLabels:
--- dsb/nginx-thrift @ 2024-03-20T00:02:15Z (event 11, applied)
+++ dsb/nginx-thrift @ 2024-03-20T00:02:30Z (event 12, applied)
@@ -11,7 +11,7 @@
   namespace: dsb
 spec:
   progressDeadlineSeconds: 600
-  replicas: 4
+  replicas: 8
   revisionHistoryLimit: 10
   selector:
     matchLabels:
--- dsb/nginx-thrift @ 2024-03-20T00:02:30Z (event 12, applied)
+++ dsb/nginx-thrift @ 2024-03-20T00:02:45Z (event 14, applied)
@@ -11,7 +11,7 @@
   namespace: dsb
 spec:
   progressDeadlineSeconds: 600
-  replicas: 8
+  replicas: 10
   revisionHistoryLimit: 10
   selector:
     matchLabels:
"""


def test_object_history_diff_on_reference_trace(reference_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["xray", str(reference_dir / "dsb-scaling.sktrace"), "--object", "dsb/nginx-thrift"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines(keepends=True)
    assert "".join(lines[:16]) == NGINX_THRIFT_HEAD
    # the first version is the whole object, added: 108 lines after the hunk header
    first = lines[4 : 4 + 108]
    assert all(line.startswith("+") for line in first)
    assert "".join(lines[4 + 108 :]) == NGINX_THRIFT_CHANGES


def test_object_history_json_has_patches(reference_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["xray", "--json", str(reference_dir / "dsb-scaling.sktrace"), "--object", "dsb/nginx-thrift"]) == 0
    doc = json.loads(capsys.readouterr().out)
    (history,) = doc["history"]
    assert history["gvk"] == "apps/v1.Deployment"
    versions = history["versions"]
    assert [v["event"] for v in versions] == [1, 6, 11, 12, 14]
    assert versions[0]["patch"][0]["op"] == "add" and versions[0]["patch"][0]["path"] == ""
    assert [v["patch"] for v in versions[1:]] == [
        [{"op": "replace", "path": "/spec/replicas", "value": n}] for n in (2, 4, 8, 10)
    ]
    assert "diff" not in versions[0]
    assert doc["events"] == 19  # the summary is still there for scripts


def trace_for_views() -> Trace:
    def deploy(name: str, replicas: int, ns: str = "shop") -> dict:
        return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"namespace": ns, "name": name},
                "spec": {"replicas": replicas}}

    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"namespace": "shop", "name": "solo"}, "spec": {}}
    return Trace(
        config={"trackedObjects": {"apps/v1.Deployment": {}, "v1.Pod": {}}},
        events=[
            new_event(1000, [deploy("web", 1), deploy("api", 1), pod]),
            new_event(1003, [deploy("web", 3)]),
            new_event(1012, [deploy("web", 2)], [pod]),
            new_event(1025, [], [deploy("api", 1)]),
        ],
    )


def test_timeline_buckets_per_kind() -> None:
    tl = activity.timeline(trace_for_views(), width=10)
    assert tl["bucket_seconds"] == 10
    assert tl["kinds"] == ["apps/v1.Deployment", "v1.Pod"]
    assert [(b["start_ts"], b["applied"], b["deleted"], b["total"]) for b in tl["buckets"]] == [
        (1000, {"apps/v1.Deployment": 3, "v1.Pod": 1}, {}, 4),
        (1010, {"apps/v1.Deployment": 1}, {"v1.Pod": 1}, 2),
        (1020, {}, {"apps/v1.Deployment": 1}, 1),
    ]


@pytest.mark.parametrize(("duration", "width"), [(0, 1), (29, 1), (30, 2), (25 * 60, 60), (30 * 60, 120), (10**7, 344_828)])
def test_bucket_width_keeps_at_most_30_buckets(duration: int, width: int) -> None:
    assert activity.bucket_width(duration) == width
    assert duration // width + 1 <= activity.MAX_BUCKETS


def test_timeline_renders_with_bucket_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "t.sktrace"
    path.write_bytes(codec.encode(trace_for_views()))
    assert main(["xray", str(path), "--bucket", "10s", "--no-browse"]) == 0
    out = capsys.readouterr().out
    assert "activity (buckets of 10 s; +applied -deleted)" in out
    rows = [line for line in out.splitlines() if "1970-01-01T00:1" in line and "│" in line]
    assert [[cell.strip() for cell in row.split("│")[1:-1]] for row in rows] == [
        ["1970-01-01T00:16:40Z", "█" * 30, "+3", "+1"],
        ["1970-01-01T00:16:50Z", "█" * 15, "+1", "-1"],
        ["1970-01-01T00:17:00Z", "█" * 8, "-1", ""],
    ]


def test_events_list_names_objects(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = activity.event_rows(trace_for_views(), marks={(0, 2): ["W0000"]})
    assert [(r["event"], r["offset_seconds"], r["action"], r["gvk"], r["object"], r["marks"]) for r in rows] == [
        (0, 0, "applied", "apps/v1.Deployment", "shop/web", []),
        (0, 0, "applied", "apps/v1.Deployment", "shop/api", []),
        (0, 0, "applied", "v1.Pod", "shop/solo", ["W0000"]),
        (1, 3, "applied", "apps/v1.Deployment", "shop/web", []),
        (2, 12, "applied", "apps/v1.Deployment", "shop/web", []),
        (2, 12, "deleted", "v1.Pod", "shop/solo", []),
        (3, 25, "deleted", "apps/v1.Deployment", "shop/api", []),
    ]
    path = tmp_path / "t.sktrace"
    path.write_bytes(codec.encode(trace_for_views()))
    assert main(["xray", str(path), "--events", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["event_list"] == rows_without_marks(rows)
    assert main(["xray", str(path), "--events"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["event", "time", "+s", "action", "GVK", "object"]
    assert [line.split()[5] for line in out.splitlines()[1:]] == [
        "shop/web", "shop/api", "shop/solo", "shop/web", "shop/web", "shop/solo", "shop/api"
    ]


def rows_without_marks(rows: list[dict]) -> list[dict]:
    return [dict(r, marks=[]) for r in rows]


def test_deleted_version_and_mention_diff() -> None:
    trace = trace_for_views()
    (history,) = activity.object_history(trace, "shop/api")
    assert [(v["event"], v["action"]) for v in history["versions"]] == [(0, "applied"), (3, "deleted")]
    assert history["versions"][1]["diff"] == []  # deleted as last seen
    rows = activity.event_rows(trace)
    previous = activity.previous_rows(rows)
    assert previous == [None, None, None, 0, 3, 2, 1]
    assert activity.mention_diff(trace, rows[4], rows[previous[4]]) == [
        "--- shop/web @ 1970-01-01T00:16:43Z (event 1, applied)",
        "+++ shop/web @ 1970-01-01T00:16:52Z (event 2, applied)",
        "@@ -4,4 +4,4 @@",
        "   name: web",
        "   namespace: shop",
        " spec:",
        "-  replicas: 3",
        "+  replicas: 2",
    ]


def test_trace_strings_are_never_markup_or_escape_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    evil = "[bold red]x[/bold red]\x1b[31mred"
    obj = {"apiVersion": "v1", "kind": "Pod", "metadata": {"namespace": "ns", "name": evil, "labels": {"a": evil}}}
    path = tmp_path / "t.sktrace"
    path.write_bytes(codec.encode(Trace(events=[new_event(5, [obj])])))
    for args in (["--events"], ["--object", f"ns/{evil}"], ["--no-browse"]):
        assert main(["xray", str(path), *args]) == 0
        out = capsys.readouterr().out
        assert "\x1b" not in out
        if args[0] == "--events":
            assert out.splitlines()[1].endswith("ns/[bold red]x[/bold red]\\x1b[31mred")
        if args[0] == "--object":
            assert 'a: "[bold red]x[/bold red]\\e[31mred"' in out


@pytest.mark.parametrize(
    ("args", "word"),
    [
        (["--object", "/web"], "NAMESPACE/NAME"),
        (["--object", "shop/"], "NAMESPACE/NAME"),
        (["--object", "shop/nope"], "no object shop/nope"),
        (["--bucket", "0s"], "--bucket"),
        (["--browse"], "needs a terminal"),
    ],
)
def test_bad_input_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], word: str) -> None:
    path = tmp_path / "t.sktrace"
    path.write_bytes(codec.encode(trace_for_views()))
    assert main(["xray", str(path), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert word in err and "\n" not in err


def test_marks_from_validation_findings() -> None:
    from dataclasses import dataclass

    @dataclass
    class Finding:  # the shape skctl validate reports: event index, applied position, code
        event: int
        obj: int
        code: str

    marks = activity.marks_from_findings([Finding(0, 2, "W0000"), Finding(0, 2, "E0001"), Finding(0, 2, "W0000"), Finding(2, 0, "E0004")])
    assert marks == {(0, 2): ["W0000", "E0001"], (2, 0): ["E0004"]}
    rows = activity.event_rows(trace_for_views(), marks)
    assert [(r["event"], r["object"], r["marks"]) for r in rows if r["marks"]] == [
        (0, "shop/solo", ["W0000", "E0001"]),
        (2, "shop/web", ["E0004"]),
    ]


def test_timeline_columns_tell_same_kinds_apart(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # room for the long headers (rich reads it when not on a terminal)
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"namespace": "a", "name": "j"}}
    vcjob = {"apiVersion": "batch.volcano.sh/v1alpha1", "kind": "Job", "metadata": {"namespace": "a", "name": "v"}}
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"namespace": "a", "name": "p"}}
    path = tmp_path / "t.sktrace"
    path.write_bytes(codec.encode(Trace(events=[new_event(0, [job, vcjob, pod])])))
    assert main(["xray", str(path), "--no-browse"]) == 0
    header = next(line for line in capsys.readouterr().out.splitlines() if "┃ from" in line)
    assert [cell.strip() for cell in header.split("┃")[1:-1]] == ["from", "activity", "batch.volcano.sh/v1alpha1.Job", "batch/v1.Job", "Pod"]


def test_events_show_validation_marks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An applied object with a status fails W0000 (skctl validate); xray --events marks that row."""
    ok = {"apiVersion": "v1", "kind": "Pod", "metadata": {"namespace": "a", "name": "ok"}, "spec": {}}
    with_status = {"apiVersion": "v1", "kind": "Pod", "metadata": {"namespace": "a", "name": "st"}, "spec": {}, "status": {}}
    path = tmp_path / "t.sktrace"
    path.write_bytes(codec.encode(Trace(events=[new_event(0, [ok, with_status])])))
    assert main(["xray", str(path), "--events", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["event_list"]
    assert [(r["object"], r["marks"]) for r in rows] == [("a/ok", []), ("a/st", ["W0000"])]
    assert main(["xray", str(path), "--events"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[-1] == "marks"
    assert [line.split()[-1] for line in lines[1:]] == ["-", "W0000"]


@pytest.mark.parametrize("key", ["dsb/nginx-thrift", "dsb/no-such-object"])
def test_object_history_of_a_v3_trace_streams_with_the_same_output(
        reference_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], key: str) -> None:
    """A version-3 file is read chunk by chunk for --object (only the object's versions are
    held); what it prints, or refuses, is what the version-2 file gives."""
    from skctl.trace import load

    trace = load.decode_any((reference_dir / "dsb-scaling.sktrace").read_bytes())[0]
    outputs = []
    for version in (2, 3):
        path = tmp_path / f"v{version}.sktrace"
        path.write_bytes(load.encode_as(trace, "cbor", version=version))
        code = main(["xray", str(path), "--object", key])
        out, err = capsys.readouterr()
        outputs.append((code, out, err.replace(str(path), "PATH")))
    assert outputs[0] == outputs[1]
    assert outputs[0][0] == (0 if key == "dsb/nginx-thrift" else 2)


@pytest.mark.parametrize("args", [[], ["--json"], ["--json", "--bucket", "7s"]])
def test_summary_of_a_v3_trace_streams_with_the_same_output(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    """A multi-chunk version-3 file is summarised in one pass over its chunks; the summary,
    timeline and validation findings are those of the same trace in version 2."""
    from skctl.trace import format3, load, synth

    trace = synth.generate(2 * format3.CHUNK_EVENTS + 100, objects=40)
    trace.events[5]["applied_objs"][0] = {**trace.events[5]["applied_objs"][0], "status": {"phase": "Running"}}  # W0000
    outputs = []
    for version in (2, 3):
        path = tmp_path / f"v{version}.sktrace"
        path.write_bytes(load.encode_as(trace, "cbor", version=version))
        assert main(["xray", str(path), "--no-browse", *args]) == 0
        outputs.append(capsys.readouterr().out.replace(str(path), "PATH"))
    assert outputs[0] == outputs[1]
    if args:
        doc = json.loads(outputs[1])
        assert doc["events"] == len(trace.events) and doc["validation"]["counts"]
