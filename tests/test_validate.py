"""`skctl validate` and xray's validation marks: SimKube's rule cases (sk-cli validation rule tests) as tables."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from skctl.base.errors import InputError
from skctl.cli.main import main
from skctl.trace import validate
from skctl.trace.codec import encode
from skctl.trace.load import read_trace
from skctl.trace.model import Trace, new_event
from tests.helpers import deployment


def resource(kind: str, name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": kind, "metadata": {"name": name, "namespace": "test"}}


EVERYTHING = {
    "containers": [{
        "name": "c",
        "env": [
            {"name": "SECRET1", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "k1"}}},
            {"name": "PLAIN", "value": "bar"},
            {"name": "CONF1", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "k"}}},
        ],
        "envFrom": [{"configMapRef": {"name": "more-settings"}}, {"secretRef": {"name": "more-creds"}}],
        "volumeMounts": [{"name": "secret-vol", "mountPath": "/s"}, {"name": "conf-vol", "mountPath": "/c"},
                         {"name": "host", "mountPath": "/h"}],
    }],
    "serviceAccountName": "robot",
    "volumes": [
        {"name": "host", "hostPath": {"path": "/x"}},
        {"name": "secret-vol", "secret": {"secretName": "tls"}},
        {"name": "conf-vol", "configMap": {"name": "files"}},
    ],
}

CASES = [
    # (SimKube test it restates, events, expected (event, code, missing) findings)
    ("test_status_field_populated", [new_event(1, [deployment("web", "test", pod_spec={}, status={"availableReplicas": 3})])],
     [(0, "W0000", None)]),
    ("test_status_field_not_populated", [new_event(1, [deployment("web", "test", pod_spec={})])], []),
    ("test_service_account_missing (serviceAccountName)", [new_event(2, [deployment("web", "test", pod_spec={"serviceAccountName": "robot"})])],
     [(0, "E0001", "ServiceAccount test/robot")]),
    ("test_service_account_missing (serviceAccount)", [new_event(2, [deployment("web", "test", pod_spec={"serviceAccount": "robot"})])],
     [(0, "E0001", "ServiceAccount test/robot")]),
    ("test_service_account_missing_both_keys",
     [new_event(2, [deployment("web", "test", pod_spec={"serviceAccount": "robot", "serviceAccountName": "other"})])],
     [(0, "E0001", "ServiceAccount test/other"), (0, "E0001", "ServiceAccount test/robot")]),
    ("test_service_account_missing_deleted",
     [new_event(0, [resource("ServiceAccount", "robot")]), new_event(1, [], [resource("ServiceAccount", "robot")]),
      new_event(2, [deployment("web", "test", pod_spec={"serviceAccountName": "robot"})])],
     [(2, "E0001", "ServiceAccount test/robot")]),
    ("test_service_account_not_missing",
     [new_event(0, [resource("ServiceAccount", "robot")]), new_event(2, [deployment("web", "test", pod_spec={"serviceAccountName": "robot"})])], []),
    ("test_service_account_not_missing_same_evt",
     [new_event(1, [deployment("web", "test", pod_spec={"serviceAccountName": "robot"}), resource("ServiceAccount", "robot")])], []),
    ("the default ServiceAccount always exists (skctl)", [new_event(1, [deployment("web", "test", pod_spec={"serviceAccountName": "default"})])], []),
    ("every missing resource kind, once each", [new_event(2, [deployment("web", "test", pod_spec=EVERYTHING)])],
     [(0, "E0001", "ServiceAccount test/robot"), (0, "E0002", "Secret test/creds"), (0, "E0002", "Secret test/more-creds"),
      (0, "E0003", "ConfigMap test/settings"), (0, "E0003", "ConfigMap test/more-settings"),
      (0, "E0004", "Secret test/tls"), (0, "E0005", "ConfigMap test/files")]),
    ("a resource in another namespace does not count",
     [new_event(0, [dict(resource("Secret", "tls"), metadata={"name": "tls", "namespace": "elsewhere"})]),
      new_event(1, [deployment("web", "test", pod_spec={"volumes": [{"name": "v", "secret": {"secretName": "tls"}}]})])],
     [(1, "E0004", "Secret test/tls")]),
]


@pytest.mark.parametrize("events,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_rules(events: list, expected: list) -> None:
    findings, _ = validate.check(Trace(events=events))
    assert sorted((f.event, f.code, f.missing) for f in findings) == sorted(expected, key=lambda t: (t[0], t[1], t[2] or ""))


def test_fix_removes_exactly_what_is_missing() -> None:
    present = [resource("ConfigMap", "settings"), resource("Secret", "more-creds")]
    trace = Trace(events=[new_event(1, present), new_event(2, [deployment("web", "test", pod_spec=EVERYTHING, status={"replicas": 1})])])
    before = json.dumps(trace.to_document(), sort_keys=True)
    findings, fixed = validate.check(trace, fix=True)
    assert json.dumps(trace.to_document(), sort_keys=True) == before  # the input is untouched
    assert {f.code for f in findings} == {"W0000", "E0001", "E0002", "E0003", "E0004", "E0005"}
    assert validate.check(fixed)[0] == []
    obj = fixed.events[1]["applied_objs"][0]
    spec = obj["spec"]["template"]["spec"]
    assert "status" not in obj and "serviceAccountName" not in spec
    container = spec["containers"][0]
    # the references to resources the trace has stay; the others go, volumes with their mounts
    assert [e["name"] for e in container["env"]] == ["PLAIN", "CONF1"]
    assert container["envFrom"] == [{"secretRef": {"name": "more-creds"}}]
    assert spec["volumes"] == [{"name": "host", "hostPath": {"path": "/x"}}]
    assert container["volumeMounts"] == [{"name": "host", "mountPath": "/h"}]
    assert fixed.events[0] is trace.events[0]  # unchanged events are shared


@pytest.mark.parametrize("text, code", [("E0001", "E0001"), ("e1", "E0001"), ("W0", "W0000"), (" E0005 ", "E0005")])
def test_parse_code(text: str, code: str) -> None:
    assert validate.parse_code(text) == code


@pytest.mark.parametrize("text", ["E0006", "X0001", "", "E", "W0001"])
def test_unknown_codes(text: str) -> None:
    with pytest.raises(InputError):
        validate.parse_code(text)


def test_cli_check_fix_explain_print(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src, out = tmp_path / "t.sktrace", tmp_path / "fixed.sktrace"
    src.write_bytes(encode(Trace(events=[new_event(1, [deployment("web", "test", pod_spec={"serviceAccountName": "robot"}, status={})])])))
    assert main(["validate", "check", str(src), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["counts"] == {"W0000": 1, "E0001": 1}
    assert main(["val", "check", str(src), "--fix", str(out)]) == 0
    text = capsys.readouterr().out
    assert "service_account_missing (E0001)" in text and "0 findings left" in text
    assert validate.check(read_trace(str(out)))[0] == []
    assert main(["validate", str(src), "--json"]) == 0  # SimKube's shorthand for check
    assert json.loads(capsys.readouterr().out)["counts"] == {"W0000": 1, "E0001": 1}
    assert main(["-v", "warn", "val", "-v", "error", str(src)]) == 0
    assert "status_field_populated (W0000)" in capsys.readouterr().out
    assert main(["validate", "explain", "e1"]) == 0
    assert "service_account_missing (E0001" in capsys.readouterr().out
    assert main(["validate", "explain", "E9"]) == 2
    assert "unknown validation code" in capsys.readouterr().err
    assert main(["validate", "print", "-f", "json"]) == 0
    assert [r["code"] for r in json.loads(capsys.readouterr().out)] == ["W0000", "E0001", "E0002", "E0003", "E0004", "E0005",
                                                                       "E0100"]


def test_xray_marks_failing_events(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "t.sktrace"
    events = [new_event(1, [resource("Secret", "tls")]), new_event(5, [deployment("web", "test", pod_spec={"serviceAccountName": "robot"})]),
              new_event(9, [deployment("ok", "test", pod_spec={})])]
    src.write_bytes(encode(Trace(events=events)))
    assert main(["xray", str(src), "--json"]) == 0
    validation = json.loads(capsys.readouterr().out)["validation"]
    assert validation["counts"] == {"E0001": 1}
    assert [(row["event"], row["ts"], row["codes"]) for row in validation["events"]] == [(1, 5, ["E0001"])]
    assert main(["xray", str(src)]) == 0
    assert "events failing validation" in capsys.readouterr().out


def test_reference_traces_are_clean(reference_dir: Path) -> None:
    for name in ("cronjob.sktrace", "bare-pods.sktrace", "dsb-scaling.sktrace"):
        assert validate.check(read_trace(str(reference_dir / name)))[0] == []


def test_fix_survives_a_volume_whose_name_is_not_a_string() -> None:
    """Found by the fuzz suite: --fix drops a volume whose ConfigMap is absent and the mounts of
    that volume; a volume named by a list (a damaged trace) is dropped without its name being
    looked up, and the other mounts stay."""
    from skctl.trace.model import Trace, new_event

    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "ns"},
           "spec": {"containers": [{"name": "c", "image": "i", "volumeMounts": [{"name": "cfg", "mountPath": "/a"},
                                                                                 {"name": "odd", "mountPath": "/b"}]}],
                    "volumes": [{"name": ["odd"], "configMap": {"name": "missing-1"}},
                                {"name": "cfg", "configMap": {"name": "missing-2"}}]}}
    trace = Trace(events=[new_event(1, [pod])], config={"trackedObjects": {"v1.Pod": {"podSpecTemplatePaths": [""]}}})
    findings, fixed = validate.check(trace, fix=True)
    assert fixed is not None
    (out,) = fixed.events[0]["applied_objs"]
    assert out["spec"]["volumes"] == []
    assert out["spec"]["containers"][0]["volumeMounts"] == [{"name": "odd", "mountPath": "/b"}]
