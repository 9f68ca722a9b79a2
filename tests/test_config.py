"""Tracer config: SimKube's file format, built-in template paths, wildcard pointers."""

from __future__ import annotations

from pathlib import Path

import pytest

from skctl.base.errors import InputError
from skctl.cli.main import main
from skctl.kube.pointers import resolve_pointer
from skctl.trace import tracked as cfg
from skctl.trace.load import read_trace
from skctl.tracer.config import MAX_CONFIG_BYTES, load_config


def _write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "config.yml"
    path.write_text(text)
    return str(path)


def test_reference_config_loads(reference_dir: Path) -> None:
    conf = load_config(str(reference_dir / "tracer-config.yml"))
    assert set(conf.tracked_objects) == {"apps/v1.Deployment", "apps/v1.StatefulSet", "batch/v1.CronJob"}
    assert conf.track_lifecycle("batch/v1.CronJob")
    assert not conf.track_lifecycle("apps/v1.Deployment")
    assert conf.template_paths("batch/v1.CronJob") == ("/spec/jobTemplate/spec/template",)
    assert conf.template_paths("apps/v1.Deployment") == ("/spec/template",)
    # the trace's own config section round-trips through the same parser
    assert conf.to_document()["trackedObjects"]["batch/v1.CronJob"] == {"trackLifecycle": True}


@pytest.mark.parametrize("name", ["cronjob.sktrace", "bare-pods.sktrace", "dsb-scaling.sktrace"])
def test_trace_configs_parse(reference_dir: Path, name: str) -> None:
    trace = read_trace(str(reference_dir / name))
    conf = cfg.config_of_trace(trace)
    assert conf.tracked_objects
    for _ts, _kind, obj in trace.iter_objects():
        templates = cfg.find_pod_templates(obj, config=conf)
        assert templates, obj["kind"]
        for _at, template in templates:
            assert "containers" in template["spec"]


def test_builtin_defaults() -> None:
    assert cfg.default_template_paths("v1.Pod") == ("",)
    assert cfg.default_template_paths("apps/v1.ReplicaSet") == ("/spec",)
    assert cfg.default_template_paths("batch/v1.CronJob") == ("/spec/jobTemplate/spec/template",)
    for gvk in ("apps/v1.DaemonSet", "apps/v1.Deployment", "batch/v1.Job", "apps/v1.StatefulSet"):
        assert cfg.default_template_paths(gvk) == ("/spec/template",)
    assert cfg.default_template_paths("example.com/v1.Widget") == ()


def test_full_settings_and_wildcards(tmp_path: Path) -> None:
    conf = load_config(
        _write(
            tmp_path,
            """
trackedObjects:
  batch.volcano.sh/v1alpha1.Job:
    podSpecTemplatePaths: ["/spec/tasks/*/template"]
    trackLifecycle: true
  v1.Pod:
    podSpecTemplatePaths: [""]
    skipOwned: true
  apps/v1.Deployment:
""",
        )
    )
    vj = conf.tracked_objects["batch.volcano.sh/v1alpha1.Job"]
    assert vj.pod_spec_template_paths == ("/spec/tasks/*/template",) and vj.track_lifecycle and not vj.skip_owned
    assert conf.skip_owned("v1.Pod")
    obj = {
        "apiVersion": "batch.volcano.sh/v1alpha1",
        "kind": "Job",
        "spec": {
            "tasks": [
                {"name": "a", "template": {"spec": {"containers": [{"name": "a"}]}}},
                {"name": "b", "template": {"spec": {"containers": [{"name": "b"}]}}},
                {"name": "c"},
            ]
        },
    }
    found = cfg.find_pod_templates(obj, config=conf)
    assert [at for at, _ in found] == ["/spec/tasks/0/template", "/spec/tasks/1/template"]
    found[1][1]["spec"]["nodeSelector"] = {"x": "y"}  # the templates are the object's own dicts
    assert obj["spec"]["tasks"][1]["template"]["spec"]["nodeSelector"] == {"x": "y"}


