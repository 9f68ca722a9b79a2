"""Kubeconfig files that point kubectl and the kubernetes client at a sandbox.

Written with PyYAML's safe_dump (imported only when a kubeconfig is written). Cluster,
user and context are all named `skctl-sandbox`.
"""

from __future__ import annotations

import base64
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


def render(config: dict) -> str:
    """The kubeconfig as YAML, keys in the order kubectl writes them."""
    import yaml

    return str(yaml.safe_dump(config, sort_keys=False, default_flow_style=False))


def write_kubeconfig(path: str | os.PathLike, server: str, *, ca_pem: bytes | None = None,
                     token: str | None = None) -> Path:
    """Write a kubeconfig (mode 0600) by the same rules as a trace: atomically, following a
    symlink, streaming into a FIFO or device instead of replacing it, and leaving no partial
    file behind on a full disk. A failed write is an OperationalError naming the path."""
    from skctl.base import messages
    from skctl.storage.local import write_side_file

    data = render(kubeconfig_dict(server, ca_pem=ca_pem, token=token)).encode()
    write_side_file(path, data, messages.SANDBOX_KUBECONFIG_FAILED, mode=0o600)
    return Path(path)
