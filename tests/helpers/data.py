"""Test data kept in the repository, so a plain clone tests alone."""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "data"
# SimKube's reference traces and tracer config (tests/data/simkube/README.md says where from).
REFERENCE_DIR = DATA / "simkube"
REFERENCE_TRACES = ["cronjob.sktrace", "bare-pods.sktrace", "dsb-scaling.sktrace"]
