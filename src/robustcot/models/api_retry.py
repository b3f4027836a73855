"""Typed retry decisions for API calls: rate limit, transient, or fail; and how long to wait.

Separating "what kind of failure is this" from "what the loop does about it" keeps the policy
testable without a server, and lets the concurrency limiter react to rate limits only (a 500 says
nothing about how fast we may send).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Literal

RetryKind = Literal["retry_rate_limit", "retry_transient", "fail"]

#: Statuses worth retrying besides 429: request timeout, conflict, too early, and server errors.
_TRANSIENT_STATUS = frozenset({408, 409, 425})


@dataclass(frozen=True)
class RetryDecision:
    """What to do after a failed attempt."""

    kind: RetryKind
    reason: str
    """Short description of the failure (status and message), for error fields and logs."""
    retry_after_s: float | None = None
    """Server-requested wait (``Retry-After`` / ``retry-after-ms``), when it sent one."""


def parse_retry_after(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (delay-seconds or HTTP-date).

    ``None`` when absent or unparseable; a date in the past gives 0.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    if (ms := lowered.get("retry-after-ms")) is not None:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


def classify_error(exc: BaseException) -> RetryDecision:
    """Map an exception from the OpenAI SDK (or the response parser) to a retry decision."""
    import openai

    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        detail = exc.body.get("message") if isinstance(exc.body, dict) else None
        reason = f"HTTP {status}: {detail or exc.message}"
        retry_after = parse_retry_after(exc.response.headers)
        if status == 429:
            return RetryDecision("retry_rate_limit", reason, retry_after)
        if status >= 500 or status in _TRANSIENT_STATUS:
            return RetryDecision("retry_transient", reason, retry_after)
        return RetryDecision("fail", reason)
    if isinstance(exc, openai.APITimeoutError):
        return RetryDecision("retry_transient", "timed out")
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__
        return RetryDecision(
            "retry_transient", f"connection error ({type(cause).__name__ if cause else 'unknown'})"
        )
    if isinstance(exc, (ValueError, openai.APIResponseValidationError)):
        # A 200 whose body is not valid JSON / not a chat completion: a truncated or garbled reply.
        return RetryDecision("retry_transient", f"malformed response ({type(exc).__name__}: {exc})")
    return RetryDecision("fail", f"{type(exc).__name__}: {exc}")


def backoff_delay(retry: int, base_s: float, cap_s: float, rng: random.Random) -> float:
    """Exponential backoff with "equal jitter": between half and all of ``min(cap, base * 2**retry)``.

    The deterministic half guarantees growth; the random half spreads clients that failed together.
    """
    step = min(cap_s, base_s * 2**retry)
    return step / 2 + rng.uniform(0, step / 2)
