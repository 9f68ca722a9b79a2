"""skctl's one retry policy (skctl.kube.retry): which answers are retried, how a Retry-After
is read and capped, the backoff's bounds, and an API call against the sandbox API server
honouring it within --request-timeout."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from skctl.kube import retry
from skctl.kube.api import ApiError, Kube
from skctl.sandbox import SandboxServer


@pytest.mark.parametrize(("status", "retried"), [
    (429, True), (500, True), (502, True), (503, True), (504, True), (599, True),
    (200, False), (400, False), (401, False), (403, False), (404, False), (409, False), (410, False),
])
def test_429_and_5xx_are_retried(status: int, retried: bool) -> None:
    assert retry.is_retryable_status(status) is retried


@pytest.mark.parametrize(("value", "seconds"), [
    ("3", 3.0), (" 7 ", 7.0), ("0", 0.0), ("3600", 3600.0),
    ("1.5", None), ("-1", None), ("", None), ("soon", None), ("\u0663", None),  # an Arabic-Indic three
    ("Wed, 21 Oct 2015 07:28:00 GMT", None),
])
def test_retry_after_is_whole_seconds(value: str, seconds: float | None) -> None:
    assert retry.retry_after({"Retry-After": value}) == seconds


def test_no_retry_after_header() -> None:
    assert retry.retry_after({}) is None and retry.retry_after(None) is None


def test_retry_after_wins_and_is_capped() -> None:
    assert retry.backoff_delay(5, 10.0) == 10.0
    assert retry.backoff_delay(0, 0.0) == 0.0
    assert retry.backoff_delay(0, 3600.0) == retry.RETRY_AFTER_CAP == 60.0


def test_backoff_grows_to_its_cap_with_jitter() -> None:
    rng = random.Random(7)
    first = [retry.backoff_delay(0, rng=rng) for _ in range(200)]
    assert all(retry.BACKOFF_BASE / 2 <= d <= retry.BACKOFF_BASE for d in first)
    assert len(set(first)) > 1  # jittered, not one fixed wait
    third = [retry.backoff_delay(2, rng=rng) for _ in range(50)]
    assert all(retry.BACKOFF_BASE * 2 <= d <= retry.BACKOFF_BASE * 4 for d in third)
    late = [retry.backoff_delay(40, rng=rng) for _ in range(50)]
    assert all(retry.BACKOFF_CAP / 2 <= d <= retry.BACKOFF_CAP for d in late)


@pytest.fixture
def kube() -> Iterator[tuple[Kube, SandboxServer]]:
    from kubernetes.client import ApiClient

    server = SandboxServer().start()
    configuration = server.configuration()
    configuration.retries = False  # as skctl.kube.client.connect sets it: skctl's loop is the only one
    client = Kube(ApiClient(configuration))
    try:
        yield client, server
    finally:
        client.close()
        server.stop()


def test_an_api_call_retries_up_to_its_limit(kube: tuple[Kube, SandboxServer]) -> None:
    client, server = kube
    server.faults.fail_next(retry.CALL_RETRIES, 503, retry_after=0, path_contains="/namespaces")
    assert client.request("GET", "/api/v1/namespaces")["kind"] == "NamespaceList"
    server.faults.fail_next(retry.CALL_RETRIES + 1, 503, retry_after=0, path_contains="/namespaces")
    with pytest.raises(ApiError) as info:
        client.request("GET", "/api/v1/namespaces")
    assert info.value.code == 503


def test_a_wait_past_the_request_timeout_is_not_taken(kube: tuple[Kube, SandboxServer]) -> None:
    """Retry-After: 3600 is capped at 60 s, which the default --request-timeout (60 s, partly
    spent) cannot cover: the call fails with the server's 429 at once instead of sleeping
    and then failing for want of time."""
    client, server = kube
    server.faults.fail_next(1, 429, retry_after=3600, path_contains="/namespaces")
    with pytest.raises(ApiError) as info:
        client.request("GET", "/api/v1/namespaces")
    assert info.value.code == 429
    assert server.faults.injected == 1
