"""Client configuration: --kubeconfig/--context, $KUBECONFIG, ~/.kube/config, in-cluster.

The order follows kubectl: an explicit --kubeconfig, then $KUBECONFIG or the default
file, then the pod's service account when running inside a cluster (the driver Job).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from skctl.base import messages, settings
from skctl.base.errors import InputError, OperationalError
from skctl.base.text import one_line, redact

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: this module is imported while parsers are built
if TYPE_CHECKING:
    from typing import Any


def _kubeconfig_files() -> list[str]:
    env = os.environ.get("KUBECONFIG")
    if env:
        return [p for p in env.split(os.pathsep) if p]
    return [os.path.expanduser("~/.kube/config")]



@contextmanager
def _auth_failures(plugin: str | None) -> Iterator[None]:
    """Stop when the client library reports a failed exec credential plugin.

    The kubernetes client logs the plugin's error on the root logger and carries on without
    credentials, so every request would then fail with 401 far from the cause. The first
    such error becomes an InputError with the plugin's own message, or an OperationalError
    when `plugin` (the user's exec command) ran out of --exec-timeout.
    """
    import logging

    from skctl.kube.exec_guard import TIMEOUT_MARK

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
    if errors and plugin is not None and TIMEOUT_MARK in errors[0]:
        raise OperationalError(messages.KUBE_EXEC_TIMEOUT.format(plugin=plugin, timeout=f"{settings.current().exec_timeout:g}s"))
    if errors and plugin is not None:
        raise InputError(messages.KUBE_EXEC_FAILED.format(plugin=plugin, detail=one_line(errors[0])))
    if errors:
        detail = one_line(f"the user's credential plugin failed: {errors[0]}")
        raise InputError(messages.KUBE_NO_CONFIG.format(detail=detail))


def _load_kubeconfig(files: list[str], context: str | None, configuration: Any) -> None:
    """What the client's load_kube_config does (its own merger and loader, kubectl's merge
    of several files), with the active user's exec plugin run under --exec-timeout."""
    from kubernetes.config.config_exception import ConfigException
    from kubernetes.config.kube_config import KubeConfigLoader, KubeConfigMerger

    merger = KubeConfigMerger(os.pathsep.join(files))
    if merger.config is None:
        raise ConfigException("Invalid kube-config file. No configuration found.")
    plugin = _guard_exec_plugin(merger.config.value, context)
    with _auth_failures(plugin):
        # config_persister: the client saves refreshed gcp/oidc tokens back to the file, as
        # load_kube_config does. The guard replaced a merged entry, never a file's own dict.
        loader = KubeConfigLoader(
            config_dict=merger.config, active_context=context, config_base_path=None, config_persister=merger.save_changes
        )
        loader.load_and_set(configuration)
    if plugin is not None:
        _guard_refresh(configuration, plugin)


def _guard_refresh(configuration: Any, plugin: str) -> None:
    """Report a failed token refresh like a failed first run of the plugin.

    The client re-runs the exec plugin from `refresh_api_key_hook` before a request once the
    token is near its expirationTimestamp; a failure there is only logged and the request
    goes out with the old token. Each call of the hook installs a new hook, so the guard
    re-installs itself after every call."""
    original = configuration.refresh_api_key_hook
    if original is None:
        return

    def guarded(conf: Any) -> None:
        try:
            with _auth_failures(plugin):
                original(conf)
        finally:
            conf.refresh_api_key_hook = guarded

    configuration.refresh_api_key_hook = guarded


