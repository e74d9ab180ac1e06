"""dstack's ``VersionedAttestation::V1``: the msgpack attestation envelope (OID ``.1.8``).

dstack writes it with ``rmp_serde::to_vec_named`` (``dstack-attest/src/v1.rs``):
named structs become maps, the adjacently tagged enums ``platform`` and
``stack`` become ``{"kind": name, "data": {...}}``, a plain ``Vec<u8>``
(``quote``, ``report_data``) becomes an **array of integers**, and the
``serde_human_bytes`` fields of events (digest, payloads) become msgpack
``bin``::

    {"version": 1,
     "platform": {"kind": "tdx", "data": {"quote": [u8...], "event_log": [TdxEvent...]}},
     "stack": {"kind": "dstack" | "dstack-pod",
               "data": {"report_data": [64 x u8], "runtime_events": [RuntimeEvent...],
                        "config": str [, "report_data_payload": str]}}}

    TdxEvent     = {"imr", "event_type", "digest": bin, "event": str, "event_payload": bin
                    [, "version": 2] [, "preimage": hex str]}
    RuntimeEvent = {"event": str, "payload": bin [, "version": 2]}

The reader is a schema walk over :class:`msgpack.Unpacker`: before each value
it looks at the format byte, so nothing is decoded that the schema does not
expect (a container where a string belongs is refused, not built), and every
array or map count is checked against the bytes that remain before anything
is read, and against a cap.  msgpack's own ``max_*_len`` limits are set too.
Refused: another ``version`` than 1, a platform other than ``tdx`` and
unknown kinds, unknown or duplicate keys, missing keys, wrong types,
``report_data`` not 64 bytes, non-canonical integers, trailing bytes.

Lenient on one point, as the reference recommends: every byte field may be
an integer array or ``bin`` (dstack's own reader needs arrays for ``quote``
and ``report_data`` and bin for the event fields; its writer emits exactly
that, and :func:`encode_attestation_v1` does too).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import msgpack

from ._errors import RaTlsFormatError, UnsupportedAttestationError
from ._eventlog import (
    DIGEST_SIZE,
    EVENT_LOG_VERSIONS,
    MAX_EVENT_FIELD_SIZE,
    MAX_EVENTS,
    RuntimeEvent,
    TdxEvent,
    check_preimage,
)

__all__ = [
    "APP_DATA_TAG",
    "MAX_EVENTS",
    "MAX_FIELD_SIZE",
    "MAX_QUOTE_SIZE",
    "PLATFORM_KINDS",
    "STACK_KINDS",
    "AttestationV1",
    "MsgpackReader",
    "app_data_report_data",
    "decode_attestation_v1",
    "encode_attestation_v1",
    "is_msgpack_map",
]

MAX_QUOTE_SIZE = 256 << 10
"""Largest quote accepted (a TDX quote with its PCK chain is 5 to 10 KiB)."""
MAX_FIELD_SIZE = MAX_EVENT_FIELD_SIZE
"""Largest string or byte field other than the quote (config, payloads): the V0 limit.

