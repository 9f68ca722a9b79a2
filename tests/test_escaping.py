"""Issue 12, class 5: xray shows strings from a trace or the user as written.

Each row puts one hostile string where xray prints it (the path, a namespace, a kind, an
owner) and checks that the text appears literally, with no rich markup applied and no
terminal control character passed through.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from skctl.cli.main import main
from skctl.trace import codec
from skctl.trace.model import Trace, new_event

ESC = "\x1b"

HOSTILE = [
    # (name, string, what the output must show instead)
    ("square bracket", "a[b", "a[b"),
    ("markup-looking word", "[prod]", "[prod]"),
    ("closing tag", "[/bold]x", "[/bold]x"),
    ("link markup", "[link=https://evil.example]click[/link]", "[link=https://evil.example]click[/link]"),
    ("ANSI colour", f"{ESC}[31mred{ESC}[0m", "\\x1b[31mred\\x1b[0m"),
    ("OSC hyperlink", f"{ESC}]8;;https://evil.example{ESC}\\x{ESC}]8;;{ESC}\\", "\\x1b]8;;https://evil.example"),
    ("OSC title with BEL", f"{ESC}]0;pwned\x07", "\\x1b]0;pwned\\x07"),
    ("bidi override", "abc\u202edcba", "abc\\u202edcba"),
]


def hostile_trace(text: str) -> Trace:
    obj = {"apiVersion": "v1", "kind": f"Kind{text}", "metadata": {"name": f"n{text}", "namespace": f"ns{text}"}}
    return Trace(
        config={"trackedObjects": {}},
        events=[new_event(1_750_000_000, [obj])],
        index={f"v1.Kind{text}": {f"ns{text}/n{text}": 1}},
        pod_lifecycles={(f"v1.Kind{text}", f"ns{text}/n{text}"): {7: [{"start_ts": 1_750_000_001, "end_ts": None}]}},
    )


@pytest.mark.parametrize("where", ["path", "trace strings"])
@pytest.mark.parametrize("name, text, shown", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_xray_prints_hostile_strings_literally(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str, name: str, text: str, shown: str
) -> None:
    if where == "path":
        directory = tmp_path / f"dir{text}".replace("/", "_")
        directory.mkdir()
        path = directory / "t.sktrace"
        path.write_bytes(codec.encode(hostile_trace("plain")))
    else:
        path = tmp_path / "t.sktrace"
        path.write_bytes(codec.encode(hostile_trace(text)))

    assert main(["xray", str(path)]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert ESC not in out and "\x07" not in out and "\u202e" not in out
    expected = shown.replace("/", "_") if where == "path" else shown
    assert expected in out.replace("\n", ""), out
    if where == "trace strings":
        # every place: namespace, kind (objects table), owner (lifecycles table)
        assert f"ns{shown}" in out and f"v1.Kind{shown}" in out, out


def test_error_lines_make_control_characters_visible(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / f"no{ESC}]0;pwned\x07such"
    assert main(["xray", str(path)]) == 2
    err = capsys.readouterr().err
    assert ESC not in err and "\x07" not in err
    assert "\\x1b]0;pwned\\x07" in err


# --- issue 22, class 7: every surface escapes, not only xray --------------------------------

CONTROL = [h for h in HOSTILE if h[0] in ("ANSI colour", "OSC title with BEL", "bidi override")]
RAW = (ESC, "\x07", "\u202e")


def _clean(text: str) -> bool:
    return not any(c in text for c in RAW)


def _secret_trace(text: str) -> Trace:
    """A Deployment whose pod template names a Secret that the trace never creates (a
    validate finding that prints the Secret's name)."""
    dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"},
           "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i", "env": [
               {"name": "A", "valueFrom": {"secretKeyRef": {"name": f"s{text}", "key": "k"}}}]}]}}}}
    return Trace(config={"trackedObjects": {"apps/v1.Deployment": {}}}, events=[new_event(1_750_000_000, [dep])])


SURFACES = {
    "validate findings": lambda tmp, text: ["validate", str(tmp / "t.sktrace")],
    "validate --fix success line": lambda tmp, text: ["validate", str(tmp / "t.sktrace"), "--fix",
                                                      str(tmp / f"fixed{text}.sktrace")],
    "convert success line": lambda tmp, text: ["convert", str(tmp / "t.sktrace"), str(tmp / f"out{text}.msgpack")],
    "argparse unknown argument": lambda tmp, text: ["xray", str(tmp / "t.sktrace"), f"--bogus{text}"],
    "argparse bad value": lambda tmp, text: ["example", "-o", str(tmp / "x.sktrace"), "--events", f"1{text}"],
    "argparse bad choice": lambda tmp, text: ["convert", "a", "b", "--to", f"c{text}"],
    "argparse value with a newline": lambda tmp, text: ["example", "-o", str(tmp / "x.sktrace"), "--events",
                                                        f"1\nskctl: fake line{text}"],
}


@pytest.mark.parametrize("surface", list(SURFACES))
@pytest.mark.parametrize("name, text, shown", CONTROL, ids=[h[0] for h in CONTROL])
def test_every_surface_escapes_control_characters(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], surface: str, name: str, text: str, shown: str,
) -> None:
    (tmp_path / "t.sktrace").write_bytes(codec.encode(_secret_trace(text)))
    main(SURFACES[surface](tmp_path, text))
    out, err = capsys.readouterr()
    assert _clean(out) and _clean(err), (out, err)
    assert shown in out + err, (out, err)
    if surface.startswith("argparse"):
        assert len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize("name, text, shown", CONTROL, ids=[h[0] for h in CONTROL])
def test_log_lines_escape_control_characters(capsys: pytest.CaptureFixture[str], name: str, text: str,
                                             shown: str) -> None:
    """drive's warnings (and every other log line) go through the one formatter (skctl.base.logs)."""
    import logging

    from skctl.base.logs import configure_logging

    root = logging.getLogger()
    saved = root.handlers[:]
    root.handlers.clear()
    try:
        configure_logging("warn")
        logging.getLogger("skctl.sim.driver").warning("cannot apply %s", f"Deployment shop/web{text}")
    finally:
        root.handlers[:] = saved
    err = capsys.readouterr().err
    assert _clean(err) and shown in err, err
