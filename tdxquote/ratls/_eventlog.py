"""dstack event-log entries, the runtime-event digest, and the JSON event log.

A :class:`TdxEvent` is one entry of the TD's event log (``imr`` is 0-based:
RTMR0 to RTMR3); a :class:`RuntimeEvent` is one RTMR3 event dstack extends at
runtime (``app-id``, ``compose-hash``, ...).  Runtime digests are recomputed
from name and payload (:func:`runtime_event_digest`), because certificates
carry them stripped.  Event-log version 1 hashes ``le32(type) || ":" || name
|| ":" || payload``; version 2 (dstack after v0.5.11, opt-in) hashes the JCS
(RFC 8785) document ``{"name", "payload": lowercase hex, "type"}``.

The JSON form (legacy extension ``.1.2``, GetQuote's ``event_log``) is a list
of ``{"imr", "event_type", "digest", "event", "event_payload"}`` objects with
hex byte strings; :func:`parse_event_log_json` reads it strictly.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, NamedTuple

from ._errors import RaTlsFormatError

__all__ = [
    "DIGEST_SIZE",
    "EVENT_LOG_VERSIONS",
    "MAX_EVENTS",
    "MAX_EVENT_FIELD_SIZE",
    "RUNTIME_EVENT_TYPE",
    "RuntimeEvent",
    "TdxEvent",
    "check_preimage",
    "parse_event_log_json",
    "runtime_event_digest",
    "runtime_event_preimage",
]

RUNTIME_EVENT_TYPE = 0x08000001
"""``DSTACK_RUNTIME_EVENT_TYPE``: the event type of RTMR3 runtime events."""
DIGEST_SIZE = 48
"""SHA-384: the size of every RTMR and every digest extended into one."""
MAX_EVENTS = 2048
"""Most events one log may hold (the event log, the runtime events; JSON or SCALE).

