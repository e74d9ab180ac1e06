"""The parser's error contract, fuzzed.

For any input, ``parse_quote`` returns a :class:`Quote` or raises
:class:`QuoteParseError`, never anything else; a parsed quote's properties
decode without error (the PCK chain and its extension may raise
``QuoteParseError`` only); and the fast parser agrees with the plain
``construct`` reference on accept/reject and on every field.

Inputs: random bytes, hostile mutations of every real quote in the shared
corpus (``tests/_quote_files.py``) and of generated quotes, DER-level edits of
real PCK chains, and arbitrary hex text.  The "ci" profile keeps each test to a
few hundred examples (the reference parse costs ~90 µs);
``HYPOTHESIS_PROFILE=fuzz`` runs each test for 100,000 (see docs/testing.md).
Each bug the fuzzing found has a ``test_regression_*`` test below.
"""

from __future__ import annotations

import base64
import pickle
import re
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

import pytest
from _helpers import REFERENCE_FIELDS, budget
from _quote_files import QUOTE_FILES
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import example, given
from hypothesis import strategies as st

from tdxquote import (
    CertificationData,
    Quote,
    QuoteParseError,
    SgxReport,
    TdReport10,
    parse_quote,
)
from tdxquote._build import build_quote
from tdxquote._reference import reference_fields
from tdxquote.schema import INTEL_QE_VENDOR_ID, TEE_TYPE_SGX, TEE_TYPE_TDX
from tdxquote.testing import strategies as tq

T = TypeVar("T")

# --- the corpus -------------------------------------------------------------------------

CORPUS = {entry.id: entry for entry in QUOTE_FILES}


def _corpus_quote(vectors: Path, entry_id: str) -> bytes:
    return CORPUS[entry_id].read(vectors)


# --- the contract -----------------------------------------------------------------------

_CHAIN_PROPERTIES = frozenset({"pck_chain", "pck_extension"})
_PROPERTIES = sorted(
    name
    for name, value in vars(Quote).items()
    if isinstance(value, (property, cached_property)) and not name.startswith("_")
)
_REFERENCE_KEYS = set(REFERENCE_FIELDS)


def _outcome(what: str, call: Callable[[], T], data: object) -> T | QuoteParseError:
    """Run ``call``; return its result or the QuoteParseError it raised; fail on anything else."""
    try:
        return call()
    except QuoteParseError as exc:
        return exc
    except KeyboardInterrupt:
        raise
    except BaseException as exc:
        pytest.fail(f"{what} raised {exc!r} (not QuoteParseError) on {data!r}")


def _touch_report(report: Any) -> None:
    assert type(report)._make(report) == report
    assert len(report.to_bytes()) in (384, 584, 648, 885)
    assert isinstance(report.is_debug, bool)
    if isinstance(report, SgxReport):
        assert int(report.attributes_flags) == int.from_bytes(report.attributes[:8], "little")
    else:
        assert report.rtmrs == (report.rtmr0, report.rtmr1, report.rtmr2, report.rtmr3)
        assert int(report.td_attributes_flags) == int.from_bytes(report.td_attributes, "little")
        assert int(report.xfam_flags) == int.from_bytes(report.xfam, "little")


def _touch_everything(quote: Quote, data: bytes) -> None:
    """Read every property: only the PCK chain and its extension may raise, and only
    QuoteParseError (the parse already validated all structure)."""
    for name in _PROPERTIES:
        if name in _CHAIN_PROPERTIES:
            _outcome(f"Quote.{name}", lambda name=name: getattr(quote, name), data)
        else:
            getattr(quote, name)
    _touch_report(quote.body)
    _touch_report(quote.qe_report)
    assert bytes(quote) == quote.to_bytes() == data
    assert len(quote) == len(data)
    repr(quote)
    assert pickle.loads(pickle.dumps(quote)) == quote
    assert hash(quote) == hash(data)


