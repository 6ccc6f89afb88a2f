"""The clock a run reads and sleeps on: `Agent(clock=...)`, injectable so tests don't wait.

The engine never reads a clock: the driver reads `now()` before each step and hands it over
(the run's deadline is `now()` at the start plus `Limits.timeout`), and carries out the
engine's back-off sleeps with `sleep()`. `agentkit.testing.FakeClock` records sleeps instead.
"""

from __future__ import annotations

import time
from typing import Protocol

import anyio

__all__ = ["Clock", "SystemClock"]


class Clock(Protocol):
    """What a run needs of time: a monotonic `now()` in seconds, and an async `sleep()`."""

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock: `time.monotonic` and `anyio.sleep` (the default)."""

    __slots__ = ()

    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)
