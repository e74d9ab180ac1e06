"""Hostile counts and lengths in the RA-TLS envelope and event logs: refused before allocating.

Every count-prefixed field of the SCALE envelope (the two event lists, byte
vectors, strings) is checked against its cap and against the bytes left
before anything is decoded; the JSON event log is checked for how many
values it can hold before ``json.loads`` builds them.  Memory is measured
with ``tracemalloc`` (deterministic, unlike wall-clock time): the peak of
Python allocations while decoding, the input itself excluded.
"""

from __future__ import annotations

import datetime
import json
import tracemalloc
from collections.abc import Callable

import construct as c
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from tdxquote._der import encode_octet_string
from tdxquote.ratls import (
    RaTlsFormatError,
    RuntimeEvent,
    TdxEvent,
    certificate_report,
    decode_attestation,
    encode_attestation_v0,
)
from tdxquote.ratls._envelope import MAX_ATTESTATION_SIZE
from tdxquote.ratls._eventlog import MAX_EVENT_FIELD_SIZE, MAX_EVENTS, parse_event_log_json
from tdxquote.ratls._extensions import OID_ATTESTATION, OID_EVENT_LOG, OID_TDX_QUOTE
from tdxquote.ratls._scale import ScaleError, Vec, byte_vec, compact_bytes, string
from tdxquote.testing.pki import derive_key
from tdxquote.testing.ratls import RaTlsForge

KiB = 1 << 10
MiB = 1 << 20

V0_TDX = b"\x00\x00"  # VersionedAttestation::V0, AttestationQuote::DstackTdx
EMPTY_LIST = compact_bytes(0)
TAIL = bytes(64) + compact_bytes(0)  # report_data, empty config


def _peak(run: Callable[[], object]) -> tuple[object, int]:
    """``run()``'s result (or the exception it raised) and its peak of Python allocations."""
    tracemalloc.start()
    try:
        try:
            result: object = run()
        except Exception as exc:
            result = exc
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _refused(data: bytes) -> tuple[RaTlsFormatError, int]:
    error, peak = _peak(lambda: decode_attestation(data))
    assert isinstance(error, RaTlsFormatError), error
    return error, peak


# --- the 5.2 million empty runtime events ------------------------------------------------

EMPTY_EVENTS = (MAX_ATTESTATION_SIZE - 100) // 2
MILLIONS_OF_EVENTS = (
    V0_TDX
    + compact_bytes(0)  # an empty quote
    + EMPTY_LIST  # no event log
    + compact_bytes(EMPTY_EVENTS)
    + b"\x00\x00" * EMPTY_EVENTS  # each runtime event: empty name, empty payload
    + TAIL
)


def test_five_million_empty_runtime_events_are_refused_without_allocating() -> None:
    assert len(MILLIONS_OF_EVENTS) <= MAX_ATTESTATION_SIZE
    assert EMPTY_EVENTS > 5_200_000
    error, peak = _refused(MILLIONS_OF_EVENTS)
    assert error.field == "attestation.runtime_events"
    assert f"{EMPTY_EVENTS} elements: more than the {MAX_EVENTS} allowed" in error.reason
    assert peak < 64 * KiB


def _attestation_certificate(*extensions: tuple[str, bytes]) -> bytes:
    key = derive_key(b"tdxquote ratls limits", "leaf")
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tdxquote ratls limits")])
    when = datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(when)
        .not_valid_after(when + datetime.timedelta(days=365))
    )
    for oid, payload in extensions:
        builder = builder.add_extension(
            x509.UnrecognizedExtension(x509.ObjectIdentifier(oid), encode_octet_string(payload)),
            critical=False,
        )
    cert = builder.sign(key, hashes.SHA256())
    return cert.public_bytes(serialization.Encoding.DER)


