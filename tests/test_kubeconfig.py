"""Issue 12, class 9: a malformed kubeconfig is exit 2 with what is wrong, never an internal error."""

from __future__ import annotations

from pathlib import Path

import pytest

from skctl.cli.main import main
from tests.helpers import skctl

GOOD_CLUSTER = {"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}
GOOD_USER = {"name": "u", "user": {"token": "t"}}
GOOD_CONTEXT = {"name": "x", "context": {"cluster": "c", "user": "u"}}


def kubeconfig(clusters: object = None, users: object = None, contexts: object = None) -> dict[str, object]:
    return {
        "apiVersion": "v1", "kind": "Config", "current-context": "x",
        "clusters": [GOOD_CLUSTER] if clusters is None else clusters,
        "users": [GOOD_USER] if users is None else users,
        "contexts": [GOOD_CONTEXT] if contexts is None else contexts,
    }


# (name, kubeconfig document, words the one error line must contain)
CASES = [
    ("server is a number", kubeconfig(clusters=[{"name": "c", "cluster": {"server": 5}}]), ("cluster 'c'", "'server' must be a string")),
    ("user is a string", kubeconfig(users=[{"name": "u", "user": "x"}]), ("user 'u'", "'user' must be a mapping")),
    ("token is a list", kubeconfig(users=[{"name": "u", "user": {"token": ["a"]}}]), ("user 'u'", "'token' must be a string")),
    ("context cluster is a map", kubeconfig(contexts=[{"name": "x", "context": {"cluster": {"a": 1}, "user": "u"}}]),
     ("context 'x'", "'cluster' must be a string")),
    ("clusters is a map", kubeconfig(clusters={"c": {}}), ("'clusters' is not a list",)),
    ("entry without a name", kubeconfig(users=[{"user": {}}]), ("an entry of 'users' has no name",)),
    ("gcp auth provider without credentials",
     kubeconfig(users=[{"name": "u", "user": {"auth-provider": {"name": "gcp", "config": {}}}}]), ("auth provider failed",)),
    ("not a mapping", ["a", "b"], ("is not a mapping",)),
]


@pytest.mark.parametrize("name, doc, words", CASES, ids=[c[0] for c in CASES])
def test_malformed_kubeconfig_is_an_input_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    name: str, doc: object, words: tuple[str, ...],
) -> None:
    import yaml

    monkeypatch.setenv("NO_GCE_CHECK", "True")  # google-auth: do not probe a metadata server
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(doc))
    assert main(["delete", "sim1", "--kubeconfig", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "internal error" not in err[0], err
    for word in words:
        assert word in err[0], err[0]


@pytest.mark.parametrize("text", ["clusters: " + "[" * 10_000 + "]" * 10_000 + "\n",
                                  "a: " + "{a: " * 3000 + "1" + "}" * 3000 + "\n"], ids=["lists", "maps"])
def test_a_kubeconfig_nested_past_the_recursion_limit_is_an_input_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str,
) -> None:
    # PyYAML's RecursionError was an "internal error"
    path = tmp_path / "kubeconfig"
    path.write_text(text)
    assert main(["delete", "sim1", "--kubeconfig", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is nested too deeply to be a kubeconfig" in err[0], err


class _WebServer(__import__("http.server").server.BaseHTTPRequestHandler):
    """Any web server: 404 for /api and everything else, or HTML pages with 200."""

    html = False

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        body = b"<html>hello</html>"
        self.send_response(200 if self.html else 404)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_DELETE = do_POST = do_PATCH = do_GET  # noqa: N815

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.parametrize("html", [False, True], ids=["404 everywhere", "HTML pages"])
@pytest.mark.parametrize("command", [["delete", "sim1"], ["run", "sim1", "--trace-path", "s3://b/t"]])
def test_a_web_server_is_not_an_api_server(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], html: bool, command: list[str]
) -> None:
    import http.server
    import threading

    handler = type("Handler", (_WebServer,), {"html": html})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    path = tmp_path / "kubeconfig"
    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: x\n"
        f"clusters: [{{name: c, cluster: {{server: 'http://127.0.0.1:{server.server_port}'}}}}]\n"
        "users: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n"
    )
    try:
        code = main([*command, "--kubeconfig", str(path)])
    finally:
        server.shutdown()
        server.server_close()
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, err
    assert len(err) == 1 and "is not a Kubernetes API server" in err[0] and "CRD" not in err[0], err


# --- issue 22, class 4: no credential ever reaches output ----------------------------------

SECRET = "s3cr3t-T0KEN-value"
BAD_CREDENTIALS = {
    "token with a trailing newline": {"token": SECRET + "\n"},
    "token with CRLF": {"token": SECRET + "\r\n"},
    "token with a NUL": {"token": SECRET + "\x00x"},
    "token with an ESC": {"token": "\x1b]0;x\x07" + SECRET},
    "token with a header injected": {"token": SECRET + "\r\nX-Evil: 1"},
}


@pytest.mark.parametrize("argv", [["delete", "sim1"], ["trace", "--listen", "127.0.0.1:0", "--journal", "j"]],
                         ids=["delete", "trace"])
@pytest.mark.parametrize("name", list(BAD_CREDENTIALS))
def test_a_credential_no_header_can_carry_is_named_never_shown(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], argv: list[str],
        name: str) -> None:
    import yaml

    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(kubeconfig(users=[{"name": "u", "user": BAD_CREDENTIALS[name]}])))
    monkeypatch.chdir(tmp_path)
    assert main([*argv, "--kubeconfig", str(path)]) == 2
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "internal error" not in lines[0], lines
    assert "line break or control character" in lines[0] and "not shown" in lines[0]
    assert SECRET not in out + err and "T0KEN" not in out + err


