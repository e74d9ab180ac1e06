"""The PCK chain and SGX extension read from DER without ``cryptography`` (``_pck_read``).

``tdxquote parse`` shows a quote's PCK chain (RFC 4514 names, serial numbers,
validity) and its leaf's SGX extension, ``tdxquote scan`` counts FMSPCs and
``Quote.pck_extension`` gives the extension, all with tdxquote's own DER
readers.  Held here to ``cryptography`` on every certificate of the vectors and
on generated ones, and the SGX extension's two readers (Intel's fixed encoding
compared byte for byte, and entry by entry) to each other.
"""

from __future__ import annotations

import dataclasses
import re
import warnings
from pathlib import Path

import pytest
from _helpers import budget
from _hostile_certs import with_names
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from hypothesis import assume, given
from hypothesis import strategies as st
from test_x509_verify import _vector_material

from tdxquote import _der, _sgx_extension, parse_quote
from tdxquote._json import _extension_dict, certificate_to_dict, pck_extension_to_dict
from tdxquote._pck_read import _blocks, read_pck_chain, read_pck_extension, read_pck_leaf
from tdxquote._x509_der import X509FormatError, name_rfc4514, parse_certificate
from tdxquote.errors import QuoteParseError
from tdxquote.pck import (
    PckConfiguration,
    PckExtension,
    PckTcb,
    SgxType,
    encode_pck_extension,
    parse_pck_extension,
    pck_extension_from_certificate,
)
from tdxquote.testing.pki import SyntheticPki

_PKI = SyntheticPki.create(seed=b"tests pck_read")
_DER = Encoding.DER


def _crypto_text(name: x509.Name) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # a country of 3 letters, a long CN
        return name.rfc4514_string()


def _crypto_names(cert: x509.Certificate) -> tuple[str, str] | None:
    """cryptography's RFC 4514 subject and issuer, or None when it cannot read them."""
    try:
        return _crypto_text(cert.subject), _crypto_text(cert.issuer)
    except (ValueError, TypeError, KeyError):
        return None


# --- names and certificates against cryptography ------------------------------------------


def test_every_vector_certificate_reads_as_cryptography_shows_it(vectors: Path) -> None:
    certs, _ = _vector_material(vectors)
    compared = 0
    for der in certs:
        try:
            cert = x509.load_der_x509_certificate(der)
        except ValueError:
            continue  # a deliberately damaged real-world certificate
        expected = _crypto_names(cert)
        try:
            view = parse_certificate(der)
        except X509FormatError:
            assert expected is None  # refused only where cryptography cannot read the names
            continue
        assert expected is not None
        assert (name_rfc4514(view.subject), name_rfc4514(view.issuer)) == expected
        # The whole summary: what tdxquote parse prints, from DER and from cryptography.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            assert certificate_to_dict(view) == certificate_to_dict(cert)
        compared += 1
    assert compared > 20


_NAME_TYPES = [
    "2.5.4.3",  # CN
    "2.5.4.10",  # O
    "2.5.4.11",  # OU
    "2.5.4.7",  # L
    "2.5.4.8",  # ST
    "2.5.4.6",  # C
    "2.5.4.9",  # STREET
    "0.9.2342.19200300.100.1.25",  # DC
    "0.9.2342.19200300.100.1.1",  # UID
    "2.5.4.5",  # serialNumber: shown as its dotted OID
    "1.2.840.113549.1.9.1",  # emailAddress: likewise
]
_OIDS = st.sampled_from(_NAME_TYPES) | st.tuples(
    st.integers(0, 2), st.integers(0, 39), st.lists(st.integers(0, 1 << 40), max_size=4)
).map(lambda t: ".".join(map(str, (t[0], t[1], *t[2]))))
# The characters RFC 4514 escapes, spaces, a NUL, and some far from ASCII.
_TEXT = st.text(
    alphabet=st.sampled_from([*',+"\\<>;#= \x00aZ09-.', "é", "中", "\U0001f600"]),
    max_size=12,
)
_CODECS = {
    0x0C: "utf-8",
    0x13: "ascii",
    0x16: "ascii",
    0x14: "ascii",
    0x1A: "ascii",
    0x12: "ascii",
    0x1E: "utf-16-be",
    0x1C: "utf-32-be",
}


