"""Certificates and CRLs read from their DER (``tdxquote._x509_verify``), held to cryptography.

Verification reads the signed bytes, signature, names, dates, key, serials and
extensions itself (so signatures are checked over the bytes as received); every
field is compared here with what ``cryptography`` reads from the same bytes, on
every certificate and CRL of the shared vectors, and hostile bytes raise
``X509FormatError`` and nothing else.
"""

from __future__ import annotations

import contextlib
import glob
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from _helpers import budget
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given
from hypothesis import strategies as st

from tdxquote import parse_quote
from tdxquote._chain_checks import pem_certificate_ders
from tdxquote._x509_verify import (
    X509FormatError,
    name_common_name,
    parse_certificate,
    parse_crl,
    raw_signature_to_der,
    verify_der_signature,
)
from tdxquote.collateral import CollateralFormatError, RawCollateral
from tdxquote.collateral._pem import pem_blocks
from tdxquote.errors import TdxQuoteError
from tdxquote.testing.pki import SyntheticPki, derive_key


def _vector_material(vectors: Path) -> tuple[set[bytes], set[bytes]]:
    certs: set[bytes] = set()
    crls: set[bytes] = set()
    for path in glob.glob(str(vectors / "**" / "*.json"), recursive=True):
        try:
            raw = RawCollateral.from_json(Path(path).read_bytes())
        except TdxQuoteError:
            continue
        for chain in (
            raw.pck_crl_issuer_chain,
            raw.tcb_info_issuer_chain,
            raw.qe_identity_issuer_chain,
            raw.pck_certificate_chain,
        ):
            if chain:
                with contextlib.suppress(CollateralFormatError):
                    certs.update(pem_blocks(chain, "CERTIFICATE", code="x"))
        crls.update((raw.pck_crl, raw.root_ca_crl))
    for path in glob.glob(str(vectors / "**" / "*"), recursive=True):
        if not Path(path).is_file() or Path(path).stat().st_size > 1 << 16:
            continue
        try:
            pem = parse_quote(Path(path).read_bytes()).pck_chain_pem
            if pem:
                certs.update(pem_certificate_ders(pem))
        except (TdxQuoteError, ValueError):
            continue
    return certs, crls


def _read_both_names(cert: x509.Certificate) -> None:
    cert.issuer.public_bytes()
    cert.subject.public_bytes()


def test_certificates_read_as_cryptography_reads_them(vectors: Path) -> None:
    certs, _ = _vector_material(vectors)
    assert len(certs) > 20
    compared = 0
    for der in certs:
        try:
            cert = x509.load_der_x509_certificate(der)
        except ValueError:
            continue  # a deliberately damaged real-world certificate
        try:
            view = parse_certificate(der)
        except X509FormatError:
            # Refused only where cryptography cannot read the names either.
            with pytest.raises(ValueError, match=r"asn1|decode|invalid"):
                _read_both_names(cert)
            continue
        assert view.tbs == cert.tbs_certificate_bytes
        assert view.serial == cert.serial_number
        assert (view.not_before, view.not_after) == (
            cert.not_valid_before_utc,
            cert.not_valid_after_utc,
        )
        try:
            issuer, subject = cert.issuer.public_bytes(), cert.subject.public_bytes()
            key = cert.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        except ValueError:
            continue  # a deliberately damaged real-world certificate cryptography cannot read
        assert (view.issuer, view.subject) == (issuer, subject)
        assert view.public_point == key
        names = cert.subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)
        assert view.common_name == (names[0].value if names else "")
        basic = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        assert view.is_ca() == (basic.ca and usage.key_cert_sign)
        assert set(view.extensions) == {_oid_content(e.oid.dotted_string) for e in cert.extensions}
        compared += 1
    assert compared > 20


def _oid_content(dotted: str) -> bytes:
    from tdxquote._der import encode_oid_content

    return encode_oid_content(dotted)


def test_crls_read_as_cryptography_reads_them(vectors: Path) -> None:
    _, crls = _vector_material(vectors)
    assert len(crls) > 10
    for der in crls:
        crl = x509.load_der_x509_crl(der)
        view = parse_crl(der)
        assert view.tbs == crl.tbs_certlist_bytes
        assert view.issuer == crl.issuer.public_bytes()
        assert (view.this_update, view.next_update) == (crl.last_update_utc, crl.next_update_utc)
        assert view.revoked == frozenset(entry.serial_number for entry in crl)
        number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
        assert view.crl_number == number


def _crl_with(entries: list[tuple[int, datetime, bool]]) -> bytes:
    """A CRL signed by a synthetic root, with revoked entries of varied encodings."""
    root = SyntheticPki.create(b"x509 tests").root
    now = datetime(2025, 1, 1, tzinfo=timezone.utc)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(root.cert.subject)
        .last_update(now)
        .next_update(now + timedelta(days=30))
        .add_extension(x509.CRLNumber(7), critical=False)
    )
    for serial, date, reason in entries:
        entry = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(date)
        if reason:
            entry = entry.add_extension(x509.CRLReason(x509.ReasonFlags.key_compromise), False)
        builder = builder.add_revoked_certificate(entry.build())
    return builder.sign(root.key, hashes.SHA256()).public_bytes(Encoding.DER)


