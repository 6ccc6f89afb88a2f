"""The fake API's rate limits: `RateLimit`, enforced as the real API does.

Owns admitting or refusing each `POST /v1/messages` against requests, input-token and
output-token budgets, and the headers that say so: `anthropic-ratelimit-{requests,
input-tokens,output-tokens}-{limit,remaining,reset}` on every answer (reset as RFC 3339),
and a real 429 `rate_limit_error` with `retry-after` when a budget is spent.

Rules: token buckets refilled continuously at limit/60 per second, holding `burst`
seconds of budget (the real API enforces per-minute limits over shorter intervals too);
input tokens are estimated from the body's size as the fake's usage is; output tokens are
charged once the reply is built; thread-safe (a `FakeServer` thread and a test share it).
`admitted` keeps the times of the requests let through, so a test can check the pace.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from .._errors import UsageError

__all__ = ["RateLimit"]


@dataclass
class _Bucket:
    per_minute: float
    burst: float
    level: float = field(init=False)
    stamp: float = field(init=False)

    def __post_init__(self) -> None:
        self.level = self.capacity
        self.stamp = time.monotonic()

    @property
    def rate(self) -> float:
        return self.per_minute / 60

    @property
    def capacity(self) -> float:
        return max(1.0, self.rate * self.burst)

    def refill(self, now: float) -> None:
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now

    def until(self, cost: float) -> float:
        """Seconds until `cost` fits (0 if it does now); call `refill` first."""
        return 0.0 if self.level >= cost else (cost - self.level) / self.rate


class RateLimit:
    """Requests, input tokens and output tokens per minute that a fake enforces.

    `FakeServer(model, rate_limit=RateLimit(requests_per_minute=600))`: requests over
    budget get the API's 429 with `retry-after`; every answer carries the rate-limit headers.
    `rejected` counts the 429s; `admitted` holds the `time.monotonic()` of each request let
    through.
    """

    def __init__(
        self,
        *,
        requests_per_minute: float | None = None,
        input_tokens_per_minute: float | None = None,
        output_tokens_per_minute: float | None = None,
        burst: float = 1.0,
    ) -> None:
        limits = {
            "requests": requests_per_minute,
            "input-tokens": input_tokens_per_minute,
            "output-tokens": output_tokens_per_minute,
        }
        if any(v is not None and not v > 0 for v in limits.values()) or not burst > 0:
            raise UsageError("RateLimit budgets and burst must be above 0")
        self._buckets = {k: _Bucket(v, burst) for k, v in limits.items() if v is not None}
        self._lock = threading.Lock()
        self.rejected = 0
        """429s answered."""
        self.admitted: list[float] = []
        """When each admitted request came (`time.monotonic()`)."""

    def admit(self, input_tokens: int) -> tuple[bool, list[tuple[str, str]]]:
        """Charge one request of `input_tokens`, or refuse it: (admitted, headers to send)."""
        with self._lock:
            now = time.monotonic()
            costs = {"requests": 1.0, "input-tokens": float(input_tokens), "output-tokens": 0.0}
            wait = 0.0
            for kind, bucket in self._buckets.items():
                bucket.refill(now)
                wait = max(wait, bucket.until(min(costs[kind], bucket.capacity)))
            if wait > 0:
                self.rejected += 1
                headers = self._headers(now)
                headers.append(("retry-after", str(max(1, math.ceil(wait)))))
                return False, headers
            for kind, bucket in self._buckets.items():
                bucket.level -= costs[kind]
            self.admitted.append(now)
            return True, self._headers(now)

    def charge_output(self, tokens: int) -> None:
        """Charge a built reply's output tokens."""
        bucket = self._buckets.get("output-tokens")
        if bucket is not None:
            with self._lock:
                bucket.refill(time.monotonic())
                bucket.level -= tokens

    def _headers(self, now: float) -> list[tuple[str, str]]:
        headers: list[tuple[str, str]] = []
        wall = time.time()
        for kind, bucket in self._buckets.items():
            full_in = max(0.0, (bucket.capacity - bucket.level) / bucket.rate)
            reset = datetime.fromtimestamp(wall + full_in, UTC).isoformat().replace("+00:00", "Z")
            prefix = f"anthropic-ratelimit-{kind}-"
            headers += [
                (prefix + "limit", f"{bucket.per_minute:g}"),
                (prefix + "remaining", str(max(0, math.floor(bucket.level)))),
                (prefix + "reset", reset),
            ]
        return headers
