"""A current date and time tool.

Owns `current_datetime`. Rules: the answer comes from the system clock in the requested IANA
time zone (UTC by default); an unknown zone is a `ToolError` naming a valid example.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from agentkit import ToolError, tool

__all__ = ["current_datetime", "now_text"]


def now_text(timezone: str = "UTC", *, now: datetime | None = None) -> str:
    """Format `now` (default: the current time) in `timezone` for the model."""
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ToolError(
            f"unknown time zone {timezone!r}; use an IANA name such as 'Europe/Paris' or 'UTC'"
        ) from None
    moment = (now or datetime.now(UTC)).astimezone(zone)
    return f"{moment.isoformat(timespec='seconds')} ({moment:%A}, {timezone})"


@tool
def current_datetime(timezone: str = "UTC") -> str:
    """Get the current date and time as ISO 8601 with the UTC offset, plus the weekday.

    Args:
        timezone: IANA time zone name, e.g. "UTC", "Europe/Paris" or "America/New_York".
    """
    return now_text(timezone)