dstack's full boot log has a few tens of entries and its runtime log about
ten; the cap bounds the time and memory a hostile log can cost."""
MAX_EVENT_FIELD_SIZE = 1 << 20
"""Largest name, digest or payload of one event, in bytes (1 MiB; dstack's are under 1 KiB)."""

EVENT_LOG_VERSIONS = (1, 2)
"""dstack's ``EventLogVersion``: 1 (all releases) and 2 (JCS digests, after v0.5.11)."""

_RUNTIME_PREFIX = RUNTIME_EVENT_TYPE.to_bytes(4, "little") + b":"
_MAX_U32 = 0xFFFF_FFFF
_HEX = re.compile(r"(?:[0-9a-fA-F]{2})*")


def runtime_event_preimage(name: str, payload: bytes, version: int = 1) -> bytes:
    """The bytes dstack hashes into a runtime event's digest.

    Version 1: ``le32(0x08000001) || ":" || name || ":" || payload``.  Version 2:
    the JCS (RFC 8785) document ``{"name":...,"payload":"<lowercase hex>","type":134217729}``;
    with these three keys (ASCII, sorted) and a name that is a valid string,
    ``json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)``
    is exactly JCS (same escapes, integer as written, UTF-8 output).
    """
    if version == 1:
        return _RUNTIME_PREFIX + name.encode("utf-8") + b":" + payload
    if version == 2:
        document = {"name": name, "payload": payload.hex(), "type": RUNTIME_EVENT_TYPE}
        return json.dumps(
            document, sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode("utf-8")
    raise ValueError(f"unknown event-log version {version!r}")


def runtime_event_digest(name: str, payload: bytes, version: int = 1) -> bytes:
    """SHA-384 of :func:`runtime_event_preimage`: the digest dstack extends into RTMR3."""
    return hashlib.sha384(runtime_event_preimage(name, payload, version)).digest()


class TdxEvent(NamedTuple):
    """One event-log entry: RTMR index (0-based), type, digest, name and payload.

    Stripped logs (as certificates embed them) keep the payload of runtime
    events and empty their digest; boot events keep the digest and lose the
    payload.
    """

    imr: int
    event_type: int
    digest: bytes
    event: str
    event_payload: bytes
    version: int = 1
    """Event-log version (2: JCS runtime digest); only V1 msgpack and JSON logs carry 2."""
    preimage: bytes | None = None
    """What the digest hashes, when the log carries it (event-log version 2)."""

    @property
    def is_runtime(self) -> bool:
        """True for a dstack runtime event (type 0x08000001)."""
        return self.event_type == RUNTIME_EVENT_TYPE

    def replay_digest(self) -> bytes | None:
        """The digest to extend: the one carried, else the recomputed runtime digest.

        None for a boot event whose digest was stripped: it cannot be replayed.
        """
        if self.digest:
            return self.digest
        if self.is_runtime:
            return runtime_event_digest(self.event, self.event_payload, self.version)
        return None


class RuntimeEvent(NamedTuple):
    """One RTMR3 runtime event: name, payload and event-log version (1, or 2 for JCS)."""

    event: str
    payload: bytes
    version: int = 1

    @property
    def digest(self) -> bytes:
        """The digest dstack extended into RTMR3 for this event."""
        return runtime_event_digest(self.event, self.payload, self.version)


def check_preimage(event: TdxEvent, field: str) -> None:
    """Refuse an event whose carried ``preimage`` does not hash to its (non-empty) digest.

    dstack validates V2 preimages the same way; an empty digest (stripped) has
    nothing to check, and the digest is recomputed from name and payload anyway.
    """
    if event.preimage is None or not event.digest:
        return
    if hashlib.sha384(event.preimage).digest() != event.digest:
        raise _fail("the preimage does not hash to the digest", f"{field}.preimage")


# --- JSON -----------------------------------------------------------------------------------


def _fail(reason: str, field: str, offset: int = 0) -> RaTlsFormatError:
    return RaTlsFormatError(reason, offset=offset, field=field)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _u32(entry: dict[str, Any], key: str, field: str) -> int:
    if key not in entry:
        raise _fail(f"missing {key!r}", field)
    value = entry[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(f"{key!r} must be an integer, not {type(value).__name__}", f"{field}.{key}")
    if not 0 <= value <= _MAX_U32:
        raise _fail(f"{key!r} {value} is outside 0..2**32-1", f"{field}.{key}")
    return value


def _hex(entry: dict[str, Any], key: str, field: str, *, default: str | None = None) -> bytes:
    value = entry.get(key, default)
    if value is None:
        raise _fail(f"missing {key!r}", field)
    if not isinstance(value, str):
        raise _fail(f"{key!r} must be a hex string, not {type(value).__name__}", f"{field}.{key}")
    if _HEX.fullmatch(value) is None:
        raise _fail(f"{key!r} is not an even-length hex string", f"{field}.{key}")
    return bytes.fromhex(value)


def _entry(raw: object, index: int, field: str) -> TdxEvent:
    where = f"{field}[{index}]"
    if not isinstance(raw, dict):
        raise _fail(f"an event must be a JSON object, not {type(raw).__name__}", where)
    version = raw.get("version", 1)
    if isinstance(version, bool) or version not in EVENT_LOG_VERSIONS:
        raise _fail(f"unknown event-log version {version!r}", f"{where}.version")
    imr = _u32(raw, "imr", where)
    event_type = _u32(raw, "event_type", where)
    digest = _hex(raw, "digest", where, default="")
    if len(digest) not in (0, DIGEST_SIZE):
        raise _fail(
            f"a digest must be empty or {DIGEST_SIZE} bytes (SHA-384), not {len(digest)}",
            f"{where}.digest",
        )
    name = raw.get("event")
    if not isinstance(name, str):
        raise _fail("'event' must be a string", f"{where}.event")
    if len(name) > MAX_EVENT_FIELD_SIZE:
        raise _fail(f"'event' is longer than {MAX_EVENT_FIELD_SIZE}", f"{where}.event")
    payload = _hex(raw, "event_payload", where)
    if len(payload) > MAX_EVENT_FIELD_SIZE:
        raise _fail(
            f"'event_payload' is {len(payload)} bytes: more than {MAX_EVENT_FIELD_SIZE}",
            f"{where}.event_payload",
        )
    preimage = _hex(raw, "preimage", where) if "preimage" in raw else None
    if preimage is not None and len(preimage) > MAX_EVENT_FIELD_SIZE:
        raise _fail(f"'preimage' is longer than {MAX_EVENT_FIELD_SIZE}", f"{where}.preimage")
    event = TdxEvent(imr, event_type, digest, name, payload, version, preimage)
    check_preimage(event, where)
    return event


# Members one event object may have: dstack writes 5 (imr, event_type, digest, event,
# event_payload), with "version" and "preimage" in newer logs; others are ignored.
_MAX_MEMBERS = 16


def _check_size(text: str, field: str) -> None:
    """Refuse, before ``json.loads`` builds anything, a log with too many JSON values.

    An event is one object of scalars, so a log of at most :data:`MAX_EVENTS`
    events has at most that many objects plus the array, and a bounded number
    of commas.  Counting the characters over-counts (they may sit inside
    strings), never under-counts, and costs one pass over the text.
    """
    containers = text.count("{") + text.count("[")
    if containers > MAX_EVENTS + 1 or text.count(",") > MAX_EVENTS * _MAX_MEMBERS:
        raise _fail(
            f"more JSON values than an event log of at most {MAX_EVENTS} events holds", field
        )


def parse_event_log_json(data: bytes | str, *, field: str = "event_log") -> tuple[TdxEvent, ...]:
    """Parse a dstack JSON event log (UTF-8 bytes or text) into events, in order.

    Each entry needs ``imr``, ``event_type`` (unsigned 32-bit), ``event`` (a
    string) and ``event_payload`` (hex); ``digest`` (hex, empty or 48 bytes)
    defaults to empty.  Unknown members are ignored, duplicates refused.
    ``version`` (1 or 2) defaults to 1; ``preimage`` (hex), when present with
    a digest, must hash to it.  At most :data:`MAX_EVENTS` events, names and
    payloads of at most :data:`MAX_EVENT_FIELD_SIZE`; a text with more JSON
    values than such a log can hold is refused before it is decoded.  Raises
    :class:`~tdxquote.ratls.RaTlsFormatError` for anything else.
    """
    if isinstance(data, (bytes, bytearray, memoryview)):
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _fail("the event log is not UTF-8", field, exc.start) from None
    else:
        text = data
    _check_size(text, field)
    try:
        document = json.loads(text, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as exc:
        raise _fail(f"the event log is not JSON: {exc.msg}", field, exc.pos) from None
    except (ValueError, RecursionError) as exc:
        raise _fail(f"the event log is not acceptable JSON: {exc}", field) from None
    if not isinstance(document, list):
        raise _fail(f"the event log must be a JSON array, not {type(document).__name__}", field)
    if len(document) > MAX_EVENTS:
        raise _fail(f"{len(document)} events: more than the {MAX_EVENTS} allowed", field)
    return tuple(_entry(raw, index, field) for index, raw in enumerate(document))
