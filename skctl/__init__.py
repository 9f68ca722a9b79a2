"""skctl: record-and-replay simulator toolkit for the Kubernetes control plane."""

__version__ = "0.1.0"
