"""SimKube's trace transform language (SKEL, skctl.trace.skel): SimKube's own sk-skel test cases
restated as tables of facts (program, object in, object out), plus the reference traces."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from skctl.trace import skel
from skctl.trace.model import Trace
from tests.helpers import reference_dir

TS = 1234


def one(program: str, obj: dict[str, Any], ts: int = TS, start: int = TS) -> dict[str, Any] | None:
    """`obj` after the first command of `program`, applied in an event at `ts`."""
    out = skel.parse(program).apply_event({"ts": ts, "applied_objs": [obj], "deleted_objs": []}, start)
    return out["applied_objs"][0] if out["applied_objs"] else None


# --- grammar: programs SimKube's parser accepts, and refuses ---------------------------------

PARSES = [
    "# foo bar",
    "remove(status);",
    "remove(*, spec.template.spec);",
    'remove(spec.template.spec.nodeSelector."simkube.dev/foo" == "bar", metadata.labels);',
    'remove(@t >= 12345\n   && @t <= 45677\n   && spec.template.spec.nodeSelector."simkube.dev/foo" == "bar",\n metadata);',
    "remove(!exists(spec.template.tolerations), metadata.labels);",
    "remove(@t == 1 && exists(spec.template.tolerations), metadata.labels);",
    'remove(exists(spec.template.spec.containers[*].env[*].valueFrom.secretKeyRef), metadata.labels."simkube.io/dev");',
    "remove($x := spec.template.spec.containers[*].env[*] | exists($x.valueFrom.secretKeyRef), $x);",
    "remove($x := spec.template.spec.containers[*].env[*] | !exists($x.valueFrom.secretKeyRef), $x);",
    'remove(@t >= 10m\n && spec.template.spec.nodeSelector."simkube.dev/foo" == "bar"\n'
    " && $p := spec.template.spec.tolerations[*] | $p.key <= 1234,\n $p.value);",
    "remove($x := spec.template.spec.volumes[*] | exists($x.secret)\n"
    " && $y := spec.template.spec.containers[*].volumeMounts[*] | $y.name == $x.name,\n $y);",
    'modify(@t >= 10m && spec.template.spec.nodeSelector."simkube.dev/foo" == "bar",\n'
    ' spec.template.spec.nodeSelector."simkube.dev/foo" = "baz");',
    'delete(@t >= 10m && spec.template.spec.nodeSelector."simkube.dev/foo" == "bar");',
]

REFUSED = [
    "remove(status",
    'remove(* && status == "foo", metadata);',
    "remove(@status);",
    "remove(sta%tus);",
    "remove($x := spec.template.spec.volumes[*] | exists($x.secret), spec.template.spec.$x);",
    "remove($x := spec.template.spec.volumes[*] | exists($x.secret)\n"
    " && $y := spec.template.spec.containers[*].volumeMounts[*] | $y.name == /foo/bar/baz,\n $y);",
    "remove($x := spec.template.spec.volumes[*] | exists($x.secret)\n"
    ' && $y := spec.template.spec.containers[*].volumeMounts[*] | $y.name == "asdf",\n $x.$y);',
]


@pytest.mark.parametrize("program", PARSES)
def test_simkube_programs_parse(program: str) -> None:
    assert isinstance(skel.parse(program), skel.Program)


@pytest.mark.parametrize("program", REFUSED)
def test_simkube_bad_programs_are_refused_with_a_line(program: str) -> None:
    with pytest.raises(skel.TransformError) as err:
        skel.parse(program, origin="prog.skel")
    assert str(err.value).startswith("prog.skel: ") and "\n" not in str(err.value)


# --- what the parts mean (SimKube's AST cases) ------------------------------------------------


@pytest.mark.parametrize("path, pointer", [
    ("metadata.namespace", "/metadata/namespace"),
    ("spec.template.spec.containers[*].env[*]", "/spec/template/spec/containers/*/env/*"),
    ('metadata.labels."foo.bar/baz"', "/metadata/labels/foo.bar~1baz"),
    ("meta-data.namespace", "/meta-data/namespace"),
    ("meta_data.namespace", "/meta_data/namespace"),
])
def test_paths_are_json_pointers(path: str, pointer: str) -> None:
    cmd = skel.parse(f"remove({path});").commands[0]
    assert cmd.target is not None and cmd.target.pointer() == pointer


@pytest.mark.parametrize("rhs, value", [('"asdf"', "asdf"), ("1234", 1234), ("tRuE", True), ("False", False)])
def test_values(rhs: str, value: Any) -> None:
    cmd = skel.parse(f"modify(metadata.labels.x = {rhs});").commands[0]
    assert cmd.value == value and type(cmd.value) is type(value)


@pytest.mark.parametrize("cond, ts", [("@t == 1234", 1234), ("@t == 1234s", 2234), ("@t == 123m", 8380), ("@t == 12h", 44200)])
def test_time_conditions_absolute_or_after_the_start(cond: str, ts: int) -> None:
    """With the start at 1000: a bare number is unix seconds, a suffixed one is after the start."""
    program = f"delete({cond});"
    assert one(program, {"metadata": {}}, ts=ts, start=1000) is None
    assert one(program, {"metadata": {}}, ts=ts + 1, start=1000) is not None


@pytest.mark.parametrize("op, event_ts, bound, holds", [
    ("==", 1, 1, True), ("==", 1, 2, False), ("!=", 1, 1, False), ("!=", 1, 2, True),
    (">", 1, 1, False), (">", 1, 2, False), (">", 2, 1, True),
    ("<", 1, 1, False), ("<", 1, 2, True), ("<", 2, 1, False),
    (">=", 1, 1, True), (">=", 1, 2, False), (">=", 2, 1, True),
    ("<=", 1, 1, True), ("<=", 1, 2, True), ("<=", 2, 1, False),
])
def test_time_comparisons(op: str, event_ts: int, bound: int, holds: bool) -> None:
    assert (one(f"delete(@t {op} {bound});", {"metadata": {}}, ts=event_ts) is None) == holds


@pytest.mark.parametrize("program, problem", [
    ("remove($x := metadata.labels | exists($y), status);", "$y is not present"),
    ("remove($x := metadata.labels | exists($x) && $x := metadata.annotations | exists($x), status);",
     "$x already defined"),
    ("remove(metadata.name == $x.path, status);", "$x not defined"),
    ("remove(exists(metadata), $x);", "$x not defined"),
    ("modify(metadata.labels.a = $x);", "$x not defined"),
])
def test_variable_rules(program: str, problem: str) -> None:
    with pytest.raises(skel.TransformError, match=problem.replace("$", r"\$")):
        skel.parse(program)


# --- matching (SimKube's engine cases, on its test object) ------------------------------------

OBJ = {
    "metadata": {"labels": {"foo": "bar"}},
    "spec": {"template": {"spec": {"containers": [
        {"name": "container1"}, {"image": "asdf:latest"}, {"name": "container2"},
    ]}}},
}


@pytest.mark.parametrize("test, holds", [
    ('metadata.labels.foo == "bar"', True), ('metadata.labels.foo != "bar"', False),
    ('metadata.labels.foo == "baz"', False), ('metadata.labels.foo != "baz"', True),
    ("exists(metadata.labels.foo)", True), ("!exists(metadata.labels.foo)", False),
    ('@t == 1235 && metadata.labels.foo == "bar"', False), ('@t != 1235 && metadata.labels.foo == "bar"', True),
])
def test_conditions_on_an_object(test: str, holds: bool) -> None:
    assert (one(f"delete({test});", copy.deepcopy(OBJ)) is None) == holds


@pytest.mark.parametrize("test, kept", [
    # a variable keeps the elements for which its test holds; a missing field never compares
    ('$x.name == "container1"', [{"image": "asdf:latest"}, {"name": "container2"}]),
    ('$x.name != "container1"', [{"name": "container1"}, {"image": "asdf:latest"}]),
    ('$x.name != "container3"', [{"image": "asdf:latest"}]),
    ("exists($x.name)", [{"image": "asdf:latest"}]),
])
def test_variables_stand_for_the_matching_elements(test: str, kept: list[dict[str, Any]]) -> None:
    out = one(f"remove($x := spec.template.spec.containers[*] | {test}, $x);", copy.deepcopy(OBJ))
    assert out is not None and out["spec"]["template"]["spec"]["containers"] == kept


@pytest.mark.parametrize("test", ['$x.name == "container3"', "!exists($x.name)"])
def test_a_variable_test_that_never_holds_leaves_the_object(test: str) -> None:
    assert one(f"remove($x := spec.template.spec.containers[*] | {test}, $x);", copy.deepcopy(OBJ)) == OBJ


def test_modify_one_element_adds_the_field_and_replace_through_a_variable() -> None:
    added = one('modify(spec.template.spec.containers[1].name = "foo");', copy.deepcopy(OBJ))
    assert added is not None
    assert added["spec"]["template"]["spec"]["containers"][1] == {"image": "asdf:latest", "name": "foo"}
    replaced = one('modify($x := spec.template.spec.containers[*] | exists($x.name), $x.name = "foo");',
                   copy.deepcopy(OBJ))
    assert replaced is not None
    assert replaced["spec"]["template"]["spec"]["containers"] == [
        {"name": "foo"}, {"image": "asdf:latest"}, {"name": "foo"}]


def test_modify_with_more_than_one_value_fails_with_a_line() -> None:
    with pytest.raises(skel.TransformError, match="only one matched value"):
        one("modify($x := spec.template.spec.containers[*] | exists($x.name), metadata.labels.n = $x.name);",
            copy.deepcopy(OBJ))


# --- whole commands on events (SimKube's integration cases) ------------------------------------

SECRET_ENV = {"spec": {"template": {"spec": {"containers": [
    {"env": [{"valueFrom": {"secretKeyRef": "SOME_SECRET"}, "valueTo": 42}, {"FOO": "BAR"}]},
    {"env": [{"ASDF": "QWERTY"}]},
    {"env": [{"FOO": "BAR"}, {"valueFrom": {"secretKeyRef": "SOME_SECRET"}, "valueTo": 67},
             {"valueFrom": {"secretKeyRef": "SOME_SECRET_2"}, "valueTo": 99}]},
]}}}, "status": {"foo": "bar"}, "metadata": {}}

VOLUMES = {"metadata": {}, "spec": {"template": {"spec": {
    "containers": [
        {"volumeMounts": [{"name": "empty", "mountPath": "/foo/bar"}, {"name": "secret", "mountPath": "/etc/shadow"}]},
        {"volumeMounts": [{"name": "empty2", "mountPath": "/baz/buz"}]},
        {"volumeMounts": [{"name": "empty", "mountPath": "/foo/bar"}, {"name": "secret", "mountPath": "/etc/passwd"},
                          {"name": "secret2", "mountPath": "/etc/shadow"}]},
    ],
    "volumes": [{"name": "empty", "emptyDir": {}}, {"name": "empty2", "emptyDir": {}},
                {"name": "secret", "secret": {"secretName": "SOOPER_SECRET"}},
                {"name": "secret2", "secret": {"secretName": "SOOPER_SECRET_2"}}],
}}}}

LABELLED = {"metadata": {"labels": {"simkube.dev/foo": "bar"}}, "status": {"foo": "bar"}}
PLAIN = {"metadata": {}, "status": {"foo": "bar"}}
IN_BAZ = {"metadata": {"namespace": "baz"}, "status": {"foo": "bar"}}


def _env(*containers: list[dict[str, Any]]) -> dict[str, Any]:
    return {"metadata": {}, "status": {"foo": "bar"},
            "spec": {"template": {"spec": {"containers": [{"env": env} for env in containers]}}}}


def _without_status(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k != "status"}


REMOVE_CASES = [
    ("remove(status);", [PLAIN], [{"metadata": {}}]),
    ("remove(*, status);", [PLAIN], [{"metadata": {}}]),
    ('remove(metadata.labels."simkube.dev/foo" == "bar", status);', [PLAIN, LABELLED],
     [PLAIN, _without_status(LABELLED)]),
    ('remove(exists(metadata.labels."simkube.dev/foo"), status);', [PLAIN, LABELLED], [PLAIN, _without_status(LABELLED)]),
    ('remove(!exists(metadata.labels."simkube.dev/foo"), status);', [PLAIN, LABELLED], [{"metadata": {}}, LABELLED]),
    ('remove(@t >= 123 && metadata.namespace == "baz", status);', [PLAIN, IN_BAZ], [PLAIN, _without_status(IN_BAZ)]),
    ('remove(@t < 123 && metadata.namespace == "baz", status);', [PLAIN, IN_BAZ], [PLAIN, IN_BAZ]),
    ("remove(spec.template.spec.containers[*]);", [SECRET_ENV],
     [{"metadata": {}, "status": {"foo": "bar"}, "spec": {"template": {"spec": {"containers": []}}}}]),
    ("remove($x := spec.template.spec.containers[*].env[*] | exists($x.valueFrom.secretKeyRef), $x);", [SECRET_ENV],
     [_env([{"FOO": "BAR"}], [{"ASDF": "QWERTY"}], [{"FOO": "BAR"}])]),
    ("remove($x := spec.template.spec.containers[*].env[*] | exists($x.valueFrom.secretKeyRef), $x.valueFrom);",
     [SECRET_ENV],
     [_env([{"valueTo": 42}, {"FOO": "BAR"}], [{"ASDF": "QWERTY"}], [{"FOO": "BAR"}, {"valueTo": 67}, {"valueTo": 99}])]),
    ('remove($x := spec.template.spec.containers[*].image | $x == "asdf"\n && metadata.labels.image == $x,\n'
     " metadata.labels.image);",
     [{"metadata": {"labels": {"image": "asdf"}}, "spec": {"template": {"spec": {"containers": [{"image": "asdf"}]}}}}],
     [{"metadata": {"labels": {}}, "spec": {"template": {"spec": {"containers": [{"image": "asdf"}]}}}}]),
    ("remove($x := spec.template.spec.volumes[*] | exists($x.secret)\n"
     " && $y := spec.template.spec.containers[*].volumeMounts[*] | $y.name == $x.name,\n $y);", [VOLUMES],
     [{"metadata": {}, "spec": {"template": {"spec": {
         "containers": [{"volumeMounts": [{"name": "empty", "mountPath": "/foo/bar"}]},
                        {"volumeMounts": [{"name": "empty2", "mountPath": "/baz/buz"}]},
                        {"volumeMounts": [{"name": "empty", "mountPath": "/foo/bar"}]}],
         "volumes": VOLUMES["spec"]["template"]["spec"]["volumes"]}}}}]),
]

SELECTOR = {"metadata": {"labels": {"simkube.dev/key": "bar", "other_key": "something_else"}}}
MODIFY_CASES = [
    ('modify(spec.template.spec.nodeSelector."simkube.dev/foo" = "bar");', [{"metadata": {}}],
     [{"metadata": {}, "spec": {"template": {"spec": {"nodeSelector": {"simkube.dev/foo": "bar"}}}}}]),
    ('modify($x := metadata.labels."simkube.dev/key" | exists($x), $x = "baz");', [SELECTOR],
     [{"metadata": {"labels": {"simkube.dev/key": "baz", "other_key": "something_else"}}}]),
    ('modify($x := metadata.labels."simkube.dev/key" | exists($x),\n'
     ' spec.template.spec.nodeSelector."simkube.dev/foo" = $x);',
     [{"metadata": {}}, {"metadata": {"labels": {"simkube.dev/key": "bar"}}}],
     [{"metadata": {}}, {"metadata": {"labels": {"simkube.dev/key": "bar"}},
                         "spec": {"template": {"spec": {"nodeSelector": {"simkube.dev/foo": "bar"}}}}}]),
    ('modify($x := metadata.labels."simkube.dev/key" | exists($x)\n'
     ' && $y := spec.template.spec.containers[*] | $y.args[0] == "PLACEHOLDER",\n $y.args[0] = $x);',
     [{**SELECTOR, "spec": {"template": {"spec": {"containers": [
         {"args": ["PLACEHOLDER", "--foo", "--bar"]}, {"args": ["doit", "-x", "-y"]}]}}}}],
     [{**SELECTOR, "spec": {"template": {"spec": {"containers": [
         {"args": ["bar", "--foo", "--bar"]}, {"args": ["doit", "-x", "-y"]}]}}}}]),
]


@pytest.mark.parametrize("program, objs, expected", REMOVE_CASES + MODIFY_CASES)
def test_commands_on_an_event(program: str, objs: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    event = {"ts": TS, "applied_objs": copy.deepcopy(objs), "deleted_objs": []}
    before = copy.deepcopy(event)
    out = skel.parse(program).apply_event(event, TS)
    assert out == {"ts": TS, "applied_objs": expected, "deleted_objs": []}
    assert event == before  # the input trace is never changed


@pytest.mark.parametrize("program, names", [
    ("delete(*);", []),
    ('delete(metadata.name == "foo");', ["bar"]),
])
def test_delete_drops_objects_and_empty_events(program: str, names: list[str]) -> None:
    trace = Trace(events=[
        {"ts": TS, "applied_objs": [{"metadata": {"name": "foo"}}, {"metadata": {"name": "bar"}}], "deleted_objs": []},
    ])
    out = skel.parse(program).apply_trace(trace)
    assert [o["metadata"]["name"] for e in out.events for o in e["applied_objs"]] == names
    assert len(out.events) == (1 if names else 0)


# --- the reference traces --------------------------------------------------------------------

SANITIZE = """
# SimKube's sanitising transform (examples/sanitize.skel), restated
remove(status);
remove(spec.template.spec.serviceAccountName);
remove($x := spec.template.spec.containers[*].env[*] | exists($x.valueFrom.secretKeyRef), $x);
remove($x := spec.template.spec.volumes[*] | exists($x.secret)
    && $y := spec.template.spec.containers[*].volumeMounts[*] | $y.name == $x.name, $y);