def _guard_exec_plugin(merged: dict[str, Any], context: str | None) -> str | None:
    """Wrap the active user's exec command in skctl.kube.exec_guard (same environment,
    arguments and working directory, plus a time limit); returns the original command.

    The merged users are the merger's ConfigNodes (the entry and the file it came from):
    the entry is replaced by a new node with the same file, so the plugin still runs in
    that file's directory and the file's own dict is never changed (nor saved)."""
    import sys

    from kubernetes.config.kube_config import ConfigNode

    def value(node: Any) -> Any:
        return node.value if isinstance(node, ConfigNode) else node

    name = context or merged.get("current-context")
    contexts = [value(c) for c in merged.get("contexts") or []]
    found = next((c for c in contexts if isinstance(c, dict) and c.get("name") == name), None)
    body = found.get("context") if found else None
    user_name = body.get("user") if isinstance(body, dict) else None
    users = merged.get("users") or []
    for index, node in enumerate(users):
        entry = value(node)
        if not isinstance(entry, dict) or entry.get("name") != user_name or not isinstance(entry.get("user"), dict):
            continue
        exec_config = entry["user"].get("exec")
        if not isinstance(exec_config, dict) or not isinstance(exec_config.get("command"), str):
            return None  # the client reports what is missing
        args = exec_config.get("args") or []
        guard = os.path.join(os.path.dirname(os.path.abspath(__file__)), "exec_guard.py")
        wrapped = {
            **exec_config,
            "command": sys.executable,
            "args": ["-I", guard, f"{settings.current().exec_timeout:g}", exec_config["command"], *[str(a) for a in args]],
        }
        new_entry = {**entry, "user": {**entry["user"], "exec": wrapped}}
        users[index] = ConfigNode(node.name, new_entry, node.path) if isinstance(node, ConfigNode) else new_entry
        return str(exec_config["command"])
    return None


_SECTIONS = (("clusters", "cluster"), ("users", "user"), ("contexts", "context"))
# A real kubeconfig has hundreds of YAML nodes, a big merged one thousands. The client
# merges and copies the document with aliases expanded, so a "billion laughs" file of a
# few lines would hang it: the expanded size is counted (each shared node once per use,
# memoised) and bounded first.
MAX_KUBECONFIG_NODES = 1_000_000


def _expanded_size(node: Any, memo: dict[int, int]) -> int:
    """Nodes of the YAML graph with every alias expanded, counted without expanding it."""
    import yaml

    known = memo.get(id(node))
    if known is not None:
        return known
    memo[id(node)] = MAX_KUBECONFIG_NODES + 1  # a cycle (a recursive alias) counts as too large
    total = 1
    if isinstance(node, yaml.SequenceNode):
        for child in node.value:
            total += _expanded_size(child, memo)
            if total > MAX_KUBECONFIG_NODES:
                break
    elif isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            total += _expanded_size(key, memo) + _expanded_size(value, memo)
            if total > MAX_KUBECONFIG_NODES:
                break
    memo[id(node)] = total
    return total


