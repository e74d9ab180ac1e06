"""HTTP shared by the PCS/PCCS client and the Intel Trust Authority client.

:mod:`._rules` decides, without I/O, what both clients decide alike
(retries and ``Retry-After``, the total deadline, size caps, transport
errors, redirects, origin-bound secrets); :mod:`._deadline` is the httpx
transport whose every socket operation ends by the current fetch's deadline.
Each client keeps its own state machine, errors and codes on top
(``tdxquote.collateral._exchange``, ``tdxquote.ita._transport``).
"""

from __future__ import annotations

from ._deadline import DeadlineTransport, deadline_scope
from ._rules import (
    BODY_KEEPING_REDIRECTS,
    DEFAULT_PORTS,
    REDIRECT_STATUSES,
    RETRY_STATUSES,
    Deadline,
    HttpRefusal,
    Origin,
    RefusalReason,
    RetrySchedule,
    TransportFailure,
    backoff_delay,
    check_count,
    check_seconds,
    clean,
    declared_length,
    header_text,
    headers_for,
    origin_of,
    redirect_target,
    retry_after_seconds,
    retry_delay,
    status_line,
    transport_failure,
)

__all__ = [
    "BODY_KEEPING_REDIRECTS",
    "DEFAULT_PORTS",
    "REDIRECT_STATUSES",
    "RETRY_STATUSES",
    "Deadline",
    "DeadlineTransport",
    "HttpRefusal",
    "Origin",
    "RefusalReason",
    "RetrySchedule",
    "TransportFailure",
    "backoff_delay",
    "check_count",
    "check_seconds",
    "clean",
    "deadline_scope",
    "declared_length",
    "header_text",
    "headers_for",
    "origin_of",
    "redirect_target",
    "retry_after_seconds",
    "retry_delay",
    "status_line",
    "transport_failure",
]
