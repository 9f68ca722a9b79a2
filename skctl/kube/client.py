"""Client configuration: --kubeconfig/--context, $KUBECONFIG, ~/.kube/config, in-cluster.

The order follows kubectl: an explicit --kubeconfig, then $KUBECONFIG or the default
file, then the pod's service account when running inside a cluster (the driver Job).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from skctl import messages
from skctl.errors import InputError

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: this module is imported while parsers are built
if TYPE_CHECKING:
    from typing import Any


def _kubeconfig_files() -> list[str]:
    env = os.environ.get("KUBECONFIG")
    if env:
        return [p for p in env.split(os.pathsep) if p]
    return [os.path.expanduser("~/.kube/config")]


@contextmanager
def _auth_failures() -> Iterator[None]:
    """Stop when the client library reports a failed exec credential plugin.

    The kubernetes client logs the plugin's error on the root logger and carries on without
    credentials, so every request would then fail with 401 far from the cause. The first
    such error becomes an InputError with the plugin's own message.
    """
    import logging

    errors: list[str] = []

    class Catch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.name == "root" and record.levelno >= logging.ERROR:
                errors.append(record.getMessage())

    root = logging.getLogger()
    catcher = Catch()
    root.addHandler(catcher)
    try:
        yield
    finally:
        root.removeHandler(catcher)
    if errors:
        detail = " ".join(f"the user's credential plugin failed: {errors[0]}".split())
        raise InputError(messages.KUBE_NO_CONFIG.format(detail=detail))


_SECTIONS = (("clusters", "cluster"), ("users", "user"), ("contexts", "context"))


def check_kubeconfig_shape(paths: list[str]) -> None:
    """Refuse a kubeconfig whose entries have the wrong types, naming the entry: the client
    library would fail later with an AttributeError about `rstrip` or `path`."""
    import yaml

    for path in paths:
        with open(path, "rb") as f:
            doc = yaml.safe_load(f)
        if doc is None:
            continue
        if not isinstance(doc, dict):
            raise InputError(messages.KUBE_BAD_CONFIG.format(path=path, detail="it is not a mapping"))
        for section, body_key in _SECTIONS:
            entries = doc.get(section) or []
            if not isinstance(entries, list):
                raise InputError(messages.KUBE_BAD_CONFIG.format(path=path, detail=f"'{section}' is not a list"))
            for entry in entries:
                name = entry.get("name") if isinstance(entry, dict) else None
                if not isinstance(name, str):
                    raise InputError(messages.KUBE_BAD_CONFIG.format(path=path, detail=f"an entry of '{section}' has no name"))
                body = entry.get(body_key)
                if body is not None and not isinstance(body, dict):
                    detail = f"{section[:-1]} '{name}': '{body_key}' must be a mapping, not {body!r}"
                    raise InputError(messages.KUBE_BAD_CONFIG.format(path=path, detail=detail))
                for key, value in (body or {}).items():
                    if key in ("server", "cluster", "user", "namespace", "token", "certificate-authority",
                               "client-certificate", "client-key", "proxy-url") and not isinstance(value, str):
                        detail = f"{section[:-1]} '{name}': '{key}' must be a string, not {value!r}"
                        raise InputError(messages.KUBE_BAD_CONFIG.format(path=path, detail=detail))


def connect(kubeconfig: str | None = None, context: str | None = None) -> Any:
    """A kubernetes.client.ApiClient for the chosen cluster. Bad config is an InputError."""
    import yaml
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException

    configuration = client.Configuration()
    try:
        if kubeconfig:
            if not os.path.isfile(kubeconfig):
                raise InputError(messages.KUBE_NO_CONFIG.format(detail=f"no kubeconfig file at {kubeconfig}"))
            check_kubeconfig_shape([kubeconfig])
            with _auth_failures():
                config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=configuration)
        elif any(os.path.isfile(p) for p in _kubeconfig_files()):
            # several $KUBECONFIG files are merged by the client, as kubectl does
            files = [p for p in _kubeconfig_files() if os.path.isfile(p)]
            check_kubeconfig_shape(files)
            with _auth_failures():
                config.load_kube_config(config_file=os.pathsep.join(files), context=context, client_configuration=configuration)
        elif context:  # a context names a kubeconfig entry; the service account has none
            raise InputError(messages.KUBE_NO_CONFIG.format(detail=f"no kubeconfig at {', '.join(_kubeconfig_files())}"))
        else:
            _load_in_cluster(configuration)
    except ConfigException as exc:
        raise InputError(messages.KUBE_NO_CONFIG.format(detail=" ".join(str(exc).split()))) from exc
    except (OSError, ValueError, TypeError, KeyError, AttributeError, yaml.YAMLError) as exc:  # unreadable or malformed
        detail = " ".join(f"{type(exc).__name__}: {exc}".split())
        raise InputError(messages.KUBE_NO_CONFIG.format(detail=detail)) from exc
    except Exception as exc:  # an auth plugin (gcp, azure, oidc) that cannot get credentials
        if type(exc).__module__.startswith(("google.auth", "kubernetes.config")):
            detail = " ".join(f"the user's auth provider failed: {exc}".split())
            raise InputError(messages.KUBE_NO_CONFIG.format(detail=detail)) from exc
        raise
    # One retry loop, skctl's (skctl.kube.api, bounded by --request-timeout): urllib3's own
    # retries would multiply it.
    configuration.retries = False
    if not configuration.verify_ssl:
        _warn_insecure_once(str(configuration.host))
    return client.ApiClient(configuration)


def _load_in_cluster(configuration: Any) -> None:
    """The pod's service account, detected by the client's own in-cluster loader (service
    host/port in the environment, token and CA files mounted)."""
    from kubernetes import config
    from kubernetes.config.config_exception import ConfigException

    try:
        config.load_incluster_config(client_configuration=configuration)
    except ConfigException as exc:
        looked = ", ".join(_kubeconfig_files())
        raise InputError(
            messages.KUBE_NO_CONFIG.format(detail=f"no kubeconfig at {looked} and not running in a cluster")
        ) from exc


_warned_insecure: set[str] = set()


def _warn_insecure_once(host: str) -> None:
    """One line per host instead of urllib3's warning on every request."""
    import logging
    import warnings

    from urllib3.exceptions import InsecureRequestWarning

    warnings.simplefilter("ignore", InsecureRequestWarning)
    if host not in _warned_insecure:
        _warned_insecure.add(host)
        logging.getLogger("skctl").warning(messages.KUBE_INSECURE.format(host=host))
