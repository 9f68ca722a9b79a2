"""skctl.kube.watch against the sandbox API server: when a watch resumes at once and when it
backs off (issue 20: a healthy watch that broke waited ever longer, so changes were stamped late)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from skctl.kube.watch import ListWatch
from skctl.sandbox import SandboxServer
from tests.helpers import wait_for

PATH = "/api/v1/namespaces/default/configmaps"


@pytest.fixture
def quiet_sandbox() -> Iterator[SandboxServer]:
    """A server whose bookmarks come once a minute: a fresh watch hears nothing for a while."""
    with SandboxServer(bookmark_interval=60) as server:
        yield server


def start(server: SandboxServer, events: list[tuple[str, str]] | None = None) -> ListWatch:
    sink = events if events is not None else []
    watch = ListWatch(server.api_client(), PATH, lambda kind, obj: sink.append((kind, obj["metadata"]["name"])),
                      lambda items: None, name="configmaps").start()
    assert watch.stats.synced.wait(10)
    wait_for(lambda: watch.stats.state == "watching" and server.open_watches == 1, "the watch")
    return watch


def reconnected(server: SandboxServer, watch: ListWatch, before: int) -> bool:
    return server.watches_started > before and server.open_watches == 1 and watch.stats.state == "watching"


def touch(server: SandboxServer, name: str) -> None:
    """A write elsewhere: the global resourceVersion moves, so the watch gets a bookmark."""
    server.store.create(server.store.resource("v1", "Secret"), {"metadata": {"name": name, "namespace": "default"}})


def test_a_healthy_watch_that_breaks_resumes_at_once_and_only_failures_in_a_row_back_off(
        sandbox: SandboxServer) -> None:
    events: list[tuple[str, str]] = []
    watch = start(sandbox, events)
    try:
        bookmarked(sandbox, watch, "s1")
        # cut after hearing a bookmark: one error, no wait, nothing to back off from
        before = sandbox.watches_started
        assert sandbox.faults.break_watches() == 1
        wait_for(lambda: reconnected(sandbox, watch, before), "the reconnect")
        assert watch.stats.errors == 1 and "broke" in watch.stats.last_error
        assert watch.stats.backoffs == 0 and watch.stats.failures == 0
        # three refusals in a row: each waits longer (the delays chosen, not measured)
        sandbox.faults.fail_next(3, 500, path_contains="/configmaps")
        bookmarked(sandbox, watch, "s2")
        before = sandbox.watches_started
        sandbox.faults.break_watches()
        wait_for(lambda: reconnected(sandbox, watch, before), "the reconnect after three refusals")
        assert watch.stats.backoffs == 3
        assert 0.4 <= watch.stats.last_delay <= 0.8  # the third try in a row: 0.2 * 2**2, jittered to [1/2, 1]
        # the fourth try connected; the failures in a row end once the server says something
        assert watch.stats.failures == 3
        bookmarked(sandbox, watch, "s3")
        assert watch.stats.failures == 0
        # so the next break resumes at once again: the backoff started over
        before = sandbox.watches_started
        sandbox.faults.break_watches()
        wait_for(lambda: reconnected(sandbox, watch, before), "the reconnect")
        assert watch.stats.backoffs == 3 and watch.stats.failures == 0
        # nothing lost across the breaks
        sandbox.store.create(sandbox.store.resource("v1", "ConfigMap"),
                             {"metadata": {"name": "after", "namespace": "default"}})
        wait_for(lambda: ("ADDED", "after") in events, "the event after the breaks")
    finally:
        watch.stop()
        watch.join(10)


def bookmarked(server: SandboxServer, watch: ListWatch, name: str) -> None:
    """Write elsewhere, then wait until the watch heard the bookmark that follows."""
    rv = watch.stats.resource_version
    touch(server, name)
    wait_for(lambda: watch.stats.resource_version != rv, f"a bookmark after {name}")


def test_a_watch_cut_before_the_server_said_anything_backs_off_more_each_time(quiet_sandbox: SandboxServer) -> None:
    watch = start(quiet_sandbox)
    try:
        delays = []
        for n in (1, 2, 3):
            before = quiet_sandbox.watches_started
            quiet_sandbox.faults.break_watches()
            wait_for(lambda b=before: reconnected(quiet_sandbox, watch, b), f"reconnect {n}")
            assert watch.stats.backoffs == n
            delays.append(watch.stats.last_delay)
        # ceilings 0.2, 0.4, 0.8 s with jitter in [1/2, 1] of each: strictly growing
        assert delays[0] <= 0.2 < delays[1] <= 0.4 < delays[2] <= 0.8
        assert watch.stats.failures == 3  # no word from the server since: the next cut waits longer still
    finally:
        watch.stop()
        watch.join(10)


@pytest.mark.parametrize("short_watch", [0.0, 60.0])
def test_a_clean_end_resumes_at_once_unless_it_came_at_once_and_silent(quiet_sandbox: SandboxServer,
                                                                       short_watch: float) -> None:
    """A clean end is the server's word: resume at once. But a watch that ends cleanly
    without a word sooner than `short_watch` (a server or proxy that closes every watch at
    once) is a failure that backs off, so such a server is not hammered."""
    watch = ListWatch(quiet_sandbox.api_client(), PATH, lambda kind, obj: None, lambda items: None,
                      short_watch=short_watch).start()
    try:
        wait_for(lambda: watch.stats.state == "watching" and quiet_sandbox.open_watches == 1, "the watch")
        before = quiet_sandbox.watches_started
        heard = watch.stats.last_heard_at
        quiet_sandbox.faults.drop_watches()
        wait_for(lambda: reconnected(quiet_sandbox, watch, before), "the reconnect")
        if short_watch == 0.0:
            assert watch.stats.backoffs == 0 and watch.stats.errors == 0
            assert watch.stats.last_heard_at > heard
        else:
            assert watch.stats.backoffs == 1 and "at once without a word" in watch.stats.last_error
            assert watch.stats.last_heard_at == heard
    finally:
        watch.stop()
        watch.join(10)


def test_a_quiet_watch_is_ended_by_the_server_never_by_the_client_timing_out(quiet_sandbox: SandboxServer) -> None:
    """No bookmark, no event: the server's timeoutSeconds ends each watch cleanly before the
    client's read timeout (timeoutSeconds + READ_MARGIN) could, and the next starts at once."""
    watch = ListWatch(quiet_sandbox.api_client(), PATH, lambda kind, obj: None, lambda items: None,
                      watch_timeout=1, short_watch=0.5).start()
    try:
        wait_for(lambda: watch.stats.restarts >= 3, "three watches ended by the server", timeout=30)
        assert watch.stats.errors == 0 and watch.stats.backoffs == 0, watch.stats.last_error
        assert quiet_sandbox.watches_started >= 3
    finally:
        watch.stop()
        watch.join(10)
