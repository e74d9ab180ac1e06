"""The HTTP rules both clients follow, without I/O: each decision is made here once.

The PCS/PCCS client (:mod:`tdxquote.collateral.pcs`, its sans-I/O exchange
``tdxquote.collateral._exchange``) and the Intel Trust Authority client
(``tdxquote.ita._transport``) keep their own state machines, error classes
and codes; what they decide alike is decided by these functions:

* which statuses are retried (:data:`RETRY_STATUSES`) and how long to wait
  (:func:`retry_delay`: ``Retry-After`` read by :func:`retry_after_seconds`,
  else ``backoff * 2**n`` capped, never past the deadline);
* which transport errors are retried (:func:`transport_failure`);
* the total deadline of one fetch (:class:`Deadline`; the synchronous
  clients' sockets obey it through :mod:`tdxquote._http_deadline`);
* the declared body size (:func:`declared_length`);
* where a redirect goes and whether it is followed (:func:`redirect_target`);
* which headers a URL may receive (:func:`headers_for`: secrets only to
  their own origin);
* how hostile header text is printed (:func:`clean`, :func:`header_text`).

A rule that refuses raises :class:`HttpRefusal` with the ``reason`` the
client maps to its own error (``CollateralFetchError``, ``ItaFetchError``).
"""

from __future__ import annotations

import email.utils
import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import httpx