def _assert_matches_reference(quote: Quote, ref: dict[str, Any]) -> None:
    assert set(ref) == _REFERENCE_KEYS
    assert ref["header"] == quote.header._asdict()
    assert ref["body_type"] == quote.body_type
    assert ref["body"] == quote.body._asdict()
    assert ref["signed_bytes"] == quote.signed_bytes
    assert ref["signature"] == quote.signature
    assert ref["attestation_key"] == quote.attestation_key
    assert ref["qe_report"] == quote.qe_report._asdict()
    assert ref["qe_report_signature"] == quote.qe_report_signature
    assert ref["qe_auth_data"] == quote.qe_auth_data
    assert ref["qe_report_certification_type"] == quote.qe_report_certification_type
    assert ref["certification_data"] == tuple(quote.certification_data)
    assert ref["trailing_bytes"] == quote.trailing_bytes


def check_contract(data: bytes, *, reference: bool = True) -> Quote | None:
    """Hold ``parse_quote`` (and every way in) to the contract on ``data``; return the quote."""
    fast = _outcome("parse_quote", lambda: parse_quote(data), data)
    for other, via in (
        (lambda: parse_quote(bytearray(data)), "parse_quote(bytearray)"),
        (lambda: parse_quote(memoryview(data)), "parse_quote(memoryview)"),
        (lambda: Quote(data), "Quote()"),
    ):
        again = _outcome(via, other, data)
        assert isinstance(again, QuoteParseError) == isinstance(fast, QuoteParseError), via
    if reference:
        ref = _outcome("reference_fields", lambda: reference_fields(data), data)
        assert isinstance(ref, QuoteParseError) == isinstance(fast, QuoteParseError), (
            f"fast parser: {fast!r}; construct reference: {ref!r}"
        )
        if isinstance(fast, Quote):
            assert isinstance(ref, dict)
            _assert_matches_reference(fast, ref)
    if isinstance(fast, QuoteParseError):
        assert 0 <= fast.offset <= len(data), fast
        assert fast.field
        assert fast.reason
        return None
    _touch_everything(fast, data)
    return fast


def rebuild(quote: Quote) -> bytes:
    """``build_quote`` from every parsed field."""
    header = quote.header
    return build_quote(
        body=quote.body,
        signature=quote.signature,
        attestation_key=quote.attestation_key,
        qe_report=quote.qe_report,
        qe_report_signature=quote.qe_report_signature,
        qe_auth_data=quote.qe_auth_data,
        certification_data=quote.certification_data,
        version=quote.version,
        qe_svn=header.qe_svn,
        pce_svn=header.pce_svn,
        qe_vendor_id=header.qe_vendor_id,
        user_data=header.user_data,
        attestation_key_type=header.attestation_key_type,
        trailing_bytes=quote.trailing_bytes,
    ).to_bytes()


# --- random bytes -----------------------------------------------------------------------


@budget(300)
@given(st.binary(max_size=2048))
@example(b"")
@example(bytes(48))
def test_random_bytes(data: bytes) -> None:
    check_contract(data)


def _header(version: int, tee: int) -> bytes:
    return (
        version.to_bytes(2, "little")
        + (2).to_bytes(2, "little")
        + tee.to_bytes(4, "little")
        + bytes(4)
        + INTEL_QE_VENDOR_ID
        + bytes(20)
    )


# Valid headers (and v5 descriptors) followed by random bytes get past the first checks.
_PLAUSIBLE_PREFIXES = [
    _header(3, TEE_TYPE_SGX),
    _header(4, TEE_TYPE_SGX),
    _header(4, TEE_TYPE_TDX),
    *(
        _header(5, TEE_TYPE_SGX if body_type == 1 else TEE_TYPE_TDX)
        + body_type.to_bytes(2, "little")
        + size.to_bytes(4, "little")
        for body_type, size in ((1, 384), (2, 584), (3, 648), (4, 885))
    ),
]


@budget(300)
@given(st.sampled_from(_PLAUSIBLE_PREFIXES), st.binary(max_size=4096))
def test_plausible_header_then_random_bytes(prefix: bytes, rest: bytes) -> None:
    check_contract(prefix + rest)


# --- mutations --------------------------------------------------------------------------


def test_corpus_covers_every_version(vectors: Path) -> None:
    versions = {parse_quote(entry.read(vectors)).version for entry in QUOTE_FILES}
    assert versions == {3, 4, 5}


@pytest.mark.parametrize("entry_id", CORPUS)
def test_corpus_quote_round_trips(vectors: Path, entry_id: str) -> None:
    data = _corpus_quote(vectors, entry_id)
    quote = check_contract(data)
    assert quote is not None
    assert rebuild(quote) == data


