"""Log levels: the -v/--verbosity names, for skctl and for the driver it launches."""

from __future__ import annotations

import sys

VERBOSITY_LEVELS = ("error", "warn", "info", "debug")
DEFAULT_VERBOSITY = "warn"
DEFAULT_DRIVER_VERBOSITY = "info"


def configure_logging(level: str) -> None:
    import logging

    numeric = {"error": logging.ERROR, "warn": logging.WARNING, "info": logging.INFO, "debug": logging.DEBUG}
    logging.basicConfig(
        level=numeric[level],
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
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
