"""The ``.1.9`` AppInfo extension: both encodings, refusals, the claim against the attestation."""

from __future__ import annotations

import contextlib
from dataclasses import replace

import msgpack
import pytest
from _helpers import budget
from hypothesis import given
from hypothesis import strategies as st

from tdxquote.ratls import (
    AppInfo,
    RaTlsFormatError,
    certificate_report,
    decode_app_info,
    encode_app_info,
    format_report,
    parse_certificate,
)
from tdxquote.testing.ratls import (
    DEFAULT_APP_ID,
    DEFAULT_COMPOSE_HASH,
    DEFAULT_INSTANCE_ID,
    DEFAULT_KEY_PROVIDER,
    DEFAULT_OS_IMAGE_HASH,
    RaTlsForge,
)

# dstack's own test vector (branch fix/msgpack-named-encoding, v0.5.11 positional form):
# fixarray(8) of bin(a1a2a3), bin(b1b2), bin(c1c2), bin(d1), bin(51 x 32), bin(62 x 32),
# bin(e1e2), bin("kms").
PINNED_V0511 = bytes.fromhex(
    "98c403a1a2a3c402b1b2c402c1c2c401d1c420" + "51" * 32 + "c420" + "62" * 32 + "c402e1e2c4036b6d73"
)


def test_pinned_positional_vector() -> None:
    info = decode_app_info(PINNED_V0511)
    assert info.encoding == "array"
    assert (info.app_id, info.compose_hash, info.instance_id, info.device_id) == (
        bytes.fromhex("a1a2a3"),
        bytes.fromhex("b1b2"),
        bytes.fromhex("c1c2"),
        bytes.fromhex("d1"),
    )
    assert (info.mr_system, info.mr_aggregated) == (b"\x51" * 32, b"\x62" * 32)
    assert (info.os_image_hash, info.key_provider_info) == (bytes.fromhex("e1e2"), b"kms")
    assert info.init_script_hashes is None
    assert encode_app_info(info) == PINNED_V0511


def test_named_map_form_and_init_script_hashes() -> None:
    info = replace(
        decode_app_info(PINNED_V0511), encoding="map", init_script_hashes=(b"\x01" * 32,)
    )
    encoded = encode_app_info(info)
    assert encoded[0] == 0x89  # fixmap(9): the fix branch's named encoding
    assert decode_app_info(encoded) == info
    positional = encode_app_info(replace(info, encoding="array"))
    assert positional[0] == 0x99  # fixarray(9): HEAD's positional form with the 9th field
    assert decode_app_info(positional).init_script_hashes == (b"\x01" * 32,)
    # HEAD writes None as nil in the 9th position.
    nil_ninth = bytes([0x99]) + PINNED_V0511[1:] + b"\xc0"
    assert decode_app_info(nil_ninth).init_script_hashes is None


def _fields() -> list[bytes]:
    return list(msgpack.unpackb(PINNED_V0511))


@pytest.mark.parametrize(
    ("data", "text"),
    [
        (msgpack.packb(_fields()[:7]), "8 or 9 elements"),
        (msgpack.packb([*_fields(), None, None]), "at most 9"),
        (msgpack.packb([*_fields()[:4], b"\x51" * 31, *_fields()[5:]]), "32 bytes"),
        (msgpack.packb([*_fields()[:7], "kms"]), "expected bytes"),
        (PINNED_V0511 + b"\x00", "trailing"),
        (PINNED_V0511[:-1], "truncated"),
        (msgpack.packb({"app_id": b""}), "missing key"),
        (msgpack.packb({"app_ids": b""}), "unknown key"),
        (b"\xc3", "expected an array"),
    ],
)
def test_malformed_app_info_is_refused(data: bytes, text: str) -> None:
    with pytest.raises(RaTlsFormatError, match=text) as info:
        decode_app_info(data)
    assert info.value.field.startswith("1.3.6.1.4.1.62397.1.9")


@budget(300)
@given(st.binary(max_size=120))
def test_hostile_app_info_raises_only_format_errors(data: bytes) -> None:
    with contextlib.suppress(RaTlsFormatError):
        decode_app_info(bytes([0x98]) + data)


FORGE = RaTlsForge.create(b"tdxquote app info tests")


def _claim(**changes: bytes) -> AppInfo:
    made = FORGE.certificate()
    cert = parse_certificate(made.chain_pem)
    claim = AppInfo(
        app_id=DEFAULT_APP_ID,
        compose_hash=DEFAULT_COMPOSE_HASH,
        instance_id=DEFAULT_INSTANCE_ID,
        device_id=b"\x0d" * 32,
        mr_system=cert.mr_system,
        mr_aggregated=cert.mr_aggregated,
        os_image_hash=DEFAULT_OS_IMAGE_HASH,
        key_provider_info=DEFAULT_KEY_PROVIDER,
    )
    return replace(claim, **changes)


def test_a_matching_claim_is_attested_only_with_a_verdict() -> None:
    made = FORGE.certificate(app_info=_claim())
    cert = parse_certificate(made.chain_pem)
    assert cert.app_info == _claim()
    assert cert.app_info_consistency == {
        "app_id": True,
        "compose_hash": True,
        "instance_id": True,
        "device_id": None,
        "mr_system": True,
        "mr_aggregated": True,
        "os_image_hash": True,
        "key_provider_info": True,
    }
    verified = certificate_report(made.chain_pem, verifier=made.verifier(), now=made.now)
    assert verified["verdict"]["ok"] is True
    assert verified["app_info"]["attested"] is True
    assert verified["app_info"]["claims"]["mr_aggregated"] == cert.mr_aggregated.hex()
    assert "matches the verified attestation" in format_report(verified)
    unverified = certificate_report(made.chain_pem, unsafe_simulator=True)
    assert unverified["app_info"]["consistent"] is True
    assert unverified["app_info"]["attested"] is False
    assert "not attested" in format_report(unverified)


def test_a_boot_time_claim_matches_too() -> None:
    cert = parse_certificate(FORGE.certificate().chain_pem)
    boot = cert.measurements.boottime
    claim = _claim(
        mr_system=boot.mr_system, mr_aggregated=boot.mr_aggregated, key_provider_info=b""
    )
    made = FORGE.certificate(app_info=claim)
    consistency = parse_certificate(made.chain_pem).app_info_consistency or {}
    assert consistency["mr_system"] is consistency["mr_aggregated"] is True
    assert consistency["key_provider_info"] is True


@pytest.mark.parametrize(
    "field", ["app_id", "compose_hash", "mr_aggregated", "os_image_hash", "key_provider_info"]
)
def test_a_claim_that_differs_is_reported_and_never_attested(field: str) -> None:
    wrong = {"mr_aggregated": b"\x00" * 32}.get(field, b"not what was measured")
    made = FORGE.certificate(app_info=_claim(**{field: wrong}))
    report = certificate_report(made.chain_pem, verifier=made.verifier(), now=made.now)
    # An issuer claim never decides the verdict: the certificate itself verifies.
    assert report["verdict"]["ok"] is True
    assert report["app_info"]["matches_attestation"][field] is False
    assert report["app_info"]["consistent"] is False
    assert report["app_info"]["attested"] is False
    assert f"DIFFERS from the attestation: {field}" in format_report(report)


def test_malformed_app_info_makes_the_certificate_malformed() -> None:
    made = FORGE.certificate(app_info=b"\x98\xc0")
    report = certificate_report(made.chain_pem, verifier=made.verifier(), now=made.now)
    assert report["verdict"]["error"]["code"] == "parse_error"
    assert report["verdict"]["error"]["field"].startswith("1.3.6.1.4.1.62397.1.9")
