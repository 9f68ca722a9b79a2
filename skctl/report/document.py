"""report.json: the versioned document, its light validation, reading and atomic writing.

The schema is skctl/data/report.schema.json (JSON Schema 2020-12; docs/report.md). Keys are
stable within a schema version: a new measurement adds keys, a changed meaning makes a new
version. Times inside sections are seconds; series are [[seconds since the replay started,
value], ...] step functions.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from skctl.base import messages
from skctl.base.errors import InputError
from skctl.report import REPORT_HTML, REPORT_JSON, REPORT_SCHEMA, REPORT_VERSION
from skctl.report.measure import metrics


def build(sections: Mapping[str, Any], *, simulation: Mapping[str, Any], complete: bool,
          incomplete_reason: str | None, created: float) -> dict[str, Any]:
    from skctl import __version__
    from skctl.base.timeparse import iso

    window = dict(sections["window"])
    window["start"], window["end"] = iso(window["start"]), iso(window["end"])
    return {
        "schema": REPORT_SCHEMA,
        "version": REPORT_VERSION,
        "generator": f"skctl {__version__}",
        "created": iso(created),
        "complete": complete,
        "incomplete_reason": incomplete_reason,
        "simulation": dict(simulation),
        "window": window,
        "metrics": metrics(sections),
        **{k: sections[k] for k in ("pods", "scheduling", "nodes", "fidelity", "autoscaling", "driver", "series")},
    }


def report_url(dest: str, file: str = REPORT_JSON) -> str:
    """The URL of `file` inside the report destination DEST (a directory or URL prefix)."""
    return dest.rstrip("/") + "/" + file


def resolve(url: str) -> str:
    """A report's URL from what a user typed: report.json itself, or its directory."""
    from skctl import storage

    if url.endswith("/") or (storage.is_local(url) and os.path.isdir(storage.local_path(url))):
        return report_url(url)
    return url


def check(doc: Any, url: str) -> dict[str, Any]:
    """The document if it is a report this skctl reads, else an InputError naming why."""
    if not isinstance(doc, dict) or doc.get("schema") is None:
        raise InputError(messages.REPORT_NOT_A_REPORT.format(url=url))
    if doc.get("schema") != REPORT_SCHEMA or doc.get("version") != REPORT_VERSION:
        raise InputError(messages.REPORT_UNKNOWN_VERSION.format(url=url, schema=doc.get("schema"), supported=REPORT_SCHEMA))
    if not isinstance(doc.get("metrics"), dict):
        raise InputError(messages.REPORT_NOT_A_REPORT.format(url=url))
    return doc


def read(url: str, options: dict[str, Any] | None = None) -> dict[str, Any]:
    from skctl import storage

    url = resolve(url)
    data = storage.read_bytes(url, options, limit=None)
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise InputError(messages.REPORT_NOT_A_REPORT.format(url=url)) from None
    return check(doc, url)


def dumps(doc: Mapping[str, Any]) -> bytes:
    return (json.dumps(doc, indent=1, sort_keys=False, allow_nan=False) + "\n").encode()


def check_destination(dest: str, options: dict[str, Any] | None = None) -> None:
    """Refuse a report destination no write could succeed at, before the replay starts."""
    from skctl import storage

    for name in (REPORT_JSON, REPORT_HTML):
        storage.check_destination(report_url(dest, name), options)


def write(doc: Mapping[str, Any], dest: str, options: dict[str, Any] | None = None) -> list[str]:
    """report.json then report.html under DEST, each atomically (skctl.storage); the URLs."""
    from skctl import storage
    from skctl.report import html

    json_url, html_url = report_url(dest, REPORT_JSON), report_url(dest, REPORT_HTML)
    storage.write_bytes(json_url, dumps(doc), options)
    storage.write_bytes(html_url, html.render_report(doc).encode(), options)
    return [json_url, html_url]
