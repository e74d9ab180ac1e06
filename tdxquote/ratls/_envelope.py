"""dstack's ``VersionedAttestation`` (OID ``.1.8``): the SCALE V0 schema and its decoder.

The first byte selects the wire format: ``0x00`` is V0, SCALE-encoded (the
only form dstack releases up to v0.5.11 write for TDX); a msgpack map
(``0x80``-``0x8f``, ``0xde``, ``0xdf``) is V1, decoded by
:mod:`tdxquote.ratls._msgpack_v1`; anything else is malformed.

V0 TDX layout (``dstack-attest``, ``cc-eventlog``)::

    u8 0 (V0) | u8 0 (AttestationQuote::DstackTdx)
    | Vec<u8> quote | Vec<TdxEvent> event_log
    | Vec<RuntimeEvent> runtime_events | [u8; 64] report_data | String config

    TdxEvent     = u32 imr | u32 event_type | Vec<u8> digest | String event
                   | Vec<u8> event_payload
    RuntimeEvent = String event | Vec<u8> payload

Trailing bytes are refused (dstack HEAD does; v0.5.11 ignored them).  Each
of the two event lists holds at most :data:`~tdxquote.ratls._eventlog.MAX_EVENTS`
events, each name, digest and payload at most
:data:`~tdxquote.ratls._eventlog.MAX_EVENT_FIELD_SIZE` bytes, and every count
and length is checked against the bytes left before anything is decoded, so
any input up to the 10 MiB limit is decoded or refused quickly, in little memory.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import construct as c

from ..schema._layouts import Rule, RuleViolation
from ._errors import RaTlsFormatError, UnsupportedAttestationError
from ._eventlog import MAX_EVENT_FIELD_SIZE, MAX_EVENTS, RuntimeEvent, TdxEvent
from ._msgpack_v1 import AttestationV1, decode_attestation_v1, is_msgpack_map
from ._scale import (
    ByteVec,
    End,
    Enum,
    ScaleError,
    String,
    UnsupportedVariant,
    Vec,
    byte_vec,
    string,
)

__all__ = [
    "ATTESTATION_QUOTE_VARIANTS",
    "MAX_ATTESTATION_SIZE",
    "RUNTIME_EVENT",
    "TDX_EVENT",
    "VERSIONED_ATTESTATION_V0",
    "AttestationV0",
    "decode_attestation",
    "encode_attestation_v0",
]

MAX_ATTESTATION_SIZE = 10 << 20
"""dstack refuses attestations larger than 10 MiB."""

ATTESTATION_QUOTE_VARIANTS: dict[str, int] = {
    "DstackTdx": 0,
    "DstackGcpTdx": 1,
    "DstackNitroEnclave": 2,
    "DstackAmdSevSnp": 3,
    "DstackAwsNitroTpm": 4,
}
"""``AttestationQuote`` variants at dstack HEAD, by SCALE tag (declaration index)."""

_EVENT_BYTES = byte_vec(MAX_EVENT_FIELD_SIZE)
_EVENT_NAME = string(MAX_EVENT_FIELD_SIZE)

TDX_EVENT = c.Struct(
    "imr" / c.Int32ul,
    "event_type" / c.Int32ul,
    "digest" / _EVENT_BYTES,
    "event" / _EVENT_NAME,
    "event_payload" / _EVENT_BYTES,
)

RUNTIME_EVENT = c.Struct(
    "event" / _EVENT_NAME,
    "payload" / _EVENT_BYTES,
)

# The fewest bytes an event takes (all strings empty): a count the bytes left cannot hold is
# refused before any event is decoded.
_TDX_EVENT_MIN_SIZE = len(
    TDX_EVENT.build({"imr": 0, "event_type": 0, "digest": b"", "event": "", "event_payload": b""})
)
_RUNTIME_EVENT_MIN_SIZE = len(RUNTIME_EVENT.build({"event": "", "payload": b""}))

TDX_QUOTE = c.Struct(
    "quote" / ByteVec,
    "event_log" / Vec(TDX_EVENT, max_count=MAX_EVENTS, min_size=_TDX_EVENT_MIN_SIZE),
)

ATTESTATION = c.Struct(
    "quote" / Enum("AttestationQuote", ATTESTATION_QUOTE_VARIANTS, {"DstackTdx": TDX_QUOTE}),
    "runtime_events" / Vec(RUNTIME_EVENT, max_count=MAX_EVENTS, min_size=_RUNTIME_EVENT_MIN_SIZE),
    "report_data" / c.Bytes(64),
    "config" / String,
)

VERSIONED_ATTESTATION_V0 = c.Struct(
    "version" / c.Int8ul,
    Rule(
        "version",
        lambda ctx: None if ctx.version == 0 else f"version {ctx.version} is not V0 (0)",
    ),
    "attestation" / ATTESTATION,
    End,
)
"""``VersionedAttestation::V0`` with a DstackTdx quote: the whole ``.1.8`` payload."""


@dataclass(frozen=True)
class AttestationV0:
    """A decoded V0 DstackTdx attestation; ``quote`` is the raw quote, padding included."""

    quote: bytes
    event_log: tuple[TdxEvent, ...]
    runtime_events: tuple[RuntimeEvent, ...]
    report_data: bytes
    config: str


def _field(path: object) -> str:
    """``(parsing) -> attestation -> quote -> value -> quote`` as ``attestation.quote.quote``."""
    parts = [p.strip() for p in str(path or "").split("->")]
    parts = [p for p in parts if p and not p.startswith("(") and p != "value"]
    if parts[:1] == ["attestation"]:
        parts = parts[1:]
    return ".".join(["attestation", *parts])


def _reason(exc: c.ConstructError) -> str:
    reason = getattr(exc, "reason", None)
    if isinstance(reason, str):
        return reason
    return str(exc).split("\n", 1)[-1]


def decode_attestation(payload: bytes | bytearray | memoryview) -> AttestationV0 | AttestationV1:
    """Decode a ``.1.8`` payload: a V0 SCALE or V1 msgpack ``VersionedAttestation`` (TDX).

    Raises :class:`~tdxquote.ratls.RaTlsFormatError` for malformed bytes (with
    the offset where decoding stopped) and
    :class:`~tdxquote.ratls.UnsupportedAttestationError` for non-TDX variants
    and unknown versions, naming what was found.
    """
    data = bytes(payload)
    field = "attestation"
    if not data:
        raise RaTlsFormatError("empty attestation", offset=0, field=field)
    if len(data) > MAX_ATTESTATION_SIZE:
        raise RaTlsFormatError(
            f"{len(data)} bytes: larger than dstack's 10 MiB limit", offset=0, field=field
        )
    first = data[0]
    if is_msgpack_map(first):
        return decode_attestation_v1(data)
    if first != 0:
        raise RaTlsFormatError(
            f"unknown attestation wire format (first byte 0x{first:02x})", offset=0, field=field
        )
    stream = io.BytesIO(data)
    try:
        parsed = VERSIONED_ATTESTATION_V0.parse_stream(stream)
    except UnsupportedVariant as exc:
        raise UnsupportedAttestationError(
            f"the attestation is {exc.enum}::{exc.variant} (tag {exc.tag}), not DstackTdx: "
            "tdxquote verifies TDX attestations only",
            found=exc.variant,
        ) from None
    except RuleViolation as exc:
        raise RaTlsFormatError(exc.reason, offset=stream.tell(), field=field) from None
    except c.ConstructError as exc:
        offset = stream.tell()
        raise RaTlsFormatError(
            _reason(exc), offset=offset, field=_field(getattr(exc, "path", None))
        ) from None
    attestation = parsed.attestation
    tdx = attestation.quote.value
    return AttestationV0(
        quote=tdx.quote,
        event_log=tuple(
            TdxEvent(e.imr, e.event_type, e.digest, e.event, e.event_payload) for e in tdx.event_log
        ),
        runtime_events=tuple(RuntimeEvent(e.event, e.payload) for e in attestation.runtime_events),
        report_data=attestation.report_data,
        config=attestation.config,
    )


def encode_attestation_v0(
    *,
    quote: bytes,
    event_log: tuple[TdxEvent, ...] | list[TdxEvent] = (),
    runtime_events: tuple[RuntimeEvent, ...] | list[RuntimeEvent] = (),
    report_data: bytes = bytes(64),
    config: str = "",
) -> bytes:
    """Encode a V0 DstackTdx attestation (the inverse of :func:`decode_attestation`)."""
    if any(e.version != 1 for e in (*event_log, *runtime_events)):
        raise ValueError("V0 SCALE cannot carry event-log version 2 events (dstack uses V1)")
    value: dict[str, Any] = {
        "version": 0,
        "attestation": {
            "quote": {
                "variant": "DstackTdx",
                "value": {"quote": bytes(quote), "event_log": [e._asdict() for e in event_log]},
            },
            "runtime_events": [e._asdict() for e in runtime_events],
            "report_data": bytes(report_data),
            "config": config,
        },
    }
    try:
        return bytes(VERSIONED_ATTESTATION_V0.build(value))
    except (c.ConstructError, ScaleError) as exc:
        raise ValueError(f"cannot encode the attestation: {_reason(exc)}") from None
