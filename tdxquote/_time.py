"""Time as an argument: ``now`` given as a datetime or unix seconds."""

from __future__ import annotations

import math
from datetime import datetime, timezone

__all__ = ["to_datetime"]


def to_datetime(now: datetime | int | float) -> datetime:
    """``now`` as an aware UTC datetime (unix seconds accepted; naive means UTC).

    ``TypeError`` for anything else; ``ValueError`` for seconds that are not
    finite or outside the years 1 to 9999 (never ``OverflowError``).
    """
    if isinstance(now, datetime):
        return now if now.tzinfo is not None else now.replace(tzinfo=timezone.utc)
    if isinstance(now, bool) or not isinstance(now, (int, float)):
        raise TypeError(f"now must be a datetime or unix seconds, not {type(now).__name__}")
    if isinstance(now, float) and not math.isfinite(now):
        raise ValueError(f"now must be finite unix seconds, not {now!r}")
    try:
        return datetime.fromtimestamp(now, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        raise ValueError(f"now={now!r} is outside the dates a datetime can hold") from None
