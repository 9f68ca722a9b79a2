"""Kubeconfig files that point kubectl and the kubernetes client at a sandbox.

Written without a YAML library (every value is a quoted scalar), so the sandbox stays
standard-library only. Cluster, user and context are all named `skctl-sandbox`.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

NAME = "skctl-sandbox"


def kubeconfig_dict(server: str, *, ca_pem: bytes | None = None, token: str | None = None) -> dict:
    cluster: dict = {"server": server}
    if ca_pem:
        cluster["certificate-authority-data"] = base64.b64encode(ca_pem).decode()
    user: dict = {"token": token} if token else {}
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": NAME, "cluster": cluster}],
        "users": [{"name": NAME, "user": user}],
        "contexts": [{"name": NAME, "context": {"cluster": NAME, "user": NAME, "namespace": "default"}}],
        "current-context": NAME,
        "preferences": {},
    }


def _yaml(value: object, indent: int = 0) -> list[str]:
    pad = " " * indent
    lines: list[str] = []
    if isinstance(value, dict):
        if not value:
            return [pad + "{}"]
        for k, v in value.items():
            if isinstance(v, (dict, list)) and v:
                lines.append(f"{pad}{k}:")
                lines.extend(_yaml(v, indent + 2))
            else:
                lines.append(f"{pad}{k}: {_yaml(v)[0].strip()}")
    elif isinstance(value, list):
        if not value:
            return [pad + "[]"]
        for item in value:
            sub = _yaml(item, indent + 2)
            lines.append(pad + "- " + sub[0].strip())
            lines.extend(sub[1:])
    else:
        lines.append(pad + json.dumps(value))
    return lines


def render(config: dict) -> str:
    return "\n".join(_yaml(config)) + "\n"


def write_kubeconfig(path: str | os.PathLike, server: str, *, ca_pem: bytes | None = None,
                     token: str | None = None) -> Path:
    """Write a kubeconfig (mode 0600, atomically) and return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(render(kubeconfig_dict(server, ca_pem=ca_pem, token=token)))
    os.replace(tmp, path)
    return path
