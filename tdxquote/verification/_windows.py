"""Validity windows: the dates expiry and the supplemental data are computed from.

Kept as running extremes (earliest and latest start, earliest end, latest
start that must have passed), which is all that expiry and the supplemental
dates need.  A :class:`Windows` is filled while checks run; :class:`Validity`
is its frozen summary, kept with a verified result and combined per call.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .._x509_verify import CertView

__all__ = ["Validity", "Windows"]

_NEVER = datetime.max.replace(tzinfo=timezone.utc)
_ALWAYS = datetime.min.replace(tzinfo=timezone.utc)


@dataclass(frozen=True, slots=True)
class Validity:
    """The extremes of a set of validity windows."""

    earliest_start: datetime = _NEVER
    latest_start: datetime = _ALWAYS
    earliest_end: datetime = _NEVER
    latest_checked_start: datetime = _ALWAYS

    def merge(self, other: Validity) -> Validity:
        """Both sets of windows."""
        return Validity(
            min(self.earliest_start, other.earliest_start),
            max(self.latest_start, other.latest_start),
            min(self.earliest_end, other.earliest_end),
            max(self.latest_checked_start, other.latest_checked_start),
        )

    def expired(self, now: datetime) -> bool:
        """Whether ``now`` is outside some window.

        Intel's QvE: expired when the earliest expiration <= now.  A
        certificate's notBefore or a CRL's thisUpdate after now also counts;
        TCB Info / QE identity issueDate does not (QVL never checks it; it
        only feeds the supplemental issue dates).
        """
        return self.earliest_end <= now or self.latest_checked_start > now


class Windows:
    """Validity windows being collected (see :class:`Validity`)."""

    __slots__ = ("earliest_end", "earliest_start", "latest_checked_start", "latest_start")

    def __init__(self) -> None:
        self.earliest_start = _NEVER
        self.latest_start = _ALWAYS
        self.earliest_end = _NEVER
        self.latest_checked_start = _ALWAYS

    def add(self, start: datetime, end: datetime, *, start_checked: bool = True) -> None:
        """One item valid from ``start`` to ``end`` (``start`` counts for expiry if checked)."""
        if start < self.earliest_start:
            self.earliest_start = start
        if start > self.latest_start:
            self.latest_start = start
        if end < self.earliest_end:
            self.earliest_end = end
        if start_checked and start > self.latest_checked_start:
            self.latest_checked_start = start

    def certs(self, certs: Iterable[CertView]) -> None:
        """Every certificate's notBefore and notAfter."""
        for cert in certs:
            self.add(cert.not_before, cert.not_after)

    def frozen(self) -> Validity:
        """The windows collected so far."""
        return Validity(
            self.earliest_start, self.latest_start, self.earliest_end, self.latest_checked_start
        )
