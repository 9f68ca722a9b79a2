"""Run an exec credential plugin with a time limit (`--exec-timeout`).

The kubernetes client runs a kubeconfig's exec plugin and waits for it with no limit, so
a plugin that never answers hangs skctl forever. skctl.kube.client rewrites the plugin's
command to `python -I THIS_FILE SECONDS COMMAND ARGS...`: the client still runs it its
own way (environment, KUBERNETES_EXEC_INFO, working directory, interactive stdin, token
refresh) and this wrapper only adds the limit.

Standard library only: it runs as a plain script by path, also from the zipapp's
extracted copy. The plugin's stdout and (unless interactive) stderr are relayed through
the wrapper's own pipes, so a grandchild that keeps them open cannot keep the client
waiting once the wrapper has exited. On timeout the plugin's process group is killed and
the wrapper exits with TIMEOUT_EXIT, its one stderr line starting with TIMEOUT_MARK.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

TIMEOUT_EXIT = 124  # as timeout(1)
TIMEOUT_MARK = "skctl-exec-timeout:"


def main(argv: list[str]) -> int:
    seconds, command = float(argv[0]), argv[1:]
    # An interactive plugin reads the terminal: it must stay in the terminal's session and
    # foreground process group. Otherwise it leads its own session, killed as a whole on timeout.
    interactive = _client_says_interactive()
    try:
        process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=None if interactive else subprocess.PIPE,
            start_new_session=not interactive,
        )
    except OSError as exc:
        print(f"cannot run {command[0]}: {exc.strerror or exc}", file=sys.stderr)
        return 127 if isinstance(exc, FileNotFoundError) else 126
    try:
        out, err = process.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        _kill(process, group=not interactive)
        print(f"{TIMEOUT_MARK} {command[0]} gave no answer within {seconds:g}s", file=sys.stderr)
        return TIMEOUT_EXIT
    except KeyboardInterrupt:
        _kill(process, group=not interactive)
        return 130
    sys.stdout.buffer.write(out)
    sys.stdout.flush()
    if err:
        sys.stderr.buffer.write(err)
        sys.stderr.flush()
    return process.returncode if process.returncode >= 0 else 128 - process.returncode


def _client_says_interactive() -> bool:
    """The client's own choice, from KUBERNETES_EXEC_INFO's spec.interactive (it tests its
    stdout). When false it captures the plugin's stderr, so that stderr must be ours, relayed:
    a grandchild holding the client's pipe would keep it waiting. Without the variable (an
    older client), whether stdin is a terminal."""
    import json

    try:
        return bool(json.loads(os.environ["KUBERNETES_EXEC_INFO"])["spec"]["interactive"])
    except (KeyError, TypeError, ValueError):
        return sys.stdin is not None and sys.stdin.isatty()


def _kill(process: subprocess.Popen[bytes], group: bool) -> None:
    try:
        if group:
            os.killpg(process.pid, signal.SIGKILL)  # the plugin and everything it started
        else:
            process.kill()
    except ProcessLookupError:
        pass
    process.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
