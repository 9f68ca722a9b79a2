"""Simulations: the manifests `skctl run` applies, virtual-object mutation, the drive loop."""

# Labels and annotations shared by run, drive and delete (and the KWOK stages in config/kwok/).
SIMULATION_LABEL = "simkube.io/simulation"
VIRTUAL_LABEL = "simkube.io/virtual"
DRIVER_LABEL = "simkube.io/driver"
APP_NAME_LABEL = "app.kubernetes.io/name"
# SimKube's pod contract (sk-core constants), read by SimKube's and skctl's KWOK stages
# (config/kwok/) and by tools written for SimKube's simulations.
ORIGINAL_NAMESPACE_ANNOTATION = "static.simkube.io/original-namespace"
ORIGINAL_OWNER_ANNOTATION = "static.simkube.io/original-owner"
POD_SPEC_HASH_ANNOTATION = "static.simkube.io/pod-spec-stable-hash"
POD_SEQUENCE_ANNOTATION = "static.simkube.io/pod-sequence-number"
KWOK_STAGE_COMPLETE_LABEL = "simkube.io/kwok-stage-complete"
KWOK_STAGE_COMPLETE_TIME_ANNOTATION = "simkube.io/kwok-stage-complete-time"
KWOK_STAGE_CREATE_DELAY_ANNOTATION = "simkube.io/kwok-stage-create-delay"
KWOK_STAGE_CREATE_DELAY_JITTER_ANNOTATION = "simkube.io/kwok-stage-create-delay-jitter"
KWOK_STAGE_READY_DELAY_ANNOTATION = "simkube.io/kwok-stage-ready-delay"
KWOK_STAGE_READY_DELAY_JITTER_ANNOTATION = "simkube.io/kwok-stage-ready-delay-jitter"
# What the driver added to a pod template to place its pods on the virtual nodes
# ("nodeSelector", "toleration"), so a pod's spec hash leaves out exactly that.
PLACEMENT_ADDED_ANNOTATION = "skctl.io/placement-added"
PLACEMENT_NODE_SELECTOR = "nodeSelector"
PLACEMENT_TOLERATION = "toleration"
VIRTUAL_NODE_SELECTOR_KEY = "type"
VIRTUAL_NODE_SELECTOR_VALUE = "virtual"
VIRTUAL_NODE_TAINT_KEY = "kwok-provider"
FIELD_MANAGER = "skctl"
# On the driver Job: present (an RFC 3339 time, when it was paused) while the simulation is
# paused (`skctl pause`, `run --start-paused`); SimKube keeps the same in Simulation.spec.pausedTime.
PAUSED_ANNOTATION = "simkube.io/paused-time"
# The merged --hooks of `skctl run`, as JSON, in the driver container's environment.
HOOKS_ENV = "SKCTL_HOOKS"
DEFAULT_DRIVER_NAMESPACE = "simkube"
DEFAULT_VIRTUAL_NS_PREFIX = "virtual"
# A virtual namespace is <prefix>-<original>, a DNS label of at most 63: leave room for the original.
MAX_VIRTUAL_NS_PREFIX = 40
DEFAULT_TRACE_PATH = "file:///data/trace"
DEFAULT_SPEED = 1.0
# How long `skctl run --wait` lets the driver pod stay unschedulable (`--schedule-timeout`):
# room for a cluster autoscaler to add a node, not for a pod that can never be placed.
DEFAULT_SCHEDULE_TIMEOUT = 300.0
# How long `skctl run --wait` follows the driver Job at most (`--wait-timeout`); the Job
# itself keeps running when the wait ends.
DEFAULT_WAIT_TIMEOUT = 86_400.0
# Where a simulation's nodes come from (`skctl drive --nodes`): the simulation cluster's own
# (an autoscaler, hand-made KWOK nodes) or KWOK nodes shaped like the trace's starting state.
NODES_SOURCES = ("cluster", "trace")
DEFAULT_NODES = "cluster"
DEFAULT_PYZ = "file:///data/skctl.pyz"
# A stock image for the zipapp. The pyz carries compiled wheels for the Python that built
# it, so this must be the same minor version (scripts/build_zipapp.py uses the venv's).
DEFAULT_PYZ_IMAGE = "python:3.11-slim"
# The image built from images/Dockerfile (`--skctl-pyz none`).
DEFAULT_SKCTL_IMAGE = "skctl:latest"