__all__ = [
    "BODY_KEEPING_REDIRECTS",
    "DEFAULT_PORTS",
    "REDIRECT_STATUSES",
    "RETRY_STATUSES",
    "Deadline",
    "HttpRefusal",
    "Origin",
    "RefusalReason",
    "RetrySchedule",
    "TransportFailure",
    "backoff_delay",
    "check_count",
    "check_retry_options",
    "check_seconds",
    "clean",
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

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
"""Statuses worth another attempt: too many requests, and the server's passing failures."""
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
"""Statuses that redirect (followed by hand, each hop checked)."""
BODY_KEEPING_REDIRECTS = frozenset({307, 308})
"""The only redirects a request with a body (a POST) follows: they resend it unchanged."""
DEFAULT_PORTS = {"http": 80, "https": 443}

Origin = tuple[str, str, int]
"""``(scheme, host, port)``: where a secret header may go."""

RefusalReason = Literal[
    "redirect", "too_large", "deadline", "retry_after", "retry_after_malformed", "exhausted"
]

_SHOWN = 200
_DELAY_SECONDS = re.compile(r"[0-9]+")
_RETRYABLE_TRANSPORT = (httpx.TimeoutException, httpx.RemoteProtocolError, httpx.NetworkError)


class HttpRefusal(Exception):
    """A rule refused to go on; ``reason`` says which, ``message`` says why (printable)."""

    def __init__(self, reason: RefusalReason, message: str) -> None:
        super().__init__(message)
        self.reason: RefusalReason = reason
        self.message = message


# --- numbers a client is configured with ------------------------------------------------


def check_seconds(name: str, value: float, *, positive: bool) -> float:
    """``value`` as seconds: a finite number, not negative (and not 0 when ``positive``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds, not {type(value).__name__}")
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        kind = "positive" if positive else "non-negative"
        raise ValueError(f"{name} must be a finite {kind} number of seconds, not {value!r}")
    return float(value)


def check_count(name: str, value: int, *, minimum: int) -> int:
    """``value`` as a count: an integer, at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer, not {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, not {value!r}")
    return value


def check_retry_options(options: _RetryOptions) -> None:
    """Check the shared fields of a frozen HTTP options dataclass, in place.

    ``timeout`` and ``deadline`` positive seconds; ``backoff``,
    ``max_backoff`` and ``max_retry_after`` non-negative seconds (ints become
    floats); ``retries`` a count from 0.
    """
    for name, positive in _RETRY_OPTION_SECONDS:
        value = check_seconds(name, getattr(options, name), positive=positive)
        object.__setattr__(options, name, value)
    check_count("retries", options.retries, minimum=0)


class _RetryOptions(Protocol):
    @property
    def retries(self) -> int: ...


_RETRY_OPTION_SECONDS = (
    ("timeout", True),
    ("deadline", True),
    ("backoff", False),
    ("max_backoff", False),
    ("max_retry_after", False),
)


# --- hostile text -----------------------------------------------------------------------


def clean(value: str, limit: int = _SHOWN) -> str:
    """``value`` safe to print: printable ASCII only, at most ``limit`` characters."""
    text = "".join(c if " " <= c <= "~" else "?" for c in value[: limit + 1])
    return text if len(text) <= limit else text[:limit] + "..."


def header_text(headers: httpx.Headers, name: str) -> str | None:
    """A header for messages: the first value, printable ASCII, bounded; None when empty."""
    values = headers.get_list(name)
    value = clean(values[0].strip()) if values else ""
    return value if value else None


def status_line(response: httpx.Response) -> str:
    """``HTTP 503 Service Unavailable`` (the reason phrase cleaned and bounded)."""
    return f"HTTP {response.status_code} {clean(response.reason_phrase or 'error', 60)}"


# --- origins ----------------------------------------------------------------------------


def origin_of(url: str | httpx.URL) -> Origin | None:
    """``(scheme, host, port)`` of an http(s) URL, default ports filled in; else ``None``."""
    try:
        parsed = url if isinstance(url, httpx.URL) else httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        return None
    scheme = parsed.scheme
    if scheme not in DEFAULT_PORTS or not parsed.host:
        return None
    return scheme, parsed.host.lower(), parsed.port or DEFAULT_PORTS[scheme]


def headers_for(
    url: str | httpx.URL, origin: Origin | None, headers: Mapping[str, str]
) -> Mapping[str, str]:
    """``headers`` when ``url`` is exactly on ``origin`` (scheme, host, port), else none.

    Asked on every request and every redirect hop, so that an API key never
    follows a redirect (or a URL from a response) to another server.
    """
    return headers if origin is not None and origin_of(url) == origin else {}


# --- time -------------------------------------------------------------------------------


class Deadline:
    """The total time one fetch may take: attempts, redirects, body chunks and waits."""

    def __init__(self, seconds: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._monotonic = monotonic
        self._at = monotonic() + seconds

    def remaining(self) -> float:
        """Seconds left (negative once passed)."""
        return self._at - self._monotonic()

    def timeout(self, per_operation: float) -> float | None:
        """The timeout of the next connect, read or write; None once the deadline passed."""
        left = self.remaining()
        return None if left <= 0 else min(per_operation, left)


def retry_after_seconds(
    values: Sequence[str], now: float, *, max_digits: int | None = None
) -> float | None:
    """The wait a ``Retry-After`` header asks for, in seconds (``None``: no header).

    Accepts exactly one value: ASCII ``delay-seconds`` (any length: a huge
    number is infinite; with ``max_digits``, a longer one is malformed) or an
    HTTP date with a zone (a date in the past is 0).  Anything else (several
    values, signs, fractions, NaN, non-ASCII digits such as ``²``, dates out
    of range) raises :class:`ValueError`.
    """
    if not values:
        return None
    if len(values) != 1:
        raise ValueError(f"{len(values)} Retry-After headers")
    value = values[0].strip(" \t")
    if _DELAY_SECONDS.fullmatch(value) and (max_digits is None or len(value) <= max_digits):
        return float(int(value)) if len(value) <= 15 else math.inf
    if not value.isascii() or not 0 < len(value) <= 64:
        raise ValueError(f"Retry-After {clean(value)!r} is neither seconds nor an HTTP date")
    try:
        when = email.utils.parsedate_to_datetime(value)
        if when.tzinfo is None:
            raise ValueError("no time zone")
        seconds = when.timestamp() - now
    except (TypeError, ValueError, OverflowError, IndexError):
        raise ValueError(
            f"Retry-After {clean(value)!r} is neither seconds nor an HTTP date"
        ) from None
    return math.inf if math.isnan(seconds) else max(0.0, seconds)


def backoff_delay(backoff: float, max_backoff: float, retries_used: int) -> float:
    """``backoff * 2**retries_used`` seconds, capped at ``max_backoff``."""
    return float(min(max_backoff, backoff * 2.0**retries_used))


@dataclass(frozen=True)
class RetrySchedule:
    """How a client retries: ``retries`` more attempts, waits bounded as configured."""

    retries: int
    backoff: float
    max_backoff: float
    max_retry_after: float
    malformed_retry_after: Literal["fail", "backoff"] = "fail"
    retry_after_digits: int | None = None


def retry_delay(
    schedule: RetrySchedule,
    *,
    retries_used: int,
    retry_after: Sequence[str] | None,
    now: float,
    deadline: Deadline,
    last_failure: str,
) -> float:
    """Seconds to wait before the next attempt, or :class:`HttpRefusal` when giving up.

    Gives up when the retries are used (``exhausted``), when ``Retry-After``
    is malformed and the schedule says so (``retry_after_malformed``; else the
    backoff applies), when it asks for more than ``max_retry_after``
    (``retry_after``), or when the wait would end past the deadline
    (``deadline``).  ``retry_after`` is the header's values (None: no response).
    """
    if retries_used >= schedule.retries:
        raise HttpRefusal("exhausted", last_failure)
    asked = None
    if retry_after:
        try:
            asked = retry_after_seconds(retry_after, now, max_digits=schedule.retry_after_digits)
        except ValueError as exc:
            if schedule.malformed_retry_after == "fail":
                raise HttpRefusal(
                    "retry_after_malformed", f"malformed Retry-After header: {exc}"
                ) from None
    if asked is not None and asked > schedule.max_retry_after:
        shown = "an unbounded time" if math.isinf(asked) else f"{asked:.0f} s"
        raise HttpRefusal(
            "retry_after",
            f"the server asks to retry after {shown}, more than the "
            f"{schedule.max_retry_after:g} s allowed",
        )
    delay = (
        asked
        if asked is not None
        else backoff_delay(schedule.backoff, schedule.max_backoff, retries_used)
    )
    if delay >= deadline.remaining():
        raise HttpRefusal(
            "deadline",
            f"{last_failure}; waiting {delay:g} s to retry would pass the "
            f"{deadline.seconds:g} s deadline",
        )
    return delay


# --- responses --------------------------------------------------------------------------


def declared_length(headers: httpx.Headers) -> float | None:
    """The body size ``Content-Length`` declares (infinite when absurd); None when unusable.

    Only exactly one value of ASCII digits counts; anything else is left to
    the cap checked while reading.
    """
    declared = headers.get_list("Content-Length")
    if len(declared) != 1:
        return None
    value = declared[0].strip()
    if not value.isascii() or not value.isdigit():
        return None
    return int(value) if len(value) <= 20 else math.inf


def redirect_target(
    current: str | httpx.URL,
    response: httpx.Response,
    *,
    hops: int,
    max_redirects: int,
    method: str = "GET",
    downgrade_allowed: bool = True,
) -> httpx.URL:
    """Where a redirect ``response`` leads, or :class:`HttpRefusal` (``redirect``).

    Exactly one ``Location``; at most ``max_redirects`` hops (``hops`` made
    so far); an http(s) URL with a host; https to http only when
    ``downgrade_allowed`` (signed content); a request with another method
    than GET only on 307 and 308, which resend it.
    """
    status = response.status_code
    locations = response.headers.get_list("Location")
    if len(locations) != 1:
        raise HttpRefusal(
            "redirect", f"redirect (HTTP {status}) with {len(locations)} Location headers"
        )
    if hops >= max_redirects:
        raise HttpRefusal("redirect", f"more than {max_redirects} redirects")
    base = current if isinstance(current, httpx.URL) else httpx.URL(current)
    try:
        target = base.join(locations[0].strip())
    except (httpx.InvalidURL, TypeError, ValueError, UnicodeError) as exc:
        raise HttpRefusal(
            "redirect", f"redirect to an invalid URL {clean(locations[0])!r}: {clean(str(exc))}"
        ) from None
    if origin_of(target) is None:
        raise HttpRefusal("redirect", f"redirect to a non-http(s) URL {clean(str(target))!r}")
    if base.scheme == "https" and target.scheme == "http" and not downgrade_allowed:
        raise HttpRefusal("redirect", f"redirect from https to http ({clean(str(target))}) refused")
    if method != "GET" and status not in BODY_KEEPING_REDIRECTS:
        raise HttpRefusal("redirect", f"HTTP {status} would turn the {method} into a GET: refused")
    return target


@dataclass(frozen=True)
class TransportFailure:
    """What a transport error means: ``message`` to report, whether it is worth a retry."""

    message: str
    retryable: bool


def transport_failure(exc: httpx.HTTPError) -> TransportFailure:
    """Timeouts, dropped connections and protocol errors are retried; nothing else is.

    A connection that cannot be made (refused, unreachable, unknown host,
    TLS handshake refused) is not retried: nothing suggests it will be
    different in a few seconds.
    """
    name = type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        return TransportFailure(f"timed out ({name})", retryable=True)
    retryable = isinstance(exc, _RETRYABLE_TRANSPORT) and not isinstance(exc, httpx.ConnectError)
    return TransportFailure(f"{name}: {clean(str(exc) or name)}", retryable)
