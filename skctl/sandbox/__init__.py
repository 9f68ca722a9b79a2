"""A loopback Kubernetes API server for tests and the demo (see docs/sandbox.md).

`SandboxServer` speaks the real REST and watch protocol, `Faults` makes it misbehave on
purpose, and `workload` generates realistic object churn through the in-process store.
Standard library only at runtime (TLS certificate generation aside).
"""

from skctl.sandbox.server import SandboxServer

__all__ = ["SandboxServer"]
