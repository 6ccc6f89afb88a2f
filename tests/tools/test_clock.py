"""current_datetime: ISO 8601 in the requested IANA zone; unknown zones refused."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import pytest
from agentkit_tools.clock import current_datetime, now_text

from agentkit import ToolError

Call = Callable[..., Awaitable[str]]  # the `ok` and `refused` fixtures (conftest.py)

MOMENT = datetime(2026, 1, 15, 12, 0, 5, tzinfo=UTC)


def test_formats_in_the_requested_zone() -> None:
    assert now_text(now=MOMENT) == "2026-01-15T12:00:05+00:00 (Thursday, UTC)"
    assert (
        now_text("Europe/Paris", now=MOMENT) == "2026-01-15T13:00:05+01:00 (Thursday, Europe/Paris)"
    )
    assert now_text("Pacific/Kiritimati", now=MOMENT).startswith(
        "2026-01-16T02:00:05+14:00 (Friday"
    )


@pytest.mark.parametrize("zone", ["Mars/Olympus", "../../etc/passwd", ""])
def test_unknown_zone_is_refused(zone: str) -> None:
    with pytest.raises(ToolError, match="unknown time zone"):
        now_text(zone)


@pytest.mark.asyncio
async def test_tool_returns_the_current_time(ok: Call, refused: Call) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    text = await ok(current_datetime)
    after = datetime.now(UTC)
    stamp = datetime.fromisoformat(text.split(" ")[0])
    assert before <= stamp <= after
    assert "unknown time zone" in await refused(current_datetime, timezone="Nowhere/Land")
