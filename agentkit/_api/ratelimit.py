"""`RateLimiter`: requests and tokens per minute, paced before each request is sent.

Owns the client-side budget every request of an `AsyncClient(rate_limiter=...)` passes
through, and reading the API's rate-limit headers. At scale the API answers 429 long before
CPU runs out, so many runs sharing one limiter pace themselves instead of colliding.

Rules:
- Token buckets, as the API's own limits are: each budget refills continuously at
  limit/60 per second and holds at most `burst` seconds of it (the API enforces per minute
  limits over shorter intervals too, so a full minute's burst would meet 429s).
- A request reserves its cost at once and waits until the debt is repaid: callers are
  served in order, with no lock and no polling.
- Budgets are learned from `anthropic-ratelimit-{requests,input-tokens,output-tokens}-*`
  (a lower limit than the one configured wins; `remaining` corrects our estimate) and a
  429's `retry-after` holds every caller until it passes. With nothing configured, the first
  request goes alone, so its headers teach the limits before the rest are sent.
- `share` scales every budget (a worker of N that has 1/N of the account's limits).
- The header parsing (`read_headers`) is sans-IO; only `acquire` waits.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import anyio

from .._errors import UsageError

__all__ = ["RateLimitHeaders", "RateLimitStats", "RateLimiter", "read_headers"]

_KINDS = ("requests", "input-tokens", "output-tokens")


@dataclass(frozen=True, slots=True)
class Budget:
    """One limit as the API reports it: `limit` per minute, `remaining` now, refilled fully
    in `reset` seconds (each None when the header is absent)."""

    limit: float | None = None
    remaining: float | None = None
    reset: float | None = None


@dataclass(frozen=True, slots=True)
class RateLimitHeaders:
    """What one response said about the rate limits."""

    budgets: Mapping[str, Budget]
    """By kind: `"requests"`, `"input-tokens"`, `"output-tokens"` (only those present)."""
    retry_after: float | None
    """Seconds to wait before the next request, from a 429's `retry-after(-ms)`."""


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if number >= 0 else None


def _seconds_until(stamp: str | None, now: float) -> float | None:
    """Seconds from `now` (a Unix time) to an RFC 3339 timestamp; None if unreadable."""
    if not stamp:
        return None
    try:
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return max(0.0, moment.timestamp() - now)


def read_headers(status: int, headers: Mapping[str, str], now: float) -> RateLimitHeaders:
    """The rate-limit facts of one response; `now` is the Unix time it arrived.

    `retry-after` counts only on a 429: gateways send it on 200s too.
    """
    budgets: dict[str, Budget] = {}
    for kind in _KINDS:
        prefix = f"anthropic-ratelimit-{kind}-"
        limit = _number(headers.get(prefix + "limit"))
        remaining = _number(headers.get(prefix + "remaining"))
        if limit is None and remaining is None:
            continue
        budgets[kind] = Budget(limit, remaining, _seconds_until(headers.get(prefix + "reset"), now))
    retry_after = None
    if status == 429:
        ms = _number(headers.get("retry-after-ms"))
        retry_after = ms / 1000 if ms is not None else _number(headers.get("retry-after"))
    return RateLimitHeaders(budgets, retry_after)


class _Bucket:
    """A token bucket that may go into debt: `reserve` debits at once and says how long the
    debt takes to repay."""

    __slots__ = ("capacity", "level", "rate", "stamp")

    def __init__(self, per_minute: float, burst: float, now: float) -> None:
        self.rate = per_minute / 60
        self.capacity = max(1.0, self.rate * burst)
        self.level = self.capacity
        self.stamp = now

    def refill(self, now: float) -> None:
        if now > self.stamp:
            self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
            self.stamp = now

    def reserve(self, cost: float, now: float) -> float:
        self.refill(now)
        self.level -= cost
        return 0.0 if self.level >= 0 else -self.level / self.rate


@dataclass(frozen=True, slots=True)
class RateLimitStats:
    """What a limiter did so far."""

    requests: int
    """Requests let through."""
    rate_limited: int
    """429 responses seen."""
    held_seconds: float
    """Wall time during which at least one request was held back by the budgets."""
    requests_per_minute: float | None
    """The requests budget in force (configured or learned, times `share`); None if none."""
    input_tokens_per_minute: float | None
    output_tokens_per_minute: float | None