Events are capped at :data:`~tdxquote.ratls._eventlog.MAX_EVENTS` per list, as in V0."""

PLATFORM_KINDS = ("tdx", "gcp-tdx", "nitro-enclave", "aws-nitro-tpm", "sev-snp")
"""``PlatformEvidence`` kinds at dstack HEAD; only ``tdx`` is decoded."""
STACK_KINDS = ("dstack", "dstack-pod")
"""``StackEvidence`` kinds at dstack HEAD."""

APP_DATA_TAG = b"app-data"
"""``QuoteContentType::AppData``: a ``dstack-pod`` stack's report data is
SHA-512(``"app-data:"`` || ``report_data_payload``)."""

_MAP = frozenset(range(0x80, 0x90)) | {0xDE, 0xDF}
_ARRAY = frozenset(range(0x90, 0xA0)) | {0xDC, 0xDD}
_STR = frozenset(range(0xA0, 0xC0)) | {0xD9, 0xDA, 0xDB}
_BIN = frozenset({0xC4, 0xC5, 0xC6})
_UINT = frozenset(range(0x00, 0x80)) | {0xCC, 0xCD, 0xCE, 0xCF}
_NIL = 0xC0
_MAX_U32 = 0xFFFF_FFFF
_MAX_U64 = (1 << 64) - 1


def is_msgpack_map(first: int) -> bool:
    """True when ``first`` starts a msgpack map (``0x80``-``0x8f``, ``0xde``, ``0xdf``)."""
    return first in _MAP


def app_data_report_data(payload: str) -> bytes:
    """SHA-512(``"app-data:"`` || ``payload``): what a ``dstack-pod`` report data must be."""
    return hashlib.sha512(APP_DATA_TAG + b":" + payload.encode("utf-8")).digest()


def _family(first: int) -> str:
    if first in _MAP:
        return "a map"
    if first in _ARRAY:
        return "an array"
    if first in _STR:
        return "a string"
    if first in _BIN:
        return "bin"
    if first in _UINT:
        return "an unsigned integer"
    if first == _NIL:
        return "nil"
    if first in (0xC2, 0xC3):
        return "a boolean"
    if first >= 0xE0 or first in (0xD0, 0xD1, 0xD2, 0xD3):
        return "a negative integer"
    if first in (0xCA, 0xCB):
        return "a float"
    if first == 0xC1:
        return "the never-used byte 0xc1"
    return "an extension"


class MsgpackReader:
    """A bounded, schema-driven reader of one msgpack document (also used for ``.1.9``).

    Every read names the field it reads, so errors carry ``field`` and the
    byte ``offset`` where the offending value starts.
    """

    def __init__(self, data: bytes, *, root: str) -> None:
        self.data = data
        self.root = root
        size = max(len(data), 1)
        self._unpacker = msgpack.Unpacker(
            None,
            raw=False,
            use_list=True,
            strict_map_key=True,
            max_buffer_size=size,
            max_str_len=min(size, MAX_FIELD_SIZE),
            max_bin_len=min(size, MAX_QUOTE_SIZE),
            max_array_len=min(size, MAX_QUOTE_SIZE),
            max_map_len=min(size, 64),
            max_ext_len=0,
        )
        self._unpacker.feed(data)

    # --- positions and errors ------------------------------------------------------------
    @property
    def offset(self) -> int:
        """Bytes consumed so far."""
        offset: int = self._unpacker.tell()
        return offset

    @property
    def remaining(self) -> int:
        """Bytes not consumed yet."""
        return len(self.data) - self.offset

    def fail(self, reason: str, field: str, offset: int | None = None) -> RaTlsFormatError:
        """A format error at ``offset`` (default: the current position)."""
        return RaTlsFormatError(
            reason, offset=self.offset if offset is None else offset, field=f"{self.root}{field}"
        )

    def peek(self, field: str) -> int:
        """The format byte of the next value (refuses the end of the input)."""
        if self.remaining <= 0:
            raise self.fail("truncated: the input ends before this value", field)
        return self.data[self.offset]

    def _expect(self, field: str, family: frozenset[int], what: str) -> int:
        first = self.peek(field)
        if first not in family:
            raise self.fail(f"expected {what}, found {_family(first)} (0x{first:02x})", field)
        return first

    def _unpack(self, field: str) -> Any:
        start = self.offset
        try:
            return self._unpacker.unpack()
        except msgpack.OutOfData:
            raise self.fail("truncated: the input ends inside this value", field, start) from None
        except UnicodeDecodeError as exc:
            raise self.fail(f"invalid UTF-8 in a string: {exc.reason}", field, start) from None
        except (ValueError, msgpack.UnpackException) as exc:
            raise self.fail(f"unreadable msgpack value: {exc}", field, start) from None

    def _header(self, read: Callable[[], int], field: str) -> int:
        start = self.offset
        try:
            return read()
        except msgpack.OutOfData:
            raise self.fail("truncated: the input ends inside a header", field, start) from None
        except (ValueError, msgpack.UnpackException) as exc:
            raise self.fail(f"unreadable msgpack header: {exc}", field, start) from None

    # --- values --------------------------------------------------------------------------
    def map_header(self, field: str, *, cap: int = 64) -> int:
        """A map's entry count, bounded by ``cap`` and by the bytes left (2 per entry)."""
        self._expect(field, _MAP, "a map")
        start = self.offset
        count = self._header(self._unpacker.read_map_header, field)
        if count > cap:
            raise self.fail(f"a map of {count} entries: at most {cap} expected", field, start)
        if 2 * count > self.remaining:
            raise self.fail(
                f"a map of {count} entries in {self.remaining} remaining bytes", field, start
            )
        return count

    def array_header(self, field: str, *, cap: int) -> int:
        """An array's element count, bounded by ``cap`` and by the bytes left (1 per element)."""
        self._expect(field, _ARRAY, "an array")
        start = self.offset
        count = self._header(self._unpacker.read_array_header, field)
        if count > cap:
            raise self.fail(f"an array of {count} elements: at most {cap} accepted", field, start)
        if count > self.remaining:
            raise self.fail(
                f"an array of {count} elements in {self.remaining} remaining bytes", field, start
            )
        return count

    def string(self, field: str, *, cap: int = MAX_FIELD_SIZE) -> str:
        """A UTF-8 string of at most ``cap`` bytes."""
        self._expect(field, _STR, "a string")
        start = self.offset
        value = self._unpack(field)
        if not isinstance(value, str):  # pragma: no cover - the format byte says str
            raise self.fail("expected a string", field, start)
        if len(value.encode("utf-8")) > cap:
            raise self.fail(f"a string longer than {cap} bytes", field, start)
        return value

    def uint(self, field: str, *, maximum: int = _MAX_U64) -> int:
        """An unsigned integer in its shortest encoding, at most ``maximum``."""
        first = self._expect(field, _UINT, "an unsigned integer")
        start = self.offset
        value = self._unpack(field)
        if not isinstance(value, int) or isinstance(value, bool):  # pragma: no cover
            raise self.fail("expected an unsigned integer", field, start)
        shortest = (
            value
            if value < 0x80
            else 0xCC
            if value <= 0xFF
            else 0xCD
            if value <= 0xFFFF
            else 0xCE
            if value <= _MAX_U32
            else 0xCF
        )
        if first != shortest:
            raise self.fail(f"the integer {value} is not in its shortest encoding", field, start)
        if value > maximum:
            raise self.fail(f"{value} is larger than {maximum}", field, start)
        return value

    def byte_string(self, field: str, *, cap: int = MAX_FIELD_SIZE) -> bytes:
        """Bytes given as msgpack ``bin`` or as an array of canonical u8 integers."""
        first = self.peek(field)
        start = self.offset
        if first in _BIN:
            value = self._unpack(field)
            if not isinstance(value, bytes):  # pragma: no cover - the format byte says bin
                raise self.fail("expected bin", field, start)
            if len(value) > cap:
                raise self.fail(f"{len(value)} bytes: at most {cap} accepted", field, start)
            return value
        if first not in _ARRAY:
            raise self.fail(
                f"expected bytes (an integer array or bin), found {_family(first)} (0x{first:02x})",
                field,
            )
        count = self.array_header(field, cap=cap)
        out = bytearray()
        for index in range(count):
            out.append(self.uint(f"{field}[{index}]", maximum=0xFF))
        return bytes(out)

    def nil(self, field: str) -> bool:
        """Consume a nil when one comes next; True if it did."""
        if self.peek(field) != _NIL:
            return False
        self._unpack(field)
        return True

    def end(self) -> None:
        """Refuse bytes after the document."""
        if self.remaining:
            raise self.fail(f"{self.remaining} trailing byte(s) after the value", "")

    def fields(
        self,
        field: str,
        readers: dict[str, Callable[[str], Any]],
        *,
        required: Sequence[str],
    ) -> dict[str, Any]:
        """A map with known keys read by ``readers``; duplicates, unknown and missing refused."""
        count = self.map_header(field)
        values: dict[str, Any] = {}
        for _ in range(count):
            key_offset = self.offset
            key = self.string(f"{field}.<key>", cap=64)
            if key not in readers:
                raise self.fail(f"unknown key {key!r}", field, key_offset)
            if key in values:
                raise self.fail(f"duplicate key {key!r}", field, key_offset)
            values[key] = readers[key](f"{field}.{key}")
        missing = [key for key in required if key not in values]
        if missing:
            raise self.fail(f"missing key(s) {', '.join(map(repr, missing))}", field)
        return values

    def tagged(self, field: str, kinds: Sequence[str]) -> tuple[str, int]:
        """An adjacently tagged enum's ``{"kind": ..., "data": ...}``: the kind, then ``data``.

        rmp-serde writes the tag first; a document with ``data`` first is refused
        (decoding ``data`` needs the kind).  Returns the kind and its offset;
        the reader stands at the ``data`` value.
        """
        count = self.map_header(field, cap=2)
        if count != 2:
            raise self.fail(f"expected the 2 keys 'kind' and 'data', found {count}", field)
        if self.string(f"{field}.<key>", cap=64) != "kind":
            raise self.fail("expected 'kind' as the first key", field)
        kind_offset = self.offset
        kind = self.string(f"{field}.kind", cap=64)
        if kind not in kinds:
            raise self.fail(f"unknown kind {kind!r}", f"{field}.kind", kind_offset)
        if self.string(f"{field}.<key>", cap=64) != "data":
            raise self.fail("expected 'data' as the second key", field)
        return kind, kind_offset


