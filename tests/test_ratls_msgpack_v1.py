"""The V1 msgpack attestation envelope: layout, every refusal, bounds, and DCAP end to end.

Documents are built with the ``msgpack`` package (never copied bytes) from the
layout of ``dstack-attest/src/v1.rs``; the synthetic vectors' round trip is in
``test_ratls_vectors.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
from typing import Any

import msgpack
import pytest
from _helpers import budget
from hypothesis import example, given
from hypothesis import strategies as st

from tdxquote.ratls import (
    AttestationV1,
    BindingMismatchError,
    DcapVerifier,
    RaTlsFormatError,
    RtmrMismatchError,
    RuntimeEvent,
    TdxEvent,
    UnsupportedAttestationError,
    VerifyOptions,
    decode_attestation,
    encode_attestation_v0,
    encode_attestation_v1,
    parse_certificate,
    verify_certificate,
)
from tdxquote.ratls._msgpack_v1 import MAX_EVENTS, app_data_report_data
from tdxquote.testing.ratls import DEFAULT_COMPOSE_HASH, RaTlsForge, runtime_events

QUOTE = bytes(range(256)) * 2
REPORT_DATA = bytes(range(64))
RUNTIME = (RuntimeEvent("app-id", b"\x01" * 20, 2), RuntimeEvent("system-ready", b"", 2))
LOG = (
    TdxEvent(0, 0x0A, b"\x11" * 48, "", b"ACPI DATA"),
    TdxEvent(3, 0x08000001, b"", "app-id", b"\x01" * 20, 2),
)


def _document(**stack: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "report_data": list(REPORT_DATA),
        "runtime_events": [{"event": "app-id", "payload": b"\x01" * 20, "version": 2}],
        "config": "{}",
    }
    data.update(stack)
    return {
        "version": 1,
        "platform": {
            "kind": "tdx",
            "data": {
                "quote": list(QUOTE),
                "event_log": [
                    {
                        "imr": 3,
                        "event_type": 0x08000001,
                        "digest": b"",
                        "event": "app-id",
                        "event_payload": b"\x01" * 20,
                        "version": 2,
                    }
                ],
            },
        },
        "stack": {"kind": "dstack", "data": data},
    }


def _pack(document: object) -> bytes:
    return msgpack.packb(document, use_bin_type=True)  # type: ignore[no-any-return]


def test_encoder_and_decoder_agree() -> None:
    blob = encode_attestation_v1(
        quote=QUOTE, event_log=LOG, runtime_events=RUNTIME, report_data=REPORT_DATA, config="{}"
    )
    assert blob[0] == 0x83  # fixmap(3), as rmp-serde writes the named struct
    decoded = decode_attestation(blob)
    assert isinstance(decoded, AttestationV1)
    assert (decoded.quote, decoded.report_data, decoded.config) == (QUOTE, REPORT_DATA, "{}")
    assert decoded.event_log == LOG
    assert decoded.runtime_events == RUNTIME
    assert decoded.stack == "dstack"


def test_bin_is_accepted_for_quote_and_report_data() -> None:
    # dstack writes integer arrays; the reference recommends accepting bin as well.
    document = _document(report_data=REPORT_DATA)
    document["platform"]["data"]["quote"] = QUOTE
    decoded = decode_attestation(_pack(document))
    assert (decoded.quote, decoded.report_data) == (QUOTE, REPORT_DATA)


def test_event_fields_accept_integer_arrays() -> None:
    document = _document(runtime_events=[{"event": "x", "payload": [1, 2, 255]}])
    (event,) = decode_attestation(_pack(document)).runtime_events
    assert event == RuntimeEvent("x", b"\x01\x02\xff", 1)


def test_dstack_pod_stack() -> None:
    payload = '{"hello":"world"}'
    blob = encode_attestation_v1(
        quote=QUOTE, report_data=app_data_report_data(payload), report_data_payload=payload
    )
    decoded = decode_attestation(blob)
    assert isinstance(decoded, AttestationV1)
    assert (decoded.stack, decoded.report_data_payload) == ("dstack-pod", payload)
    assert decoded.pod_report_data_ok is True
    # dstack's known answer for QuoteContentType::AppData (reference §4).
    assert app_data_report_data("test content").hex().startswith("7ea0b744ed5e9c0c")
    # dstack-pod needs its payload.
    with pytest.raises(RaTlsFormatError, match="report_data_payload"):
        decode_attestation(_pack({**_document(), "stack": {"kind": "dstack-pod", "data": {}}}))


@pytest.mark.parametrize("kind", ["gcp-tdx", "nitro-enclave", "aws-nitro-tpm", "sev-snp"])
def test_other_platforms_are_unsupported_by_name(kind: str) -> None:
    document = _document()
    document["platform"]["kind"] = kind
    with pytest.raises(UnsupportedAttestationError) as info:
        decode_attestation(_pack(document))
    assert info.value.found == kind
    assert info.value.code == "ratls_unsupported_attestation"


def test_unknown_version_is_unsupported() -> None:
    with pytest.raises(UnsupportedAttestationError, match="version 2") as info:
        decode_attestation(_pack({**_document(), "version": 2}))
    assert info.value.found == "V1 msgpack version 2"


def _mutate(path: tuple[Any, ...], value: Any = None, *, delete: bool = False) -> bytes:
    document = copy.deepcopy(_document())
    target: Any = document
    for key in path[:-1]:
        target = target[key]
    if delete:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return _pack(document)


_EVENT = ("platform", "data", "event_log", 0)
_RUNTIME = ("stack", "data", "runtime_events", 0)


_VIOLATIONS = [
    (_mutate(("platform", "kind"), "amd"), "attestation.platform.kind", "unknown kind"),
    (_mutate(("stack", "kind"), "k8s"), "attestation.stack.kind", "unknown kind"),
    (_mutate(("extra",), 1), "attestation", "unknown key 'extra'"),
    (_mutate(("stack",), None, delete=True), "attestation", "missing key.* 'stack'"),
    (_mutate((*_EVENT, "colour"), "red"), "attestation.platform.data.event_log[0]", "unknown"),
    (_mutate((*_EVENT, "imr"), "3"), "attestation.platform.data.event_log[0].imr", "unsigned"),
    (_mutate((*_EVENT, "imr"), -1), "attestation.platform.data.event_log[0].imr", "negative"),
    (_mutate((*_EVENT, "imr"), 1 << 32), "event_log[0].imr", "larger than"),
    (_mutate((*_EVENT, "digest"), b"\x00" * 47), "event_log[0].digest", "empty or 48"),
    (_mutate((*_EVENT, "version"), 3), "event_log[0].version", "event-log version 3"),
    (_mutate((*_EVENT, "event"), b"app-id"), "event_log[0].event", "expected a string"),
    (_mutate((*_EVENT, "preimage"), "zz"), "event_log[0].preimage", "not a hex"),
    (_mutate((*_RUNTIME, "payload"), "text"), "runtime_events[0].payload", "expected bytes"),
    (_mutate(("stack", "data", "report_data"), [0] * 63), "report_data", "64 bytes"),
    (_mutate(("stack", "data", "report_data"), [256] * 64), "report_data[0]", "larger"),
    (_mutate(("stack", "data", "config"), {"a": 1}), "stack.data.config", "found a map"),
    (_mutate(("platform", "data", "quote"), [1.5]), "quote[0]", "found a float"),
    (_mutate(("platform",), {"data": {}, "kind": "tdx"}), "attestation.platform", "'kind'"),
    (_mutate(("platform",), {"kind": "tdx"}), "attestation.platform", "2 keys"),
    (_mutate(("version",), True), "attestation.version", "found a boolean"),
]


@pytest.mark.parametrize(
    ("data", "field", "text"), _VIOLATIONS, ids=[f"{f}:{t}" for _, f, t in _VIOLATIONS]
)
def test_layout_violations_are_format_errors(data: bytes, field: str, text: str) -> None:
    with pytest.raises(RaTlsFormatError, match=text) as info:
        decode_attestation(data)
    assert field in info.value.field
    assert 0 <= info.value.offset <= len(data)


def test_duplicate_keys_are_refused() -> None:
    # msgpack.packb cannot write a duplicate key: splice one in (fixmap 3 -> 4, version twice).
    blob = encode_attestation_v1(quote=b"q")
    duplicated = b"\x84\xa7version\x01" + blob[1:]
    with pytest.raises(RaTlsFormatError, match="duplicate key 'version'"):
        decode_attestation(duplicated)


def test_non_canonical_integers_are_refused() -> None:
    blob = encode_attestation_v1(quote=b"q")
    assert blob.startswith(b"\x83\xa7version\x01")
    padded = b"\x83\xa7version\xcc\x01" + blob[len(b"\x83\xa7version\x01") :]
    with pytest.raises(RaTlsFormatError, match="shortest encoding"):
        decode_attestation(padded)


def test_trailing_bytes_are_refused() -> None:
    blob = encode_attestation_v1(quote=b"q")
    with pytest.raises(RaTlsFormatError, match="1 trailing byte") as info:
        decode_attestation(blob + b"\xc0")
    assert info.value.offset == len(blob)


@pytest.mark.parametrize(
    ("header", "text"),
    [
        (b"\xdd\xff\xff\xff\xff", "at most"),  # array32 of 2**32-1 elements
        (b"\xdc\x10\x00", "remaining bytes"),  # array16 of 4096 elements in a few bytes
        (b"\xc6\xff\xff\xff\xff", "max_bin_len|exceeds|truncated"),  # bin32 of 4 GiB
    ],
)
def test_counts_are_bounded_before_anything_is_allocated(header: bytes, text: str) -> None:
    # The quote's claimed size is checked against the cap and the bytes left first.
    blob = b"\x83\xa7version\x01\xa8platform\x82\xa4kind\xa3tdx\xa4data\x82\xa5quote" + header
    with pytest.raises(RaTlsFormatError, match=text):
        decode_attestation(blob + b"\x00" * 8)


def test_too_many_events_are_refused() -> None:
    document = _document()
    document["stack"]["data"]["runtime_events"] = [{"event": "", "payload": b""}] * (MAX_EVENTS + 1)
    with pytest.raises(RaTlsFormatError, match=f"at most {MAX_EVENTS}"):
        decode_attestation(_pack(document))


def test_preimage_must_hash_to_the_digest() -> None:
    preimage = b'{"name":"app-id","payload":"","type":134217729}'
    event = TdxEvent(3, 0x08000001, hashlib.sha384(preimage).digest(), "app-id", b"", 2, preimage)
    decoded = decode_attestation(encode_attestation_v1(quote=b"q", event_log=(event,)))
    assert decoded.event_log == (event,)
    broken = event._replace(preimage=preimage + b" ")
    with pytest.raises(RaTlsFormatError, match="preimage does not hash"):
        decode_attestation(encode_attestation_v1(quote=b"q", event_log=(broken,)))


def test_v0_cannot_carry_version_2_events() -> None:
    with pytest.raises(ValueError, match="version 2"):
        encode_attestation_v0(quote=b"q", runtime_events=RUNTIME)


_names = st.text(max_size=12)
_bytes = st.binary(max_size=60)
_runtime = st.builds(RuntimeEvent, _names, _bytes, st.sampled_from([1, 2]))
_log = st.builds(
    TdxEvent,
    st.integers(0, 3),
    st.integers(0, 2**32 - 1),
    st.sampled_from([b"", bytes(48)]),
    _names,
    _bytes,
    st.sampled_from([1, 2]),
    st.none(),
)


@budget(200)
@given(
    quote=st.binary(max_size=300),
    log=st.lists(_log, max_size=4),
    runtime=st.lists(_runtime, max_size=4),
    report_data=st.binary(min_size=64, max_size=64),
    config=_names,
    payload=st.none() | _names,
)
def test_round_trip(
    quote: bytes,
    log: list[TdxEvent],
    runtime: list[RuntimeEvent],
    report_data: bytes,
    config: str,
    payload: str | None,
) -> None:
    blob = encode_attestation_v1(
        quote=quote,
        event_log=log,
        runtime_events=runtime,
        report_data=report_data,
        config=config,
        report_data_payload=payload,
    )
    decoded = decode_attestation(blob)
    assert isinstance(decoded, AttestationV1)
    assert (decoded.quote, decoded.report_data, decoded.config) == (quote, report_data, config)
    assert list(decoded.event_log) == log
    assert list(decoded.runtime_events) == runtime
    assert decoded.report_data_payload == payload


_GOOD = encode_attestation_v1(quote=QUOTE[:40], event_log=LOG, runtime_events=RUNTIME)


@budget(1000)
@given(st.data())
@example(None)
def test_hostile_bytes_raise_only_documented_errors(data: st.DataObject | None) -> None:
    if data is None:
        blob = _GOOD[:-1]
    else:
        blob = bytearray(_GOOD)
        for _ in range(data.draw(st.integers(1, 4))):
            position = data.draw(st.integers(0, len(blob) - 1))
            blob[position] = data.draw(st.integers(0, 255))
        blob = bytes(blob[: data.draw(st.integers(1, len(blob)))])
    with contextlib.suppress(RaTlsFormatError, UnsupportedAttestationError):
        decode_attestation(blob)


@budget(300)
@given(st.binary(min_size=1, max_size=200).map(lambda b: b"\x83" + b))
def test_random_maps_raise_only_documented_errors(blob: bytes) -> None:
    with contextlib.suppress(RaTlsFormatError, UnsupportedAttestationError):
        decode_attestation(blob)


# --- a forged V1 certificate, verified end to end ----------------------------------------------

FORGE = RaTlsForge.create(b"tdxquote V1 tests")


@pytest.mark.parametrize("version", [1, 2])
def test_forged_v1_certificate_passes_dcap(version: int) -> None:
    made = FORGE.certificate(form="1.8-v1", issuer="kms", events=runtime_events(version=version))
    verified = verify_certificate(
        made.chain_pem,
        verifier=made.verifier(),
        now=made.now,
        expect_events={"compose-hash": DEFAULT_COMPOSE_HASH},
    )
    assert verified.certificate.format == "1.8-v1"
    assert str(verified.verified_quote.status) == "UpToDate"
    assert verified.checks[:3] == ("ratls_attestation", "ratls_binding", "ratls_rtmr_replay")
    result = asyncio.run(
        DcapVerifier(made.collateral(), verifier=made.verifier(), now=made.now).verify_cert(
            made.chain_der, VerifyOptions()
        )
    )
    assert result.tcb_status == "UpToDate"
    assert result.compose_hash == DEFAULT_COMPOSE_HASH.hex()
    assert result.mr_aggregated == verified.certificate.mr_aggregated.hex()


def test_forged_v1_negatives() -> None:
    unbound = FORGE.certificate(form="1.8-v1", envelope_report_data=bytes(64))
    with pytest.raises(BindingMismatchError):
        verify_certificate(unbound.chain_pem, verifier=unbound.verifier(), now=unbound.now)
    broken = FORGE.certificate(form="1.8-v1", break_rtmr=3, events=runtime_events(version=2))
    with pytest.raises(RtmrMismatchError) as info:
        verify_certificate(broken.chain_pem, verifier=broken.verifier(), now=broken.now)
    assert info.value.index == 3


def test_a_pod_attestation_cannot_bind_a_certificate() -> None:
    # Both rules constrain the same 64 bytes: whichever holds, the other fails.
    payload = "pod payload"
    made = FORGE.certificate(form="1.8-v1", report_data_payload=payload)
    assert parse_certificate(made.chain_pem).attestation.stack == "dstack-pod"
    with pytest.raises(BindingMismatchError, match="dstack-pod"):
        verify_certificate(made.chain_pem, verifier=made.verifier(), now=made.now)
    pod_bound = FORGE.certificate(
        form="1.8-v1",
        report_data_payload=payload,
        envelope_report_data=app_data_report_data(payload),
        quote_report_data=app_data_report_data(payload),
    )
    with pytest.raises(BindingMismatchError, match="binds the certificate's key"):
        verify_certificate(pod_bound.chain_pem, verifier=pod_bound.verifier(), now=pod_bound.now)