@pytest.mark.parametrize("entry_id", CORPUS)
@budget(50)
@given(data=st.data())
def test_corpus_mutations(vectors: Path, entry_id: str, data: st.DataObject) -> None:
    base = _corpus_quote(vectors, entry_id)
    mutated = data.draw(tq.mutated_quotes(st.just(base)), label="mutated")
    check_contract(mutated)


@budget(400)
@given(tq.mutated_quotes())
def test_generated_mutations(data: bytes) -> None:
    check_contract(data)


# --- valid generated quotes -------------------------------------------------------------


@budget(150)
@given(tq.quotes())
def test_generated_quotes_parse_and_round_trip(data: bytes) -> None:
    quote = check_contract(data)
    assert quote is not None, "a generated quote must parse"
    assert quote.to_bytes() == data
    assert rebuild(quote) == data


# --- the PCK chain: DER-level mutations and regressions -------------------------------------

_PEM_BLOCK = re.compile(rb"-----BEGIN CERTIFICATE-----\n(.*?)-----END CERTIFICATE-----\n?", re.S)
# Bytes worth writing into DER: tags, length forms, small integers.
_DER_BYTES = (0x00, 0x01, 0x02, 0x04, 0x05, 0x06, 0x0E, 0x0F, 0x30, 0x31, 0x7F, 0x80, 0x81)
_DER_BYTES += (0x82, 0x83, 0x84, 0xA0, 0xA3, 0xA5, 0xFF)


def _pem(der: bytes) -> bytes:
    return (
        b"-----BEGIN CERTIFICATE-----\n" + base64.encodebytes(der) + b"-----END CERTIFICATE-----\n"
    )


def _chain_ders(quote: Quote) -> list[bytes]:
    pem = quote.pck_chain_pem
    assert pem is not None
    return [base64.b64decode(b"".join(block.split())) for block in _PEM_BLOCK.findall(pem)]


def _with_chain(quote: Quote, ders: list[bytes], *, nul: bool = True) -> bytes:
    """``quote`` rebuilt with a PEM chain of ``ders`` as its certification data."""
    chain = b"".join(_pem(der) for der in ders) + (b"\x00" if nul else b"")
    return build_quote(
        body=quote.body,
        signature=quote.signature,
        attestation_key=quote.attestation_key,
        qe_report=quote.qe_report,
        qe_report_signature=quote.qe_report_signature,
        qe_auth_data=quote.qe_auth_data,
        certification_data=CertificationData(5, chain),
        version=quote.version,
    ).to_bytes()


@st.composite
def _der_edits(draw: st.DrawFn, der: bytes) -> bytes:
    out = bytearray(der)
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(out) - 1))
        out[at] = draw(st.sampled_from(_DER_BYTES) | st.integers(0, 255))
    return bytes(out)


# One real PEM-chain quote per version (SGX v3, TDX v4, TDX v5) and Google Cloud's.
_PEM_CHAIN_QUOTES = [
    "dcap-qvl/sgx_quote",
    "dcap-qvl/tdx_quote",
    "dcap-qvl/tdx_quote_outdated",
    "go-tdx-guest/quotes/cos-113-tdx-quote.dat",
]


@pytest.mark.parametrize("entry_id", _PEM_CHAIN_QUOTES)
@budget(40)
@given(data=st.data())
def test_pck_chain_der_mutations(vectors: Path, entry_id: str, data: st.DataObject) -> None:
    """Edits inside the DER of the chain's certificates reach the certificate and
    SGX extension decoders: they too may raise QuoteParseError only."""
    quote = parse_quote(_corpus_quote(vectors, entry_id))
    ders = _chain_ders(quote)
    index = data.draw(st.sampled_from([0, 0, 0, *range(len(ders))]), label="certificate")
    ders[index] = data.draw(_der_edits(ders[index]), label="der")
    check_contract(_with_chain(quote, ders), reference=False)


def _certificate(extensions: list[x509.ExtensionType]) -> bytes:
    """A small self-signed DER certificate with ``extensions`` (deterministic key)."""
    key = ec.derive_private_key(0x5EED, ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tdxquote regression")])
    start = datetime(2025, 1, 1, tzinfo=timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=1))
    )
    for extension in extensions:
        builder = builder.add_extension(extension, critical=False)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