@dataclass(frozen=True)
class AttestationV1:
    """A decoded V1 attestation with a TDX platform.

    ``stack`` is ``"dstack"`` or ``"dstack-pod"``; a pod's
    ``report_data_payload`` is the string its report data hashes
    (:func:`app_data_report_data`).  ``quote`` is the raw quote.
    """

    quote: bytes
    event_log: tuple[TdxEvent, ...]
    runtime_events: tuple[RuntimeEvent, ...]
    report_data: bytes
    config: str
    stack: Literal["dstack", "dstack-pod"] = "dstack"
    report_data_payload: str | None = None

    @property
    def pod_report_data_ok(self) -> bool | None:
        """For ``dstack-pod``: report data == SHA-512("app-data:" || payload); else None."""
        if self.report_data_payload is None:
            return None
        return self.report_data == app_data_report_data(self.report_data_payload)


def _event_version(reader: MsgpackReader, field: str) -> int:
    start = reader.offset
    version = reader.uint(field, maximum=_MAX_U32)
    if version not in EVENT_LOG_VERSIONS:
        raise reader.fail(f"unknown event-log version {version}", field, start)
    return version


def _preimage(reader: MsgpackReader, field: str) -> bytes:
    start = reader.offset
    text = reader.string(field)
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise reader.fail("the preimage is not a hex string", field, start) from None


