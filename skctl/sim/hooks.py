"""Simulation hooks in SimKube's file format (`--hooks FILE[:FILE...]`).

A hooks file is YAML with up to four lists, each of `{cmd, args, sendSim, ignoreFailure}`:

- `preStartHooks`: once, before the first repetition (SimKube: in its controller);
- `preRunHooks`: before every repetition's replay (SimKube: first thing in its driver);
- `postRunHooks`: after every repetition's replay and cleanup (SimKube: last in its driver);
- `postStopHooks`: once, after the last repetition (SimKube: in its controller).

skctl has no controller, so all four run in the driver: pre-start in the first repetition's
pod, post-stop in the last one's (a driver run by hand is both). Several files merge in
order, list by list: earlier files' hooks run first. Each hook runs without a shell, its
output goes to the driver's log line by line, `sendSim: true` writes the simulation (a
SimKube-shaped `Simulation` JSON document) to its standard input. A hook that fails (exit
status not 0, or a command that cannot run) fails the run with one line unless it says
`ignoreFailure: true` (SimKube's documented meaning; its 2.7 code only stops on an explicit
`ignoreFailure: false`).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
from typing import Any

import yaml

from skctl.base import messages
from skctl.base.errors import InputError, OperationalError
from skctl.base.text import one_line

log = logging.getLogger("skctl.sim.hooks")
STAGES = ("preStartHooks", "preRunHooks", "postRunHooks", "postStopHooks")
HOOK_KEYS = {"cmd", "args", "sendSim", "ignoreFailure"}
Hooks = dict[str, list[dict[str, Any]]]


def check_hooks(doc: Any, where: str, error: str = messages.HOOKS_BAD_FILE) -> Hooks:
    """The hooks in `doc` (a parsed hooks file), checked; InputError naming the problem."""
    def bad(detail: str) -> InputError:
        return InputError(error.format(path=where, var=where, detail=detail))

    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise bad("expected a mapping with " + ", ".join(STAGES))
    unknown = sorted(set(doc) - set(STAGES))
    if unknown:
        raise bad(f"unknown key {unknown[0]!r}; the keys are {', '.join(STAGES)}")
    out: Hooks = {}
    for stage in STAGES:
        hooks = doc.get(stage)
        if hooks is None:
            continue
        if not isinstance(hooks, list):
            raise bad(f"{stage} must be a list of hooks")
        for i, hook in enumerate(hooks):
            if not isinstance(hook, dict) or not isinstance(hook.get("cmd"), str) or not hook["cmd"]:
                raise bad(f"{stage}[{i}] needs a command: cmd: <program>")
            extra = sorted(set(hook) - HOOK_KEYS)
            if extra:
                raise bad(f"{stage}[{i}] has unknown key {extra[0]!r}; a hook has {', '.join(sorted(HOOK_KEYS))}")
            args = hook.get("args")
            if args is not None and (not isinstance(args, list) or not all(isinstance(a, (str, int, float)) for a in args)):
                raise bad(f"{stage}[{i}].args must be a list of strings")
            for flag in ("sendSim", "ignoreFailure"):
                if flag in hook and not isinstance(hook[flag], bool):
                    raise bad(f"{stage}[{i}].{flag} must be true or false")
        out[stage] = [dict(h, args=[str(a) for a in h.get("args") or []]) for h in hooks]
    return out


def merge(parts: list[Hooks]) -> Hooks:
    """Files merged in order, stage by stage (SimKube's merge_hooks)."""
    merged: Hooks = {}
    for part in parts:
        for stage in STAGES:
            if part.get(stage):
                merged.setdefault(stage, []).extend(part[stage])
    return merged


def load_files(spec: str) -> Hooks:
    """`--hooks FILE[:FILE...]` read and merged; '' is no hooks."""
    parts = []
    for path in (p for p in spec.split(":") if p):
        try:
            with open(path, encoding="utf-8") as f:
                doc = yaml.safe_load(f)
        except FileNotFoundError:
            raise InputError(messages.HOOKS_NO_FILE.format(path=path)) from None
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise InputError(messages.HOOKS_BAD_FILE.format(path=path, detail=one_line(exc))) from None
        parts.append(check_hooks(doc, path))
    return merge(parts)


def from_env(environ: dict[str, str] | None = None) -> Hooks:
    """The hooks `skctl run` put in the driver's environment (HOOKS_ENV), or none."""
    from skctl.sim import HOOKS_ENV

    text = (os.environ if environ is None else environ).get(HOOKS_ENV)
    if not text:
        return {}
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise InputError(messages.HOOKS_BAD_ENV.format(var=HOOKS_ENV, detail=exc)) from None
    return check_hooks(doc, HOOKS_ENV, messages.HOOKS_BAD_ENV)


def command_line(hook: dict[str, Any]) -> str:
    return " ".join([hook["cmd"], *hook.get("args", [])])


def run_stage(hooks: Hooks, stage: str, simulation: dict[str, Any]) -> None:
    """Run one stage's hooks in order; OperationalError on the first failure not ignored."""
    label = stage[: -len("Hooks")]
    for hook in hooks.get(stage) or []:
        command = command_line(hook)
        log.info(messages.HOOK_RUNNING.format(stage=label, command=command))
        stdin = json.dumps(simulation).encode() if hook.get("sendSim") else b""
        try:
            done = subprocess.run([hook["cmd"], *hook.get("args", [])], input=stdin, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, check=False)
            status = f"exit status {done.returncode}" if done.returncode else None
            output = done.stdout.decode("utf-8", "replace")
        except OSError as exc:
            status, output = (messages.HOOK_NOT_FOUND if isinstance(exc, FileNotFoundError) else str(exc)), ""
        for line in output.splitlines():
            log.info(messages.HOOK_OUTPUT.format(stage=label, cmd=hook["cmd"], line=line))
        if status is None:
            continue
        if hook.get("ignoreFailure") is True:
            log.warning(messages.HOOK_IGNORED.format(stage=label, command=command, status=status))
            continue
        raise OperationalError(messages.HOOK_FAILED.format(stage=label, command=command, status=status))


def simulation_document(name: str, hooks: Hooks, **spec: Any) -> dict[str, Any]:
    """What `sendSim` hooks read: the simulation as a SimKube Simulation document."""
    return {"apiVersion": "simkube.io/v1", "kind": "Simulation", "metadata": {"name": name},
            "spec": {**{k: v for k, v in spec.items() if v is not None}, "hooks": hooks}}


def repetition_position(job: dict[str, Any] | None) -> tuple[bool, bool]:
    """(first, last): is this driver the simulation's first repetition, its last? From the driver
    Job's counts (one pod per repetition, one at a time); a driver without a Job is both."""
    if job is None:
        return True, True
    done = int((job.get("status") or {}).get("succeeded") or 0)
    completions = int((job.get("spec") or {}).get("completions") or 1)
    return done == 0, done + 1 >= completions


class HookRun:
    """One driver's share of the hooks: pre-start/post-stop only in the first/last repetition."""

    def __init__(self, hooks: Hooks, first: bool = True, last: bool = True,
                 simulation: dict[str, Any] | None = None) -> None:
        self.hooks = hooks
        self.first = first
        self.last = last
        self.simulation = simulation or {}

    def before(self) -> None:
        if self.first:
            run_stage(self.hooks, "preStartHooks", self.simulation)
        run_stage(self.hooks, "preRunHooks", self.simulation)

    def after(self) -> None:
        run_stage(self.hooks, "postRunHooks", self.simulation)
        if self.last:
            run_stage(self.hooks, "postStopHooks", self.simulation)


def prepare(kube: Any, hooks: Hooks, name: str, namespace: str, **spec: Any) -> HookRun:
    """The HookRun of driver `name`, placed among its Job's repetitions (none: it is alone)."""
    if not hooks:
        return HookRun({})
    from skctl.kube.api import ApiError

    try:
        job = kube.get("batch/v1", "Job", name, namespace)
    except ApiError:
        job = None
    first, last = repetition_position(job)
    return HookRun(hooks, first, last, simulation_document(name, hooks, **spec))