_TD10_SIZES = (16, 48, 48, 8, 8, 8, 48, 48, 48, 48, 48, 48, 48, 48, 64)
_ZERO_QE_REPORT = SgxReport(
    bytes(16), 0, bytes(28), bytes(16), bytes(32), bytes(32), bytes(32), bytes(96), 0, 0,
    bytes(60), bytes(64),
)  # fmt: skip


def _quote_with_leaf(der: bytes) -> Quote:
    return build_quote(
        body=TdReport10(*(bytes(size) for size in _TD10_SIZES)),
        signature=bytes(64),
        attestation_key=bytes(64),
        qe_report=_ZERO_QE_REPORT,
        qe_report_signature=bytes(64),
        qe_auth_data=b"",
        certification_data=CertificationData(5, _pem(der) + b"\x00"),
    )


def _edit(der: bytes, old: bytes, new: bytes) -> bytes:
    assert der.count(old) == 1, old
    return der.replace(old, new)


def test_regression_pck_chain_certificate_with_invalid_version() -> None:
    """cryptography raises ``x509.InvalidVersion`` (not a ValueError) for an X.509
    version other than v1 to v3; ``pck_chain`` leaked it."""
    der = _edit(_certificate([]), b"\xa0\x03\x02\x01\x02", b"\xa0\x03\x02\x01\x05")
    quote = _quote_with_leaf(der)
    with pytest.raises(QuoteParseError) as caught:
        _ = quote.pck_chain
    assert caught.value.field == "pck_chain"
    check_contract(quote.to_bytes())


def test_regression_pck_extension_of_a_leaf_with_a_duplicate_extension() -> None:
    """A leaf carrying the same extension twice makes cryptography raise
    ``x509.DuplicateExtension``; ``pck_extension`` leaked it."""
    der = _certificate(
        [
            x509.SubjectKeyIdentifier(bytes(20)),
            x509.KeyUsage(True, False, False, False, False, False, False, False, False),
        ]
    )
    der = _edit(der, b"\x06\x03\x55\x1d\x0e", b"\x06\x03\x55\x1d\x0f")  # SKI -> KU
    quote = _quote_with_leaf(der)
    assert len(quote.pck_chain) == 1
    with pytest.raises(QuoteParseError) as caught:
        _ = quote.pck_extension
    assert caught.value.field == "pck_extension"
    check_contract(quote.to_bytes())


def test_regression_pck_extension_of_a_leaf_with_an_x400_address() -> None:
    """A general name of an unsupported kind (x400Address) makes cryptography raise
    ``x509.UnsupportedGeneralNameType``; ``pck_extension`` leaked it."""
    der = _certificate([x509.SubjectAlternativeName([x509.DNSName("ab")])])
    der = _edit(der, b"\x82\x02ab", b"\xa3\x02ab")  # dNSName -> [3] x400Address
    quote = _quote_with_leaf(der)
    with pytest.raises(QuoteParseError) as caught:
        _ = quote.pck_extension
    assert caught.value.field == "pck_extension"
    check_contract(quote.to_bytes())


# --- hex text ---------------------------------------------------------------------------

_HEXISH = st.from_regex(r"\A\s*(0[xX])?[0-9a-fA-F\s]*\Z")


@budget(300)
@given(st.one_of(st.text(), _HEXISH, st.binary()))
@example("0x")
@example("zz")
@example("\u0660\u0661")  # non-ASCII digits
@example("0")
@example(b"\xff")
def test_from_hex_arbitrary_text(text: str | bytes) -> None:
    _outcome("Quote.from_hex", lambda: Quote.from_hex(text), text)


@budget(100)
@given(tq.mutated_quotes(), st.sampled_from(["", "0x", "0X", "\n"]), st.booleans())
def test_from_hex_matches_binary_parse(data: bytes, prefix: str, spaced: bool) -> None:
    text = data.hex(" ", 16) if spaced else data.hex()
    via_hex = _outcome("Quote.from_hex", lambda: Quote.from_hex(prefix + text), data)
    direct = _outcome("parse_quote", lambda: parse_quote(data), data)
    assert isinstance(via_hex, Quote) == isinstance(direct, Quote)
    if isinstance(via_hex, Quote):
        assert via_hex == direct
