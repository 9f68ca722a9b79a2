"""Helpers shared by the unit and e2e tests: waiting for a condition, running skctl as a real
process, and building the Kubernetes objects the tests use. Fixtures live in tests/fixtures/."""

from tests.helpers.builders import KWOK_POD, deployment
from tests.helpers.data import REFERENCE_TRACES, SIMKUBE_FLAGS, reference_dir
from tests.helpers.processes import (
           ROOT,
           interrupts_default,
           running,
           signal_when,
           skctl,
           skctl_bg,
           tracer_url,
)
from tests.helpers.wait import wait_for

__all__ = ["KWOK_POD", "REFERENCE_TRACES", "ROOT", "SIMKUBE_FLAGS", "deployment", "interrupts_default", "reference_dir",
           "running", "signal_when", "skctl", "skctl_bg", "tracer_url", "wait_for"]
