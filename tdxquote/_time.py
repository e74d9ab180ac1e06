"""Time as an argument: ``now`` given as a datetime or unix seconds."""

from __future__ import annotations

from datetime import datetime, timezone

__all__ = ["to_datetime"]


def to_datetime(now: datetime | int | float) -> datetime:
    """``now`` as an aware UTC datetime (unix seconds accepted; naive means UTC)."""
    if isinstance(now, datetime):
        return now if now.tzinfo is not None else now.replace(tzinfo=timezone.utc)
    if isinstance(now, bool) or not isinstance(now, (int, float)):
        raise TypeError(f"now must be a datetime or unix seconds, not {type(now).__name__}")
    return datetime.fromtimestamp(now, tz=timezone.utc)