# What ASN.1 allows in its restricted string types (cryptography refuses the rest on load).
_PRINTABLE = "ABCXYZabcxyz0189 '()+,-./:=?"
_ALPHABETS = {0x13: _PRINTABLE, 0x12: "0123456789 ", 0x1A: _PRINTABLE + '"#;<>\\'}


@st.composite
def _attribute(draw: st.DrawFn) -> bytes:
    oid = draw(_OIDS)
    tag = draw(st.sampled_from([*_CODECS, 0x03, 0x02]))
    if tag in _ALPHABETS and draw(st.booleans()):
        text = draw(st.text(alphabet=_ALPHABETS[tag], max_size=12))
        value = text.encode("ascii")
    elif tag in _CODECS:
        text = draw(_TEXT)
        try:
            value = text.encode(_CODECS[tag])
        except UnicodeEncodeError:
            value = text.encode("utf-8")  # high bytes in an ASCII string type: refused
    else:
        value = draw(st.binary(max_size=4))
    return _der.encode_sequence(_der.encode_oid(oid), _der.encode_tlv(tag, value))


def _rdn(attributes: list[bytes]) -> bytes:
    # DER orders a SET OF by its encodings (cryptography refuses a certificate otherwise).
    width = max(map(len, attributes))
    ordered = sorted(attributes, key=lambda attribute: attribute.ljust(width, b"\x00"))
    return _der.encode_tlv(_der.SET, b"".join(ordered))


_NAMES = st.lists(st.lists(_attribute(), min_size=1, max_size=3).map(_rdn), max_size=5).map(
    lambda rdns: _der.encode_sequence(*rdns)
)


@budget(150)
@given(_NAMES)
def test_generated_names_read_as_cryptography_shows_them(name: bytes) -> None:
    root = _PKI.root
    try:
        cert = with_names(root.cert, root.key, subject=name)
    except ValueError:  # cryptography refuses to load it (a character outside a string type)
        return
    der = cert.public_bytes(encoding=_DER)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        expected = _crypto_names(cert)
    try:
        view = parse_certificate(der)
    except X509FormatError:
        return  # a name tdxquote cannot read exactly: "not decoded" in the summary
    # What tdxquote reads, cryptography reads the same way.
    assert expected is not None
    assert name_rfc4514(view.subject) == expected[0]


# A common name is at most 64 bytes of UTF-8 (X.520 ub-common-name, which cryptography
# enforces): found by the fuzz profile, "SGX Root CA " and 20 four-byte characters are not.
_ROOT_CNS = (
    st.text(min_size=1, max_size=20)
    .map(lambda t: "SGX Root CA " + t)
    .filter(lambda cn: len(cn.encode("utf-8", "surrogatepass")) <= 64)
)


@budget(10)
@given(
    organization=st.text(min_size=1, max_size=20).filter(lambda t: "\x00" not in t),
    root_cn=_ROOT_CNS,
)
def test_synthetic_pki_certificates_read_as_cryptography_shows_them(
    organization: str, root_cn: str
) -> None:
    pki = SyntheticPki.create(seed=b"names", organization=organization, root_cn=root_cn)
    for certified in (pki.root, pki.intermediate, pki.tcb_signing, pki.issue_pck()):
        expected = _crypto_names(certified.cert)
        assume(expected is not None)
        view = parse_certificate(certified.der)
        assert (name_rfc4514(view.subject), name_rfc4514(view.issuer)) == expected