def test_the_same_envelope_in_a_certificate_is_a_parse_error_in_bounded_memory() -> None:
    der = _attestation_certificate((OID_ATTESTATION, MILLIONS_OF_EVENTS))
    report, peak = _peak(lambda: certificate_report(der, now=1_750_000_000))
    assert isinstance(report, dict)
    error = report["verdict"]["error"]
    assert error["code"] == "parse_error"
    assert error["field"] == "attestation.runtime_events"
    # The 10 MiB certificate is copied (DER, the extension value, its content): a few tens
    # of MiB, never the gigabyte five million decoded events took.
    assert peak < 48 * MiB


# --- counts the bytes left cannot hold -----------------------------------------------------


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (V0_TDX + EMPTY_LIST + compact_bytes(MAX_EVENTS) + bytes(100), "quote.event_log"),
        (
            V0_TDX + EMPTY_LIST + EMPTY_LIST + compact_bytes(MAX_EVENTS) + bytes(100),
            "runtime_events",
        ),
    ],
)
def test_event_counts_beyond_the_bytes_left_are_refused(data: bytes, field: str) -> None:
    error, peak = _refused(data)
    assert error.field == f"attestation.{field}"
    assert "cannot fit in the" in error.reason
    assert peak < 64 * KiB


def _runtime_events(count: int) -> list[RuntimeEvent]:
    return [RuntimeEvent("e", b"")] * count


def _log_events(count: int) -> list[TdxEvent]:
    return [TdxEvent(3, 0x08000001, b"", "e", b"")] * count


def test_event_lists_hold_up_to_the_cap() -> None:
    at_cap = encode_attestation_v0(
        quote=b"q", event_log=_log_events(MAX_EVENTS), runtime_events=_runtime_events(MAX_EVENTS)
    )
    decoded, peak = _peak(lambda: decode_attestation(at_cap))
    assert not isinstance(decoded, Exception), decoded
    assert peak < 32 * MiB
    over_log = encode_attestation_v0(quote=b"q", event_log=_log_events(MAX_EVENTS + 1))
    error, _ = _refused(over_log)
    assert error.field == "attestation.quote.event_log"
    assert "more than the" in error.reason
    over_runtime = encode_attestation_v0(quote=b"q", runtime_events=_runtime_events(MAX_EVENTS + 1))
    error, _ = _refused(over_runtime)
    assert error.field == "attestation.runtime_events"


# --- byte vectors and strings ------------------------------------------------------------


def test_a_quote_length_past_the_end_is_refused_before_reading() -> None:
    error, peak = _refused(V0_TDX + compact_bytes((1 << 32) - 1) + bytes(1000))
    assert error.field == "attestation.quote.quote"
    assert "a length of 4294967295 runs past the end (1000 byte(s) left)" in error.reason
    assert peak < 64 * KiB


def _one_runtime_event(name: bytes, payload: bytes) -> bytes:
    return (
        V0_TDX
        + EMPTY_LIST
        + EMPTY_LIST
        + compact_bytes(1)
        + compact_bytes(len(name))
        + name
        + compact_bytes(len(payload))
        + payload
        + TAIL
    )


def test_event_payloads_and_names_are_capped() -> None:
    accepted = decode_attestation(_one_runtime_event(b"e", bytes(MAX_EVENT_FIELD_SIZE)))
    assert len(accepted.runtime_events[0].payload) == MAX_EVENT_FIELD_SIZE
    error, peak = _refused(_one_runtime_event(b"e", bytes(MAX_EVENT_FIELD_SIZE + 1)))
    assert error.field == "attestation.runtime_events.payload"
    assert f"more than the {MAX_EVENT_FIELD_SIZE} allowed" in error.reason
    assert peak < 64 * KiB
    error, _ = _refused(_one_runtime_event(b"e" * (MAX_EVENT_FIELD_SIZE + 1), b""))
    assert error.field == "attestation.runtime_events.event"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        # an event name announced as 1 GiB
        (
            V0_TDX + EMPTY_LIST + EMPTY_LIST + compact_bytes(1) + compact_bytes(1 << 30) + b"e",
            "attestation.runtime_events.event",
        ),
        # a boot event's digest announced as 1 GiB
        (
            V0_TDX + EMPTY_LIST + compact_bytes(1) + bytes(8) + compact_bytes(1 << 30) + b"d",
            "attestation.quote.event_log.digest",
        ),
        # the config string announced as 4 GiB - 1
        (
            V0_TDX
            + EMPTY_LIST
            + EMPTY_LIST
            + EMPTY_LIST
            + bytes(64)
            + compact_bytes((1 << 32) - 1),
            "attestation.config",
        ),
    ],
)
def test_string_and_byte_lengths_are_refused_before_reading(data: bytes, field: str) -> None:
    error, peak = _refused(data)
    assert error.field == field
    assert "more than the" in error.reason or "runs past the end" in error.reason
    assert peak < 64 * KiB


