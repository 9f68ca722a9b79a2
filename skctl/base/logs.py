"""Log levels: the -v/--verbosity names, for skctl and for the driver it launches."""

from __future__ import annotations

import logging
import sys

from skctl.base.text import safe_line

VERBOSITY_LEVELS = ("error", "warn", "info", "debug")
DEFAULT_VERBOSITY = "warn"
DEFAULT_DRIVER_VERBOSITY = "info"


def configure_logging(level: str) -> None:
    numeric = {"error": logging.ERROR, "warn": logging.WARNING, "info": logging.INFO, "debug": logging.DEBUG}
    logging.basicConfig(
        level=numeric[level],
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for handler in logging.getLogger().handlers:
        handler.setFormatter(_SafeFormatter(handler.formatter._fmt if handler.formatter else None))
    if level != "debug":
        # Only skctl's own records reach the terminal: asyncio/aiohttp tracebacks after a
        # reset upload, the kubernetes client's bare "ERROR root" lines and library
        # warnings (routed to logging) are noise next to skctl's one-line error. -v debug
        # shows them all.
        logging.captureWarnings(True)
        for handler in logging.getLogger().handlers:
            if not any(isinstance(f, _OnlySkctl) for f in handler.filters):
                handler.addFilter(_OnlySkctl())
        # The cloud SDKs and urllib3 are chatty at INFO; keep them to warnings unless debugging.
        # At the default level they stay quiet too: a failure reaches the user as skctl's one line.
        third_party = logging.ERROR if level in ("error", "warn") else logging.WARNING
        for noisy in ("urllib3", "botocore", "aiobotocore", "azure", "gcsfs", "s3fs", "kubernetes", "google"):
            logging.getLogger(noisy).setLevel(third_party)


class _OnlySkctl:
    """A logging filter that passes skctl's own loggers only."""

    def filter(self, record: object) -> bool:
        name = getattr(record, "name", "")
        return name == "skctl" or name.startswith("skctl.")


class _SafeFormatter(logging.Formatter):
    """Each log line's message as one printable line: credentials redacted, controls
    from a trace or the user escaped (skctl.base.text.safe_line). A traceback (-v debug)
    follows as the logging module writes it."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        record.message = safe_line(record.message)
        return super().formatMessage(record)