def test_regression_a_root_common_name_over_64_bytes_is_refused_when_made() -> None:
    # The fuzz profile's falsifying example: 31 characters, 65 bytes of UTF-8.
    root_cn = "SGX Root CA 000" + "\x80" * 7 + "\U00010000" * 9
    with pytest.raises(ValueError, match=r"root_cn / organization: .*<= 64"):
        SyntheticPki.create(seed=b"names", organization="0", root_cn=root_cn)
    pki = SyntheticPki.create(seed=b"names", organization="0", root_cn=root_cn[:-1])
    assert name_rfc4514(parse_certificate(pki.root.der).subject).endswith(root_cn[:-1])


def test_names_that_do_not_read_exactly_raise_x509_format_error() -> None:
    bit_string = _der.encode_sequence(
        _der.encode_tlv(
            _der.SET,
            _der.encode_sequence(_der.encode_oid("2.5.4.3"), _der.encode_tlv(0x03, b"\x00A")),
        )
    )
    with pytest.raises(X509FormatError, match="not a string"):
        name_rfc4514(bit_string)
    with pytest.raises(X509FormatError):
        name_rfc4514(b"\x30\x03\x31\x01")  # truncated
    assert name_rfc4514(_der.encode_sequence()) == ""  # the empty name


# --- the PEM chain ---------------------------------------------------------------------------

_PEM_RULE = re.compile(
    rb"\s*(?:-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+-----END CERTIFICATE-----\s*)+"
)
_PEM_PIECES = [
    b"-----BEGIN CERTIFICATE-----",
    b"-----END CERTIFICATE-----",
    b"-----BEGIN X-----",
    b"QUJD",
    b"=",
    b"\n",
    b" ",
    b"\x0b",
    b"\x0c",
    b"-",
    b"x-",
    b"\x00",
    b"\xff",
]


@budget(1000)
@given(st.lists(st.sampled_from(_PEM_PIECES), max_size=12))
def test_pem_blocks_follow_the_chain_rule(pieces: list[bytes]) -> None:
    pem = b"".join(pieces)
    if _PEM_RULE.fullmatch(pem) is None:
        with pytest.raises(QuoteParseError) as caught:
            _blocks(pem, 0)
        assert (caught.value.field, caught.value.offset) == ("pck_chain", 0)
    else:
        bodies = _blocks(pem, 0)
        assert bodies == re.findall(
            rb"-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+)-----END CERTIFICATE-----", pem
        )


def _type5_quotes(vectors: Path) -> list[Path]:
    found = []
    for path in sorted(vectors.rglob("*")):
        if not path.is_file() or path.stat().st_size > 1 << 16:
            continue
        try:
            quote = parse_quote(path.read_bytes())
        except QuoteParseError:
            continue
        if quote.pck_chain_pem is not None:
            found.append(path)
    return found


def test_quote_pck_extension_is_the_one_cryptography_reads(vectors: Path) -> None:
    compared = 0
    for path in _type5_quotes(vectors):
        quote = parse_quote(path.read_bytes())
        try:
            expected = pck_extension_from_certificate(quote.pck_chain[0])
        except QuoteParseError:
            continue  # a chain cryptography cannot decode
        assert quote.pck_extension == expected, path
        views = read_pck_chain(quote.pck_chain_pem, 0)
        assert [v.der for v in views] == [c.public_bytes(encoding=_DER) for c in quote.pck_chain]
        compared += 1
    assert compared >= 5


def test_summary_never_raises_on_hostile_chains() -> None:
    from tdxquote._json import pck_to_dict
    from tdxquote.testing.forge import QuoteForge

    forge = QuoteForge.create(seed=b"tests pck_read hostile")
    good = forge.quote().to_bytes()
    pem = parse_quote(good).pck_chain_pem
    assert pem is not None
    at = good.index(pem)
    for index in range(0, len(pem), 97):  # a wrong base64 character in every part
        for byte in (b"*", b"A", b"="):
            damaged = good[: at + index] + byte + good[at + index + 1 :]
            fields = pck_to_dict(parse_quote(damaged))
            assert (fields["pck_error"] is None) == (fields["pck_extension"] is not None)
            if fields["pck_error"] is not None:
                assert fields["pck_error"]["field"].startswith(("pck_chain", "pck_extension"))


