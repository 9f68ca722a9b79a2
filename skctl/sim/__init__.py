"""Simulations: the manifests `skctl run` applies, virtual-object mutation, the drive loop."""

# Labels and annotations shared by run, drive and delete (and the KWOK stages in config/kwok/).
SIMULATION_LABEL = "simkube.io/simulation"
VIRTUAL_LABEL = "simkube.io/virtual"
DRIVER_LABEL = "simkube.io/driver"
ORIGINAL_NAMESPACE_ANNOTATION = "simkube.io/original-namespace"
# Recorded pod lifetime, trace seconds (informational), and the same lifetime scaled by
# --speed as a Go duration, which the KWOK Stage reads with delay.durationFrom.
LIFETIME_SECONDS_ANNOTATION = "simkube.io/lifetime-seconds"
LIFETIME_ANNOTATION = "simkube.io/pod-lifetime"
FIELD_MANAGER = "skctl"
DEFAULT_DRIVER_NAMESPACE = "simkube"
DEFAULT_VIRTUAL_NS_PREFIX = "virtual"
# A virtual namespace is <prefix>-<original>, a DNS label of at most 63: leave room for the original.
MAX_VIRTUAL_NS_PREFIX = 40
DEFAULT_TRACE_PATH = "file:///data/trace"
DEFAULT_SPEED = 1.0
DEFAULT_PYZ = "file:///data/skctl.pyz"
# A stock image for the zipapp. The pyz carries compiled wheels for the Python that built
# it, so this must be the same minor version (scripts/build_zipapp.py uses the venv's).
DEFAULT_PYZ_IMAGE = "python:3.11-slim"
# The image built from images/Dockerfile (`--skctl-pyz none`).
DEFAULT_SKCTL_IMAGE = "skctl:latest"