def test_the_scale_building_blocks_check_before_reading() -> None:
    pairs = Vec(c.Struct("a" / string(4), "b" / byte_vec(4)), max_count=2, min_size=2)
    assert [(p.a, p.b) for p in pairs.parse(compact_bytes(1) + b"\x04x\x04y")] == [("x", b"y")]
    with pytest.raises(ScaleError, match="3 elements: more than the 2 allowed"):
        pairs.parse(compact_bytes(3) + bytes(6))
    with pytest.raises(ScaleError, match="2 elements of at least 2 byte"):
        pairs.parse(compact_bytes(2) + bytes(3))
    with pytest.raises(ScaleError, match="5 bytes: more than the 4 allowed"):
        byte_vec(4).parse(compact_bytes(5) + bytes(5))
    with pytest.raises(ScaleError, match="5 bytes: more than the 4 allowed"):
        string(4).parse(compact_bytes(5) + b"abcde")
    # Building is not capped: tests forge over-limit inputs with the same schemas.
    assert byte_vec(4).build(bytes(5)) == compact_bytes(5) + bytes(5)


# --- the JSON event log (legacy .1.2) ------------------------------------------------------


def _json_event(index: int) -> dict[str, object]:
    return {"imr": 3, "event_type": 0x08000001, "event": f"e{index}", "event_payload": ""}


@pytest.mark.parametrize(
    "text",
    [
        "[" + ",".join(["{}"] * 3_000_000) + "]",
        "[" + ",".join(["[]"] * 3_000_000) + "]",
        "[" + ",".join(["0"] * 5_000_000) + "]",
    ],
    ids=["objects", "arrays", "numbers"],
)
def test_json_logs_with_millions_of_values_are_refused_before_decoding(text: str) -> None:
    error, peak = _peak(lambda: parse_event_log_json(text))
    assert isinstance(error, RaTlsFormatError), error
    assert "more JSON values than an event log" in error.reason
    assert peak < 64 * KiB


def test_json_logs_hold_up_to_the_cap() -> None:
    at_cap = json.dumps([_json_event(i) for i in range(MAX_EVENTS)])
    assert len(parse_event_log_json(at_cap)) == MAX_EVENTS
    over = json.dumps([_json_event(i) for i in range(MAX_EVENTS + 1)])
    with pytest.raises(RaTlsFormatError, match="more"):
        parse_event_log_json(over)


def test_json_log_payloads_are_capped() -> None:
    event = {**_json_event(0), "event_payload": "00" * (MAX_EVENT_FIELD_SIZE + 1)}
    with pytest.raises(RaTlsFormatError, match="more than") as caught:
        parse_event_log_json(json.dumps([event]))
    assert caught.value.field == "event_log[0].event_payload"


def test_a_legacy_certificate_with_a_huge_json_log_is_a_parse_error() -> None:
    quote = RaTlsForge.create(b"tdxquote ratls limits").certificate(form="1.1-legacy").quote
    log = ("[" + ",".join(["{}"] * 3_000_000) + "]").encode()
    der = _attestation_certificate((OID_TDX_QUOTE, quote.to_bytes()), (OID_EVENT_LOG, log))
    report, peak = _peak(lambda: certificate_report(der, now=1_750_000_000))
    assert isinstance(report, dict)
    error = report["verdict"]["error"]
    assert error["code"] == "parse_error"
    assert "more JSON values than an event log" in error["message"]
    assert peak < 48 * MiB
