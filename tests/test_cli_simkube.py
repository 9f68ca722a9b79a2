"""SimKube's command line works here: its flag names, command aliases, completions and GNU-date times."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from skctl.base.errors import InputError
from skctl.base.timeparse import parse_gnu_relative, parse_time, resolve_window
from skctl.cli.main import build_parser, main
from tests.helpers import SIMKUBE_FLAGS

NOW = 1_781_290_000.0


def parsed(argv: list[str]) -> dict:
    args = vars(build_parser(argv).parse_args(argv))
    args.pop("_run", None)
    args.pop("command", None)
    return args


@pytest.mark.parametrize("simkube, ours", [
    (["export", "--output-path", "t.sktrace"], ["export", "-o", "t.sktrace"]),
    (["ex", "-o", "t"], ["export", "-o", "t"]),
    (["exp", "-o", "t"], ["export", "-o", "t"]),
    (["x", "-o", "t"], ["export", "-o", "t"]),
    (["r", "sim", "-D", "10m", "-s", "5", "-f", "s3://b/t", "-I", "img:1", "-N", "3"],
     ["run", "sim", "--duration", "10m", "--speed", "5", "--trace-path", "s3://b/t", "--driver-image", "img:1",
      "--repetitions", "3"]),
    (["d", "sim"], ["delete", "sim"]),
    (["del", "sim"], ["delete", "sim"]),
    (["rm", "sim"], ["delete", "sim"]),
])
def test_simkube_flags_and_aliases_mean_the_same(simkube: list[str], ours: list[str]) -> None:
    assert parsed(simkube) == parsed(ours)


def test_alias_runs_the_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["r", "sim", "-s", "4", "-D", "90s", "-f", "file:///data/t", "--dry-run", "-o", "json"]) == 0
    out = capsys.readouterr().out
    assert '"--speed"' in out and '"4"' in out and '"--duration"' in out and "/data/t" in out


@pytest.mark.parametrize("text, expected", [
    ("@1781282530", 1781282530),
    ("2 hours ago", NOW - 7200),
    ("1 hour 30 minutes ago", NOW - 5400),
    ("1 day 3 hours ago", NOW - 86400 - 10800),
    ("3 days", NOW + 3 * 86400),
    ("yesterday", NOW - 86400),
    ("today", NOW),
    ("tomorrow", NOW + 86400),
    ("5 mins ago", NOW - 300),
])
def test_gnu_date_forms(text: str, expected: float) -> None:
    assert parse_gnu_relative(text, NOW) == expected
    assert parse_time(text, 0, now=NOW) == expected


@pytest.mark.parametrize("text", ["last tuesday", "2 fortnights hence", "@soon", "ago"])
def test_other_gnu_forms_are_refused_with_the_working_ones(text: str) -> None:
    with pytest.raises(InputError) as err:
        parse_time(text, NOW, "--start-time", now=NOW)
    message = str(err.value)
    assert text in message and "@1714564800" in message and "2 hours ago" in message and "yesterday" in message


def test_gnu_window_for_export() -> None:
    assert resolve_window("2 hours ago", "@1781290000", now=NOW) == (int(NOW - 7200), 1781290000)


def _complete(script: Path, words: list[str]) -> list[str]:
    line = " ".join(f'"{w}"' for w in words)
    out = subprocess.run(
        ["bash", "-c", f'source {script}; COMP_WORDS=({line}); COMP_CWORD={len(words) - 1}; _skctl_complete; '
                       'printf "%s\\n" "${COMPREPLY[@]}"'],
        capture_output=True, text=True, check=True,
    ).stdout
    return sorted(w for w in out.split("\n") if w)


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_bash_completions(tmp_path: Path) -> None:
    script = tmp_path / "skctl.bash"
    script.write_text(subprocess.run([sys.executable, "-m", "skctl", "completions", "bash"],
                                     capture_output=True, text=True, check=True).stdout)
    assert "export" in _complete(script, ["skctl", ""]) and "rm" in _complete(script, ["skctl", ""])
    assert _complete(script, ["skctl", "ex", "--output"]) == ["--output", "--output-path"]
    assert _complete(script, ["skctl", "run", "-o", ""]) == ["json", "yaml"]  # run's -o, not export's
    assert "--speed" in _complete(script, ["skctl", "r", "--sp"])


@pytest.mark.parametrize("shell, marker", [("zsh", "bashcompinit"), ("fish", "complete -c skctl")])
def test_zsh_and_fish_completions(shell: str, marker: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["completions", shell]) == 0
    out = capsys.readouterr().out
    assert marker in out and "export" in out and "--output-path" in out.replace("-l output-path", "--output-path")


def test_completions_needs_a_known_shell(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["completions", "tcsh"]) == 2
    assert "invalid choice: 'tcsh'" in capsys.readouterr().err


def test_lifecycle_flags_reach_the_pods(capsys: pytest.CaptureFixture[str]) -> None:
    """SimKube's --image-pull-*/--pod-startup-* (ms) become the KWOK delay annotations on every pod."""
    import json

    from skctl.sim.mutate import virtual_object
    from skctl.sim.timing import lifecycle_delays

    assert main(["run", "sim", "--dry-run", "-o", "json", "--image-pull-delay", "1500", "--pod-startup-jitter", "20"]) == 0
    objects = json.loads(capsys.readouterr().out)
    objects = objects["items"] if isinstance(objects, dict) and "items" in objects else objects
    job = next(o for o in objects if o["kind"] == "Job")
    args = job["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--image-pull-delay") + 1] == "1500" and args[args.index("--pod-startup-jitter") + 1] == "20"
    assert "--pod-startup-delay" not in args  # 0 is the default and is not passed
    parsed_drive = build_parser(["drive", *args[1:]]).parse_args(["drive", *args[1:]])
    from skctl.cli.commands.run import lifecycle_values

    delays = lifecycle_delays(lifecycle_values(parsed_drive))
    assert delays == {
        "simkube.io/kwok-stage-create-delay": "1500ms",
        "simkube.io/kwok-stage-create-delay-jitter": "0ms",
        "simkube.io/kwok-stage-ready-delay": "0ms",
        "simkube.io/kwok-stage-ready-delay-jitter": "20ms",
    }
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "a"}, "spec": {"containers": []}}
    v = virtual_object(pod, sim_name="s", ns_prefix="virtual", template_paths=("",), delays=delays)
    assert v["metadata"]["annotations"]["simkube.io/kwok-stage-create-delay"] == "1500ms"


