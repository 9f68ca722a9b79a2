"""The config file `skctl trace -c` reads: SimKube's tracer config as YAML, from a path or URL.

Reading it (bounded, one clear line for an empty, oversized, malformed or too deeply nested
file) is the tracer's; what the config means, and the form every trace carries it in, is
the trace format's (skctl.trace.tracked).
"""

from __future__ import annotations

from typing import Any

from skctl.base import messages
from skctl.base.errors import InputError
from skctl.base.text import byte_size, one_line
from skctl.trace.tracked import TracerConfig, parse_config

MAX_CONFIG_BYTES = 16 * 1024 * 1024  # a real config is a few kilobytes


def load_config(url: str, storage_options: dict[str, Any] | None = None) -> TracerConfig:
    """Read and validate a tracer config file (path or URL)."""
    import yaml

    from skctl import storage

    def too_large(source: str, limit: int) -> InputError:
        return InputError(messages.CONFIG_TOO_LARGE.format(source=source, limit=byte_size(limit)))

    # Bounded: `-c /dev/zero` (or a trace given by mistake) is refused, not read for ever.
    data = storage.read_bytes(url, storage_options, limit=storage.Limit(MAX_CONFIG_BYTES, too_large))
    if not data.strip():
        raise InputError(messages.CONFIG_EMPTY.format(source=url))
    try:
        doc = yaml.safe_load(data)
    except yaml.YAMLError as exc:
        detail = one_line(exc)
        raise InputError(messages.CONFIG_BAD_YAML.format(source=url, detail=detail)) from exc
    except RecursionError:  # PyYAML composes nested collections recursively
        raise InputError(messages.CONFIG_TOO_DEEP.format(source=url)) from None
    return parse_config(doc, url)
