"""Issue 22, class 5 (unbounded work from small input) and class 10's non-ASCII digits.

Each row is a small input that used to hang, eat memory or end in an internal error; now
each is exit 2 with one line, through the CLI.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from skctl.cli.main import main
from skctl.trace import codec, synth
from skctl.trace.model import Trace, new_event

BOMB = """apiVersion: v1
kind: Config
a: &a ["x","x","x","x","x","x","x","x","x","x"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h,*h]
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
"""


@pytest.fixture
def long_trace(tmp_path: Path) -> Path:
    """Two events ten years apart: one bucket per second would be 315 million."""
    path = tmp_path / "long.sktrace"
    dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": "n"}, "spec": {}}
    path.write_bytes(codec.encode(Trace(events=[new_event(1_400_000_000, [dep]),
                                                new_event(1_715_000_000, [], [dep])])))
    return path


@pytest.fixture
def trace_file(tmp_path: Path) -> Path:
    path = tmp_path / "t.sktrace"
    path.write_bytes(codec.encode(synth.generate(events=10, objects=3)))
    return path


CASES = {
    "kubeconfig alias bomb": (lambda tmp, t, long: ["delete", "sim1", "--kubeconfig", str(tmp / "bomb.yaml")],
                              ("YAML bomb",)),
    "xray --bucket 1s over ten years": (lambda tmp, t, long: ["xray", "--json", "--bucket", "1s", str(long)],
                                        ("--bucket 1s", "the most is 10000")),
    "a GNU relative time of 300 digits": (
        lambda tmp, t, long: ["export", "--from", str(t), "-s", "1" * 300 + " days ago", "-t", "now", "-o",
                              str(tmp / "o.sktrace")], ("--start-time",)),
    "a GNU relative time of 5000 digits": (
        lambda tmp, t, long: ["export", "--from", str(t), "-s", "9" * 5000 + " seconds", "-t", "now", "-o",
                              str(tmp / "o.sktrace")], ("--start-time",)),
    "a storage option of 100,000 [": (
        lambda tmp, t, long: ["convert", str(t), str(tmp / "o.msgpack"), "--storage-option", "a=" + "[" * 100_000],
        ("--storage-option a", "nests too deeply")),
    "Arabic-Indic start seconds": (lambda tmp, t, long: ["example", "-o", str(tmp / "o.sktrace"), "--start-ts", "١٢٣"],
                                   ("--start-ts",)),
    "full-width export start": (lambda tmp, t, long: ["export", "--from", str(t), "-s", "１７５００００００", "-t", "now",
                                                      "-o", str(tmp / "o.sktrace")], ("--start-time",)),
    "Arabic-Indic event count": (lambda tmp, t, long: ["example", "-o", str(tmp / "o.sktrace"), "--events", "١٠"],
                                 ("--events",)),
    "Arabic-Indic GNU count": (lambda tmp, t, long: ["export", "--from", str(t), "-s", "١ days ago", "-t", "now",
                                                     "-o", str(tmp / "o.sktrace")], ("--start-time",)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_small_hostile_input_is_one_line_and_exit_2(tmp_path: Path, trace_file: Path, long_trace: Path,
                                                    capsys: pytest.CaptureFixture[str], name: str) -> None:
    (tmp_path / "bomb.yaml").write_text(BOMB)
    argv, words = CASES[name]
    assert main(argv(tmp_path, trace_file, long_trace)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "internal error" not in err[0], err
    for word in words:
        assert word in err[0], err[0]
    assert not (tmp_path / "o.sktrace").exists() and not (tmp_path / "o.msgpack").exists()


def test_an_explicit_bucket_within_the_bound_still_works(long_trace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["xray", "--json", "--bucket", "1d", str(long_trace)]) == 0
    assert '"bucket_seconds": 86400' in capsys.readouterr().out