LEAKY_MESSAGES = [
    "ValueError: Invalid header value b'Bearer s3cr3t-T0KEN-value\\n'",
    "Invalid header value b'Basic czNjcjN0LVQwS0VOLXZhbHVl'",
    "ProxyError: cannot connect to http://me:s3cr3t-T0KEN-value@proxy:3128/",
    "HTTP 403 for https://acct.blob.core.windows.net/c/t?sv=2024&sig=s3cr3t-T0KEN-value&se=1",
    "bad connection string DefaultEndpointsProtocol=https;AccountName=a;AccountKey=s3cr3t-T0KEN-value;",
    "request failed: X-Amz-Security-Token=s3cr3t-T0KEN-value&X-Amz-Signature=s3cr3t-T0KEN-value",
]


@pytest.mark.parametrize("message", LEAKY_MESSAGES)
def test_error_and_log_lines_redact_credentials(message: str, capsys: pytest.CaptureFixture[str]) -> None:
    """The last line of defence: whatever a library puts in an exception's text, the error
    line (skctl.cli.main) and every log line (skctl.base.logs) go through skctl.base.text.safe_line."""
    import logging

    from skctl.base.logs import configure_logging
    from skctl.base.text import safe_line
    from skctl.cli import main as cli

    assert "T0KEN" not in safe_line(message) and "<redacted>" in safe_line(message)
    assert cli.main([message]) == 2  # argparse's usage error quotes the unknown command
    usage = capsys.readouterr().err
    assert "invalid choice" in usage and "T0KEN" not in usage and "<redacted>" in usage
    root = logging.getLogger()
    saved = root.handlers[:]
    root.handlers.clear()
    try:
        configure_logging("warn")
        logging.getLogger("skctl.test").warning("failed: %s", message)
    finally:
        root.handlers[:] = saved
    err = capsys.readouterr().err
    assert "failed:" in err and "T0KEN" not in err


def test_a_failing_exec_plugin_stops_with_its_error(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: x\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "users: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1beta1, command: /bin/sh,"
        " args: ['-c', 'echo plugin says no >&2; exit 3']}}}]\n"
        "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
    )
    result = skctl("delete", "sim1", "--kubeconfig", str(kubeconfig), timeout=60)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert "credential plugin /bin/sh failed" in lines[0] and "plugin says no" in lines[0]
    assert "pass --kubeconfig" not in lines[0], "the kubeconfig was found; its plugin failed"


@pytest.mark.parametrize("proxy", ["http://[::1", "::::", "http://x:99999", "socks9://proxy:1080",
                                   "http://user:pw-S3CRET@[::1"])
def test_a_malformed_proxy_url_is_bad_input(proxy: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kubeconfig = tmp_path / "kc"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\n"
                          f"clusters: [{{name: c, cluster: {{server: 'https://127.0.0.1:1', proxy-url: '{proxy}'}}}}]\n"
                          "users: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n"
                          "current-context: x\n")
    assert main(["delete", "sim1", "--kubeconfig", str(kubeconfig)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "proxy-url" in err[0] and "internal error" not in err[0], err
    assert "S3CRET" not in err[0]
