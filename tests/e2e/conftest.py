"""The `real_cluster` session fixture: a real control plane for the e2e tests (marker `e2e`).

Without built binaries (no Go on the machine) the e2e tests skip with a reason, so a plain
clone still passes `make test`. With SKCTL_E2E_REQUIRED=1 (`make e2e`, CI) a skip is a failure.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.e2e import binaries
from tests.e2e.cluster import Cluster

REQUIRED = os.environ.get("SKCTL_E2E_REQUIRED") == "1"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = os.path.dirname(__file__)
    for item in items:
        if str(item.fspath).startswith(here):
            item.add_marker(pytest.mark.e2e)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if REQUIRED and report.skipped and item.get_closest_marker("e2e") is not None:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"e2e test skipped although SKCTL_E2E_REQUIRED=1: {reason}"


def _require_binaries() -> None:
    if not binaries.is_built():
        v = binaries.go_version()
        why = "Go is not installed" if v is None else f"run `make controlplane` (Go {v[0]}.{v[1]} found)"
        pytest.skip(f"no real control plane built in {binaries.bin_dir()}: {why}")


@pytest.fixture(scope="session")
def real_cluster() -> Iterator[Cluster]:
    """The cluster most tests share: 4 KWOK nodes, a default kube-apiserver."""
    _require_binaries()
    with Cluster(nodes=4) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def real_cluster_uncached() -> Iterator[Cluster]:
    """A second control plane whose API server serves watches from etcd (--watch-cache=false).

    A default API server answers watches from its watch cache, which etcd compaction does not
    touch, so an old resourceVersion keeps working until the cache rolls over; here compacting
    etcd (Cluster.compact_etcd) makes every older resourceVersion answer 410 Expired at once.
    """
    _require_binaries()
    with Cluster(nodes=1, apiserver_args=["--watch-cache=false"]) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def metrics_cluster() -> Iterator[Cluster]:
    """A control plane that serves the resource metrics API, so HorizontalPodAutoscalers act:
    metrics-server scrapes KWOK's per-node metrics, where each pod reports the usage in its
    kwok.x-k8s.io/usage-cpu / usage-memory annotations (tests/e2e/helpers.py sets them); the HPA
    controller syncs every 5 s. Ready once metrics.k8s.io answers for every node."""
    _require_binaries()
    if not binaries.metrics_server_path().is_file():
        pytest.skip(f"metrics-server not built ({binaries.metrics_server_path()}): run `make controlplane`")
    with Cluster(nodes=2, metrics_server=True) as cluster:
        yield cluster