remove($x := spec.template.spec.volumes[*] | exists($x.secret), $x);
"""


def _reference(name: str) -> Trace:
    from skctl.trace.load import read_trace

    return read_trace(str(reference_dir() / name))


@pytest.mark.parametrize("name", ["dsb-scaling.sktrace", "cronjob.sktrace", "bare-pods.sktrace"])
def test_sanitise_reference_traces(name: str) -> None:
    trace = _reference(name)
    out = skel.parse(SANITIZE).apply_trace(trace)
    objs = [o for e in out.events for o in (*e["applied_objs"], *e["deleted_objs"])]
    assert objs and len(objs) == sum(len(e["applied_objs"]) + len(e["deleted_objs"]) for e in trace.events)
    assert not any("status" in o for o in objs)
    assert out.index == trace.index and out.pod_lifecycles == trace.pod_lifecycles


def test_delete_by_kind_and_time_on_a_reference_trace() -> None:
    trace = _reference("dsb-scaling.sktrace")
    first = trace.events[0]["ts"]
    names = sorted({o["metadata"]["name"] for e in trace.events for o in e["applied_objs"]})
    victim = names[0]
    out = skel.parse(f'delete(kind == "Deployment" && metadata.name == "{victim}" && @t >= 1s);').apply_trace(trace)
    def mentions(t: Trace) -> list[tuple[int, str, str]]:
        return [(e["ts"], o.get("kind", ""), o["metadata"]["name"]) for e in t.events for o in e["applied_objs"]]

    victim_late = [m for m in mentions(trace) if m[1:] == ("Deployment", victim) and m[0] >= first + 1]
    assert victim_late  # the case deletes something
    assert mentions(out) == [m for m in mentions(trace) if m not in victim_late]
