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
        # The cloud SDKs and urllib3 are chatty at INFO; keep them to warnings unless debugging.
        # At the default level they stay quiet too: a failure reaches the user as skctl's one line.
        third_party = logging.ERROR if level in ("error", "warn") else logging.WARNING
        for noisy in ("urllib3", "botocore", "aiobotocore", "azure", "gcsfs", "s3fs", "kubernetes", "google"):
            logging.getLogger(noisy).setLevel(third_party)