def check_kubeconfig_shape(paths: list[str]) -> None:
    """Refuse a kubeconfig whose entries have the wrong types, naming the entry: the client
    library would fail later with an AttributeError about `rstrip` or `path`."""
    import yaml

    for path in paths:
        with open(path, "rb") as f:
            node = yaml.compose(f, Loader=yaml.SafeLoader)
        if node is not None and _expanded_size(node, {}) > MAX_KUBECONFIG_NODES:
            raise InputError(messages.KUBE_CONFIG_TOO_LARGE.format(path=path, limit=MAX_KUBECONFIG_NODES))
        with open(path, "rb") as f:
            doc = yaml.safe_load(f)  # bounded now: aliases share their objects
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
    from kubernetes import client
    from kubernetes.config.config_exception import ConfigException

    configuration = client.Configuration()
    try:
        if kubeconfig:
            if not os.path.isfile(kubeconfig):
                raise InputError(messages.KUBE_NO_CONFIG.format(detail=f"no kubeconfig file at {kubeconfig}"))
            check_kubeconfig_shape([kubeconfig])
            _load_kubeconfig([kubeconfig], context, configuration)
        elif any(os.path.isfile(p) for p in _kubeconfig_files()):
            # several $KUBECONFIG files are merged by the client, as kubectl does
            files = [p for p in _kubeconfig_files() if os.path.isfile(p)]
            check_kubeconfig_shape(files)
            _load_kubeconfig(files, context, configuration)
        elif context:  # a context names a kubeconfig entry; the service account has none
            raise InputError(messages.KUBE_NO_CONFIG.format(detail=f"no kubeconfig at {', '.join(_kubeconfig_files())}"))
        else:
            _load_in_cluster(configuration)
    except ConfigException as exc:
        raise InputError(messages.KUBE_NO_CONFIG.format(detail=one_line(exc))) from exc
    except RecursionError:  # PyYAML composes nested collections recursively
        detail = f"{kubeconfig or 'the kubeconfig'} is nested too deeply to be a kubeconfig"
        raise InputError(messages.KUBE_NO_CONFIG.format(detail=detail)) from None
    except (OSError, ValueError, TypeError, KeyError, AttributeError, yaml.YAMLError) as exc:  # unreadable or malformed
        detail = one_line(f"{type(exc).__name__}: {exc}")
        raise InputError(messages.KUBE_NO_CONFIG.format(detail=detail)) from exc
    except Exception as exc:  # an auth plugin (gcp, azure, oidc) that cannot get credentials
        if type(exc).__module__.startswith(("google.auth", "kubernetes.config")):
            detail = one_line(f"the user's auth provider failed: {exc}")
            raise InputError(messages.KUBE_NO_CONFIG.format(detail=detail)) from exc
        raise
    check_credentials(configuration)
    check_proxy(configuration)
    # One retry loop, skctl's (skctl.kube.api, bounded by --request-timeout): urllib3's own
    # retries would multiply it.
    configuration.retries = False
    if not configuration.verify_ssl:
        _warn_insecure_once(str(configuration.host))
    return client.ApiClient(configuration)


_PROXY_SCHEMES = ("http", "https", "socks4", "socks4a", "socks5", "socks5h")


def check_proxy(configuration: Any) -> None:
    """A cluster's proxy-url as the HTTP layer will parse it: a malformed one (a bad host or
    port, an unknown scheme) is bad input here, not an internal error at the first request."""
    from urllib3.exceptions import LocationParseError
    from urllib3.util import parse_url

    url = getattr(configuration, "proxy", None)
    if not url:
        return
    try:
        parsed = parse_url(str(url))
        detail = None if parsed.scheme in _PROXY_SCHEMES and parsed.host else "no scheme and host" \
            if not parsed.host else f"unsupported scheme {parsed.scheme!r}"
    except (LocationParseError, ValueError) as exc:
        detail = one_line(exc)
    if detail:
        raise InputError(messages.KUBE_BAD_PROXY.format(url=redact(url), detail=redact(detail)))


def check_credentials(configuration: Any) -> None:
    """Refuse credentials no HTTP header can carry (a token with a trailing newline): the
    HTTP layer would otherwise fail on every request with the whole header, token included,
    in its message. The message names the problem, never the value."""
    values = {f"{name} token": value for name, value in (getattr(configuration, "api_key", None) or {}).items()}
    values["username"] = getattr(configuration, "username", "")
    values["password"] = getattr(configuration, "password", "")
    for what, value in values.items():
        if isinstance(value, str) and any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
            raise InputError(messages.KUBE_BAD_CREDENTIAL.format(server=getattr(configuration, "host", "?"), what=what))


def active_context(kubeconfig: str | None = None, context: str | None = None) -> str | None:
    """The kubeconfig context `connect` uses with the same arguments: `context`, else the
    current-context of the kubeconfig (or of the merged $KUBECONFIG files); None when it
    uses the in-cluster service account. Call it after `connect` has checked the files."""
    if context:
        return context
    files = [kubeconfig] if kubeconfig else [p for p in _kubeconfig_files() if os.path.isfile(p)]
    if not files:
        return None
    from kubernetes.config.kube_config import KubeConfigMerger

    merger = KubeConfigMerger(os.pathsep.join(files))
    current = merger.config.value.get("current-context") if merger.config is not None else None
    return str(current) if current else None


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