def _digest(reader: MsgpackReader, field: str) -> bytes:
    start = reader.offset
    digest = reader.byte_string(field, cap=DIGEST_SIZE)
    if len(digest) not in (0, DIGEST_SIZE):
        raise reader.fail(
            f"a digest must be empty or {DIGEST_SIZE} bytes (SHA-384), not {len(digest)}",
            field,
            start,
        )
    return digest


def _tdx_event(reader: MsgpackReader, field: str) -> TdxEvent:
    values = reader.fields(
        field,
        {
            "imr": lambda f: reader.uint(f, maximum=_MAX_U32),
            "event_type": lambda f: reader.uint(f, maximum=_MAX_U32),
            "digest": lambda f: _digest(reader, f),
            "event": reader.string,
            "event_payload": reader.byte_string,
            "version": lambda f: _event_version(reader, f),
            "preimage": lambda f: _preimage(reader, f),
        },
        required=("imr", "event_type", "digest", "event", "event_payload"),
    )
    event = TdxEvent(
        values["imr"],
        values["event_type"],
        values["digest"],
        values["event"],
        values["event_payload"],
        values.get("version", 1),
        values.get("preimage"),
    )
    check_preimage(event, f"{reader.root}{field}")
    return event


def _runtime_event(reader: MsgpackReader, field: str) -> RuntimeEvent:
    values = reader.fields(
        field,
        {
            "event": reader.string,
            "payload": reader.byte_string,
            "version": lambda f: _event_version(reader, f),
        },
        required=("event", "payload"),
    )
    return RuntimeEvent(values["event"], values["payload"], values.get("version", 1))


def _list(
    reader: MsgpackReader, field: str, item: Callable[[MsgpackReader, str], Any]
) -> list[Any]:
    count = reader.array_header(field, cap=MAX_EVENTS)
    return [item(reader, f"{field}[{index}]") for index in range(count)]


def _platform(reader: MsgpackReader, field: str) -> tuple[bytes, tuple[TdxEvent, ...]]:
    kind, _ = reader.tagged(field, PLATFORM_KINDS)
    if kind != "tdx":
        raise UnsupportedAttestationError(
            f"the attestation's platform is {kind!r} (V1 msgpack), not 'tdx': tdxquote "
            "verifies TDX attestations only",
            found=kind,
        )
    values = reader.fields(
        f"{field}.data",
        {
            "quote": lambda f: reader.byte_string(f, cap=MAX_QUOTE_SIZE),
            "event_log": lambda f: _list(reader, f, _tdx_event),
        },
        required=("quote", "event_log"),
    )
    return values["quote"], tuple(values["event_log"])