def test_a_leaf_without_a_positive_serial_is_not_decoded() -> None:
    leaf = _PKI.issue_pck()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cryptography warns about the serial as it loads it
        negative = with_names(leaf.cert, _PKI.intermediate.key, serial=-5)
    block = b"-----BEGIN CERTIFICATE-----\n" + _b64(negative.public_bytes(_DER)) + b"\n"
    pem = block + b"-----END CERTIFICATE-----\n"
    with pytest.raises(QuoteParseError, match="zero or negative") as caught:
        read_pck_leaf(pem, 77)
    assert (caught.value.field, caught.value.offset) == ("pck_chain", 77)


def _b64(der: bytes) -> bytes:
    import base64

    return base64.encodebytes(der).strip()


# --- the SGX extension: two readers, one answer -------------------------------------------

_EXTENSIONS = st.builds(
    PckExtension,
    ppid=st.binary(min_size=16, max_size=16),
    tcb=st.builds(
        PckTcb,
        sgx_components=st.tuples(*[st.integers(0, 127) | st.integers(0, 255)] * 16),
        pce_svn=st.integers(0, 127) | st.integers(0, 65535),
        cpu_svn=st.binary(min_size=16, max_size=16),
    ),
    pce_id=st.binary(min_size=2, max_size=2),
    fmspc=st.binary(min_size=6, max_size=6),
    sgx_type=st.sampled_from(SgxType),
    platform_instance_id=st.binary(min_size=16, max_size=16),
    configuration=st.builds(
        PckConfiguration,
        dynamic_platform=st.booleans() | st.none(),
        cached_keys=st.booleans() | st.none(),
        smt_enabled=st.booleans() | st.none(),
    ),
).flatmap(
    lambda ext: st.sampled_from(
        [ext, dataclasses.replace(ext, platform_instance_id=None, configuration=None)]
    )
)


def _intel_form(ext: PckExtension) -> bool:
    """Whether Intel's own encoding of ``ext`` is the fixed one the fast reader compares."""
    config = ext.configuration
    flags = (
        () if config is None else (config.dynamic_platform, config.cached_keys, config.smt_enabled)
    )
    return max(ext.tcb.sgx_components) < 128 and ext.tcb.pce_svn < 128 and None not in flags


@budget(300)
@given(_EXTENSIONS)
def test_both_readers_give_the_same_extension(ext: PckExtension) -> None:
    raw = encode_pck_extension(ext)
    fast = _sgx_extension._parse_intel_encoding(raw)
    slow = _sgx_extension._parse_any_encoding(raw)
    assert slow == fast or fast is None
    # The fast reader takes every extension in Intel's fixed form, and only those.
    assert (fast is not None) == _intel_form(ext)
    assert parse_pck_extension(raw) == ext
    assert _extension_dict(slow) == pck_extension_to_dict(ext)


@budget(500)
@given(_EXTENSIONS, st.data())
def test_damaged_extensions_read_the_same_either_way(
    ext: PckExtension, data: st.DataObject
) -> None:
    raw = bytearray(encode_pck_extension(ext))
    for _ in range(data.draw(st.integers(1, 3))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    fast = _sgx_extension._parse_intel_encoding(bytes(raw))
    try:
        slow = _sgx_extension._parse_any_encoding(bytes(raw))
    except QuoteParseError:
        assert fast is None  # the fast reader never accepts what the other refuses
        return
    assert fast is None or fast == slow


def test_sgx_type_names_are_the_enums() -> None:
    assert tuple(member.name for member in SgxType) == _sgx_extension.SGX_TYPE_NAMES


def test_read_pck_extension_of_a_vector_leaf(vectors: Path) -> None:
    quote = parse_quote((vectors / "dcap-qvl/tdx_quote").read_bytes())
    leaf = read_pck_leaf(quote.pck_chain_pem, 0)
    assert read_pck_extension(leaf) == quote.pck_extension
    assert (
        read_pck_extension(leaf).fmspc == pck_extension_from_certificate(quote.pck_chain[0]).fmspc
    )
