"""A `RateLimiter` that records when it let each request go, and the burst those times
needed: tests assert the limiter's decisions, which load cannot move, rather than the
fake server's 429 count, which depends on when requests reach its thread."""

from __future__ import annotations

from agentkit import RateLimiter


class RecordingLimiter(RateLimiter):
    """A limiter that keeps the time each request it let through was given to go."""

    def __init__(self) -> None:
        super().__init__()
        self.slots: list[float] = []

    def reserve(self, input_tokens: int, now: float) -> float:
        wait = super().reserve(input_tokens, now)
        self.slots.append(now + wait)
        return wait


def burst_needed(slots: list[float], rate: float) -> float:
    """The largest count of slots in any window, less what `rate` per second refills over
    its span: the burst those slots needed."""
    times = sorted(slots)
    return max(j - i + 1 - rate * (times[j] - times[i])
               for i in range(len(times)) for j in range(i, len(times)))