@budget(50)
@given(
    st.lists(
        st.tuples(
            st.integers(1, 2**159 - 1),
            st.sampled_from(
                [
                    datetime(2024, 5, 1, tzinfo=timezone.utc),
                    datetime(2051, 5, 1, tzinfo=timezone.utc),  # GeneralizedTime
                ]
            ),
            st.booleans(),
        ),
        max_size=40,
        unique_by=lambda entry: entry[0],
    )
)
def test_revoked_serials_of_every_entry_shape(entries: list[tuple[int, datetime, bool]]) -> None:
    der = _crl_with(entries)
    assert parse_crl(der).revoked == frozenset(serial for serial, _, _ in entries)
    assert parse_crl(der).revoked == frozenset(e.serial_number for e in x509.load_der_x509_crl(der))


def test_a_large_crl_takes_the_long_length_forms() -> None:
    entries = [
        (n * 2**130 + 1, datetime(2024, 5, 1, tzinfo=timezone.utc), True) for n in range(400)
    ]
    der = _crl_with(entries)
    assert len(parse_crl(der).revoked) == 400


@budget(300)
@given(st.data())
def test_hostile_certificate_bytes_raise_only_x509_format_error(data: st.DataObject) -> None:
    root = SyntheticPki.create(b"x509 fuzz").root.der
    position = data.draw(st.integers(0, len(root) - 1))
    mutated = bytearray(root)
    choice = data.draw(st.sampled_from(["flip", "truncate", "insert"]))
    if choice == "flip":
        mutated[position] ^= data.draw(st.integers(1, 255))
    elif choice == "truncate":
        del mutated[position:]
    else:
        mutated[position:position] = data.draw(st.binary(min_size=1, max_size=4))
    try:
        view = parse_certificate(bytes(mutated))
    except X509FormatError:
        return
    view.common_name  # noqa: B018 - never raises
    view.is_ca()
    with contextlib.suppress(X509FormatError):
        view.extensions  # noqa: B018


@budget(300)
@given(st.binary(max_size=600))
def test_random_bytes_raise_only_x509_format_error(data: bytes) -> None:
    for parse in (parse_certificate, parse_crl):
        with contextlib.suppress(X509FormatError):
            parse(data)


@budget(200)
@given(st.binary(max_size=200))
def test_name_decoding_never_raises(name: bytes) -> None:
    assert isinstance(name_common_name(name), str)


@budget(300)
@given(st.binary(min_size=32, max_size=32), st.binary(min_size=32, max_size=32))
def test_raw_signatures_encode_as_cryptography_encodes_them(r: bytes, s: bytes) -> None:
    r_int, s_int = int.from_bytes(r, "big"), int.from_bytes(s, "big")
    expected = None if r_int == 0 or s_int == 0 else encode_dss_signature(r_int, s_int)
    assert raw_signature_to_der(r + s) == expected


def test_raw_signature_edge_values() -> None:
    assert raw_signature_to_der(bytes(64)) is None
    assert raw_signature_to_der(bytes(31) + b"\x01" + bytes(32)) is None
    assert raw_signature_to_der(b"\x80" + bytes(62) + b"\x01") == encode_dss_signature(2**255, 1)
    assert raw_signature_to_der(bytes(63)) is None


def test_signatures_are_checked_over_the_exact_signed_bytes() -> None:
    pki = SyntheticPki.create(b"x509 signatures")
    view = parse_certificate(pki.intermediate.der)
    root_key = pki.root.key.public_key()
    assert verify_der_signature(root_key, view.signature, view.tbs)
    other = derive_key(b"not the root").public_key()
    assert not verify_der_signature(other, view.signature, view.tbs)
    assert not verify_der_signature(root_key, view.signature, view.tbs + b"\x00")
    assert isinstance(root_key, ec.EllipticCurvePublicKey)


_PEM_PIECES = [
    "-----BEGIN CERTIFICATE-----",
    "-----END CERTIFICATE-----",
    "-----BEGIN X509 CRL-----",
    "-----END X509 CRL-----",
    "MIIB",
    "AAAA",
    "QUJD",
    "====",
    "\n",
    " ",
    "\t",
    "\x0b",
    "x",
    "-",
]


@budget(500)
@given(st.lists(st.sampled_from(_PEM_PIECES), max_size=14))
def test_pem_splitting_is_as_strict_as_the_collateral_reader(pieces: list[str]) -> None:
    text = "".join(pieces)
    try:
        expected: list[bytes] | None = pem_blocks(text, "CERTIFICATE", code="x")
    except CollateralFormatError:
        expected = None
    try:
        found: list[bytes] | None = pem_certificate_ders(text)
    except ValueError:
        found = None
    assert found == expected