def test_replicaset_spec_path_reaches_template() -> None:
    rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "spec": {"template": {"spec": {"containers": []}}}}
    (at, template), = cfg.find_pod_templates(rs)
    assert at == "/spec/template" and template is rs["spec"]["template"]
    # an explicit /spec/template for ReplicaSet names the same template: not a disagreement
    conf = cfg.parse_config({"trackedObjects": {"apps/v1.ReplicaSet": {"podSpecTemplatePaths": ["/spec/template"]}}})
    assert cfg.find_pod_templates(rs, config=conf)[0][1] is rs["spec"]["template"]


def test_pod_is_its_own_template() -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": []}}
    assert cfg.find_pod_templates(pod) == [("", pod)]


def test_pointer_escapes_and_indices() -> None:
    doc = {"a/b": {"m~n": [1, {"x": 2}]}}
    assert resolve_pointer(doc, "/a~1b/m~0n/1/x") == [("/a~1b/m~0n/1/x", 2)]
    assert resolve_pointer(doc, "/a~1b/m~0n/*") == [("/a~1b/m~0n/0", 1), ("/a~1b/m~0n/1", {"x": 2})]
    assert resolve_pointer(doc, "/missing/x") == []
    assert resolve_pointer(doc, "/a~1b/m~0n/7") == []


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("trackedObjects:\n  apps/v1.Deployment:\n    podSpecTemplatePaths: [/spec/tmpl]\n", "disagrees"),
        ("trackedObjects:\n  batch/v1.CronJob:\n    podSpecTemplatePaths: [/spec/template]\n", "disagrees"),
        ("trackedObjects:\n  v1.Pod:\n    podSpecTemplatePaths: [/spec]\n", "disagrees"),
        ("trackedObjects:\n  Deployment: {}\n", "not a GVK"),
        ("trackedObjects:\n  apps/v1.Deployment:\n    trackLifecyle: true\n", "unknown key"),
        ("trackedObjects:\n  apps/v1.Deployment:\n    trackLifecycle: yes please\n", "true or false"),
        ("trackedObjects:\n  x.io/v1.W:\n    podSpecTemplatePaths: spec/template\n", "list of strings"),
        ("trackedObjects:\n  x.io/v1.W:\n    podSpecTemplatePaths: [spec/template]\n", "JSON pointer"),
        ("trackedObjects:\n  x.io/v1.W:\n    podSpecTemplatePaths: [/spec/a~2b]\n", "JSON pointer"),
        ("trackedObjects: [1, 2]\n", "mapping"),
        ("tracked: {}\n", "unknown key"),
        ("- 1\n", "mapping"),
        ("trackedObjects: {a: [\n", "not valid YAML"),
        # nested past Python's recursion limit: PyYAML's RecursionError was an "internal error"
        ("trackedObjects: " + "[" * 10_000 + "]" * 10_000 + "\n", "nested too deeply"),
        ("a: " + "{a: " * 3000 + "1" + "}" * 3000 + "\n", "nested too deeply"),
        # a huge file (a trace or a log given by mistake) is refused unread past the bound
        ("#" + "x" * MAX_CONFIG_BYTES + "\ntrackedObjects: {}\n", "larger than 16 MiB"),
    ],
)
def test_bad_configs(tmp_path: Path, text: str, fragment: str) -> None:
    with pytest.raises(InputError) as info:
        load_config(_write(tmp_path, text))
    assert fragment in str(info.value)
    assert "\n" not in str(info.value).strip()


@pytest.mark.timeout(30)
def test_dev_zero_is_refused_not_read_for_ever() -> None:
    with pytest.raises(InputError, match="/dev/zero is larger than 16 MiB"):
        load_config("/dev/zero")


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no file"):
        load_config(str(tmp_path / "nope.yml"))


def test_lenient_for_embedded_configs() -> None:
    conf = cfg.parse_config({"trackedObjects": {"v1.Pod": {"futureKey": 1}}, "other": 2}, strict=False)
    assert "v1.Pod" in conf.tracked_objects


@pytest.mark.parametrize("gvk", ["/v1.Secret", "v1.Secret", "v1.secret"])
def test_secret_is_refused_however_it_is_spelled(gvk: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(f"trackedObjects:\n  {gvk}: {{}}\n")
    kubeconfig = tmp_path / "kc"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"
                          "users: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n"
                          "current-context: x\n")
    assert main(["trace", "-c", str(config), "--kubeconfig", str(kubeconfig), "--journal", str(tmp_path / "j")]) == 2
    err = capsys.readouterr().err
    assert "Secret data is never recorded" in err