def _report_data(reader: MsgpackReader, field: str) -> bytes:
    start = reader.offset
    value = reader.byte_string(field, cap=64)
    if len(value) != 64:
        raise reader.fail(f"report_data must be 64 bytes, not {len(value)}", field, start)
    return value


def _stack(reader: MsgpackReader, field: str) -> dict[str, Any]:
    kind, _ = reader.tagged(field, STACK_KINDS)
    readers: dict[str, Callable[[str], Any]] = {
        "report_data": lambda f: _report_data(reader, f),
        "runtime_events": lambda f: _list(reader, f, _runtime_event),
        "config": reader.string,
    }
    required = ["report_data", "runtime_events", "config"]
    if kind == "dstack-pod":
        readers["report_data_payload"] = reader.string
        required.append("report_data_payload")
    values = reader.fields(f"{field}.data", readers, required=required)
    values["kind"] = kind
    return values


def decode_attestation_v1(payload: bytes | bytearray | memoryview) -> AttestationV1:
    """Decode a V1 msgpack ``VersionedAttestation`` whose platform is TDX.

    Raises :class:`~tdxquote.ratls.RaTlsFormatError` (with the offset and
    field) for anything that breaks the layout, and
    :class:`~tdxquote.ratls.UnsupportedAttestationError` for another
    ``version`` than 1 and for non-TDX platforms, naming what was found.
    The caller bounds the total size.
    """
    data = bytes(payload)
    reader = MsgpackReader(data, root="attestation")
    platform: dict[str, tuple[bytes, tuple[TdxEvent, ...]]] = {}

    def version(field: str) -> int:
        value = reader.uint(field)
        if value != 1:
            raise UnsupportedAttestationError(
                f"the msgpack attestation has version {value}: tdxquote reads version 1",
                found=f"V1 msgpack version {value}",
            )
        return value

    def read_platform(field: str) -> bool:
        platform["tdx"] = _platform(reader, field)
        return True

    values = reader.fields(
        "",
        {
            "version": version,
            "platform": read_platform,
            "stack": lambda f: _stack(reader, f),
        },
        required=("version", "platform", "stack"),
    )
    reader.end()
    quote, event_log = platform["tdx"]
    stack = values["stack"]
    return AttestationV1(
        quote=quote,
        event_log=event_log,
        runtime_events=tuple(stack["runtime_events"]),
        report_data=stack["report_data"],
        config=stack["config"],
        stack=stack["kind"],
        report_data_payload=stack.get("report_data_payload"),
    )


def _event_map(event: TdxEvent) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "imr": event.imr,
        "event_type": event.event_type,
        "digest": bytes(event.digest),
        "event": event.event,
        "event_payload": bytes(event.event_payload),
    }
    if event.version != 1:
        entry["version"] = event.version
    if event.preimage is not None:
        entry["preimage"] = event.preimage.hex()
    return entry


def _runtime_map(event: RuntimeEvent) -> dict[str, Any]:
    entry: dict[str, Any] = {"event": event.event, "payload": bytes(event.payload)}
    if event.version != 1:
        entry["version"] = event.version
    return entry


def encode_attestation_v1(
    *,
    quote: bytes,
    event_log: Sequence[TdxEvent] = (),
    runtime_events: Sequence[RuntimeEvent] = (),
    report_data: bytes = bytes(64),
    config: str = "",
    report_data_payload: str | None = None,
) -> bytes:
    """Encode a V1 TDX attestation as dstack does (the inverse of :func:`decode_attestation_v1`).

    ``report_data_payload`` makes the stack ``dstack-pod``.  Byte-identical to
    ``rmp_serde::to_vec_named`` of dstack's structs for the dstack synthetic
    vectors.
    """
    if len(report_data) != 64:
        raise ValueError("report_data must be 64 bytes")
    data: dict[str, Any] = {
        "report_data": list(report_data),
        "runtime_events": [_runtime_map(e) for e in runtime_events],
        "config": config,
    }
    if report_data_payload is not None:
        data["report_data_payload"] = report_data_payload
    document = {
        "version": 1,
        "platform": {
            "kind": "tdx",
            "data": {"quote": list(quote), "event_log": [_event_map(e) for e in event_log]},
        },
        "stack": {"kind": "dstack" if report_data_payload is None else "dstack-pod", "data": data},
    }
    packed: bytes = msgpack.packb(document, use_bin_type=True)
    return packed
