"""Where the tests' data lives.

SimKube's reference traces and tracer config are used in place from `../shared/reference/simkube/`
(their README there asks that they are not copied into the project). A plain clone without
`../shared` skips the tests that read them, with the reason; CI has `../shared` beside the clone
and sets SKCTL_REFERENCE_REQUIRED=1, which turns such a skip into a failure. skctl's own test data
(SimKube 2.7's flag list, written for this project) is in tests/data/.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[1] / "data"
REFERENCE_DIR = Path(__file__).resolve().parents[3] / "shared" / "reference" / "simkube"
REFERENCE_TRACES = ["cronjob.sktrace", "bare-pods.sktrace", "dsb-scaling.sktrace"]
SIMKUBE_FLAGS = DATA / "skctl-2.7-flags.txt"


def reference_dir() -> Path:
    """../shared/reference/simkube, or skip (fail when SKCTL_REFERENCE_REQUIRED is set)."""
    if not REFERENCE_DIR.is_dir():
        reason = f"SimKube's reference traces not found at {REFERENCE_DIR} (../shared is absent)"
        if os.environ.get("SKCTL_REFERENCE_REQUIRED"):
            pytest.fail(reason + "; SKCTL_REFERENCE_REQUIRED is set")
        pytest.skip(reason)
    return REFERENCE_DIR