class RateLimiter:
    """A requests- and tokens-per-minute budget shared by every request that passes it.

    Give one to `AsyncClient(rate_limiter=...)`, and share that client (or the limiter)
    between all the agents running at once. Budgets: `requests_per_minute`,
    `input_tokens_per_minute` (estimated from the request's size, corrected by the API's
    headers) and `output_tokens_per_minute` (learned from the headers, or fed with
    `record_output`). `learn=True` adopts lower limits from the API's
    `anthropic-ratelimit-*` headers and honours a 429's `retry-after` for every caller.
    `share` is the fraction of the account's limits this limiter may use (a worker of N:
    1/N). `burst` is how many seconds of budget may go out at once.
    """

    def __init__(
        self,
        *,
        requests_per_minute: float | None = None,
        input_tokens_per_minute: float | None = None,
        output_tokens_per_minute: float | None = None,
        learn: bool = True,
        share: float = 1.0,
        burst: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Any] = anyio.sleep,
    ) -> None:
        for name, value in (
            ("requests_per_minute", requests_per_minute),
            ("input_tokens_per_minute", input_tokens_per_minute),
            ("output_tokens_per_minute", output_tokens_per_minute),
        ):
            if value is not None and not value > 0:
                raise UsageError(f"RateLimiter {name} must be above 0 (or None), got {value!r}")
        if not 0 < share <= 1:
            raise UsageError(f"RateLimiter share must be in (0, 1], got {share!r}")
        if not burst > 0:
            raise UsageError(f"RateLimiter burst must be above 0 seconds, got {burst!r}")
        self.learn = learn
        self.share = share
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        now = clock()
        configured = {
            "requests": requests_per_minute,
            "input-tokens": input_tokens_per_minute,
            "output-tokens": output_tokens_per_minute,
        }
        self._configured = configured
        self._buckets: dict[str, _Bucket] = {
            kind: _Bucket(limit * share, burst, now)
            for kind, limit in configured.items()
            if limit is not None
        }
        self._hold_until = 0.0
        self._held_end = 0.0
        self._held = 0.0
        self._requests = 0
        self._rate_limited = 0
        # With nothing to go on, the first request probes alone (its headers teach the rest).
        self._probe: anyio.Event | None = None
        self._probed = bool(self._buckets) or not learn
        self._output_reported = False
        """The headers report output tokens: `record_output` would count them twice."""

    def __repr__(self) -> str:
        budgets = ", ".join(f"{k}={b.rate * 60:g}/min" for k, b in self._buckets.items())
        return f"<RateLimiter {budgets or 'unlimited'} share={self.share:g}>"

    def portion(self, fraction: float) -> RateLimiter:
        """A fresh limiter with the same budgets and `fraction` of this one's share (for
        one of several workers that split the account's limits)."""
        return RateLimiter(
            requests_per_minute=self._configured["requests"],
            input_tokens_per_minute=self._configured["input-tokens"],
            output_tokens_per_minute=self._configured["output-tokens"],
            learn=self.learn, share=self.share * fraction, burst=self.burst,
        )

    # -- the sans-IO core ---------------------------------------------------------------------

    def reserve(self, input_tokens: int, now: float) -> float:
        """Debit one request of `input_tokens` at `now`; the seconds it must wait first."""
        self._requests += 1
        wait = max(0.0, self._hold_until - now)
        for kind, bucket in self._buckets.items():
            cost = 1.0 if kind == "requests" else input_tokens if kind == "input-tokens" else 0.0
            wait = max(wait, bucket.reserve(cost, now))
        self._count_held(now, wait)
        return wait

    def _count_held(self, now: float, wait: float) -> None:
        end = now + wait
        if end > self._held_end:
            self._held += end - max(now, self._held_end)
            self._held_end = end

    def observe(self, status: int | None, headers: Mapping[str, str] | None) -> None:
        """Learn from a response (`status` None: none came). Opens the first-request gate."""
        if self._probe is not None:
            self._probe.set()
            self._probe = None
        self._probed = True
        if status is None or headers is None:
            return
        if status == 429:
            self._rate_limited += 1
        if not self.learn:
            return
        facts = read_headers(status, headers, time.time())
        now = self._clock()
        for kind, budget in facts.budgets.items():
            self._learn(kind, budget, now)
        if "output-tokens" in facts.budgets:
            self._output_reported = True
        if status == 429:
            pause = facts.retry_after if facts.retry_after is not None else 1.0
            self._hold_until = max(self._hold_until, now + min(pause, 60.0))

    def _learn(self, kind: str, budget: Budget, now: float) -> None:
        bucket = self._buckets.get(kind)
        if budget.limit is not None and budget.limit > 0:
            per_minute = budget.limit * self.share
            if bucket is None or per_minute < bucket.rate * 60 - 1e-9:
                fresh = _Bucket(per_minute, self.burst, now)
                if bucket is not None:
                    bucket.refill(now)
                    fresh.level = min(fresh.capacity, bucket.level)
                bucket = self._buckets[kind] = fresh
        if bucket is not None and budget.remaining is not None:
            bucket.refill(now)
            bucket.level = min(bucket.level, budget.remaining * self.share)

    def record_output(self, tokens: int) -> None:
        """Debit `tokens` output tokens, unless the API's headers report them already."""
        bucket = self._buckets.get("output-tokens")
        if bucket is not None and not self._output_reported:
            bucket.reserve(tokens, self._clock())

    @property
    def stats(self) -> RateLimitStats:
        """Requests, 429s, the time held back, and the budgets in force."""

        def per_minute(kind: str) -> float | None:
            bucket = self._buckets.get(kind)
            return None if bucket is None else bucket.rate * 60

        return RateLimitStats(
            requests=self._requests,
            rate_limited=self._rate_limited,
            held_seconds=self._held,
            requests_per_minute=per_minute("requests"),
            input_tokens_per_minute=per_minute("input-tokens"),
            output_tokens_per_minute=per_minute("output-tokens"),
        )

    # -- waiting ---------------------------------------------------------------------------

    async def acquire(self, input_tokens: int = 0) -> None:
        """Wait until a request of `input_tokens` may be sent (then call `observe`)."""
        if not self._probed:
            if self._probe is None:
                self._probe = anyio.Event()  # this caller probes; the rest wait for it
            else:
                await self._probe.wait()
        wait = self.reserve(input_tokens, self._clock())
        while wait > 0:
            await self._sleep(wait)
            wait = self._hold_until - self._clock()  # a 429 meanwhile holds us longer
            if wait > 0:
                self._count_held(self._clock(), wait)