@pytest.mark.parametrize("value", ["-1", "1.5", "soon", "4294967296"])
def test_lifecycle_flags_reject_bad_values(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "sim", "--dry-run", "--pod-startup-delay", value]) == 2
    err = capsys.readouterr().err
    # the range is named: '4294967296 is not a whole number (0 or more)' read as nonsense
    assert "--pod-startup-delay" in err and "is not a whole number of milliseconds from 0 to 4294967295" in err


# --- SimKube 2.7's flag list (tests/data/skctl-2.7-flags.txt) against skctl's parser ---

FLAGS_FILE = SIMKUBE_FLAGS


def _simkube_flags() -> list[tuple[str, str]]:
    rows = []
    for line in FLAGS_FILE.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            command, *flags = line.split()
            rows.extend((command, flag) for flag in flags)
    return rows


def _options_of(command: str) -> set[str]:
    import argparse

    root = build_parser([command] if command != "root" else [])
    if command == "root":
        return set(root._option_string_actions)
    sub = next(a for a in root._actions if isinstance(a, argparse._SubParsersAction))
    return set(sub.choices[command]._option_string_actions)


@pytest.mark.parametrize("command, flag", _simkube_flags())
def test_every_simkube_flag_is_accepted(command: str, flag: str) -> None:
    assert flag in _options_of(command), f"SimKube's `skctl {command} {flag}` is unknown to skctl: add it or map it"


# SimKube's documented command lines (its docs/ at 2.7), as a user types them.
SIMKUBE_DOC_LINES = [
    "run my-simulation --reschedule-interrupted-bare-pods",
    "run my-simulation --trace-path s3://your-simkube-bucket/path/to/trace",
    "run my-first-simulation --trace-path s3://your-simkube-bucket/path/to/trace --duration +5m",
    "run my-simulation --disable-metrics",
    "run my-simulation --hooks {hooks}",
    "run my-simulation --start-paused",
    "export -o s3://your-simkube-bucket/path/to/trace",
    "export -o file:///path/to/trace",
    "export -s -1h -t now --excluded-namespaces kube-system -o out.sktrace --transform {skel}",
    "transform cronjob.sktrace {skel} -o output.sktrace",
    "pause my-simulation",
    "resume my-simulation",
    "delete my-simulation",
    "completions bash -o",
]


@pytest.mark.parametrize("line", SIMKUBE_DOC_LINES)
def test_simkube_documented_command_lines_parse_unchanged(line: str, tmp_path: Path) -> None:
    (tmp_path / "hook.yml").write_text("preRunHooks: [{cmd: echo, args: [bar]}]\n")
    (tmp_path / "sanitize.skel").write_text("remove(status);\n")
    argv = line.format(hooks=tmp_path / "hook.yml", skel=tmp_path / "sanitize.skel").split()
    from skctl.cli.main import attach_dash_values

    argv = attach_dash_values(argv)
    args = build_parser(argv).parse_args(argv)
    assert args.command


def test_simkube_duration_after_the_start() -> None:
    args = build_parser(["run", "s", "--duration", "+5m"]).parse_args(["run", "s", "--duration", "+5m"])
    from skctl.sim import manifests

    opts = manifests.RunOptions(name="s", duration=args.duration)
    (job,) = [o for o in manifests.build_manifests(opts) if o["kind"] == "Job"]
    drive_args = job["spec"]["template"]["spec"]["containers"][0]["args"]
    duration = drive_args[drive_args.index("--duration") + 1]
    assert build_parser(["drive", "s", "--duration", duration]).parse_args(["drive", "s", "--duration", duration]).duration == 300
