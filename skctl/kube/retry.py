"""skctl's one retry policy for the API server, used by every retry loop in kube/: one API
call (skctl.kube.api, a few attempts within --request-timeout) and the list+watch loop
(skctl.kube.watch, until stopped).

- Retried: 429 and every 5xx answer (the server or a proxy in front of it may recover),
  and connections that failed or broke. Anything else is the caller's to handle.
- The wait before retry `attempt` (0 for the first): capped, jittered exponential backoff:
  a ceiling of `BACKOFF_BASE * 2**attempt` seconds, at most `BACKOFF_CAP`, and a wait drawn
  between half the ceiling and the ceiling, so clients that failed together do not all
  come back together.
- A `Retry-After` of whole seconds (RFC 9110's delay-seconds; client-go reads the same
  form) replaces the computed wait, capped at `RETRY_AFTER_CAP` (docs/development.md,
  "Retries").
"""

from __future__ import annotations

import random
from typing import Any

BACKOFF_BASE = 0.2
BACKOFF_CAP = 30.0
# The longest a server's Retry-After makes skctl wait: honoured up to a minute (an
# overloaded server asking for 10 s gets 10 s), never longer, so a proxy answering
# `Retry-After: 3600` cannot park a tracer's watch for an hour. One API call waits only
# while its --request-timeout (60 s by default) leaves room for the wait.
RETRY_AFTER_CAP = 60.0
CALL_RETRIES = 3  # retries of one API call after its first attempt


def is_retryable_status(status: int) -> bool:
    """429 Too Many Requests and every 5xx: worth another try after a wait."""
    return status == 429 or 500 <= status <= 599


def retry_after(headers: Any) -> float | None:
    """A response's Retry-After in seconds, or None when it has none or not whole seconds
    (an HTTP date, a fraction or garbage fall back to the computed backoff)."""
    value = headers.get("Retry-After") if headers else None
    if not isinstance(value, str):
        return None
    value = value.strip()
    return float(value) if value.isascii() and value.isdigit() else None


def backoff_delay(attempt: int, retry_after: float | None = None, rng: random.Random | None = None) -> float:
    """Seconds to wait before retry `attempt` (0-based): the server's Retry-After when it
    sent one (capped), else the jittered exponential backoff."""
    if retry_after is not None and retry_after >= 0:
        return min(retry_after, RETRY_AFTER_CAP)
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * (2 ** min(attempt, 16)))
    return (rng or random).uniform(ceiling / 2, ceiling)
