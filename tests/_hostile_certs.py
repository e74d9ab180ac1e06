"""Certificates with names ``cryptography`` loads but cannot decode, made by DER surgery.

``cryptography`` parses a certificate's structure when it loads it, but turns
the subject and issuer into Python objects only when they are read: a name
whose attribute value is not valid for its string type, or whose type is not
a string at all, loads fine and raises later (``ValueError``, ``TypeError``,
``KeyError``); a country name of the wrong length decodes with a
``UserWarning``; so does loading one whose serial number is not positive.
:func:`with_names` rebuilds a certificate's TBS with such a
name and signs it again with the issuer's key, so the certificate still
verifies where only its names are the problem.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tdxquote import _der

__all__ = ["BROKEN_NAMES", "WARNING_NAMES", "hostile_name", "with_names"]

_CN = "2.5.4.3"
_COUNTRY = "2.5.4.6"
_ORGANIZATION = "2.5.4.10"
_UTF8_STRING = 0x0C
_PRINTABLE_STRING = 0x13
_T61_STRING = 0x14
_IA5_STRING = 0x16
_BIT_STRING = 0x03
_SET = 0x31


def _attribute(oid: str, tag: int, value: bytes) -> bytes:
    return _der.encode_sequence(_der.encode_oid(oid), _der.encode_tlv(tag, value))


def _rdn(*attributes: bytes) -> bytes:
    return _der.encode_tlv(_SET, b"".join(attributes))


def _name(*rdns: bytes) -> bytes:
    return _der.encode_sequence(*rdns)


_ORG = _rdn(_attribute(_ORGANIZATION, _UTF8_STRING, b"tdxquote hostile"))

BROKEN_NAMES: dict[str, bytes] = {
    # Each loads, and raises when the name is read.
    "utf8_invalid": _name(
        _rdn(_attribute(_CN, _UTF8_STRING, b"SGX PCK \xff\xfe Certificate")), _ORG
    ),
    "t61_high_bytes": _name(_rdn(_attribute(_CN, _T61_STRING, b"SGX PCK \xff Certificate")), _ORG),
    "ia5_high_bytes": _name(_rdn(_attribute(_CN, _IA5_STRING, b"SGX PCK \xe9 Certificate")), _ORG),
    "bit_string": _name(_rdn(_attribute(_CN, _BIT_STRING, b"\x00SGX PCK Certificate")), _ORG),
    "integer_value": _name(_rdn(_attribute(_CN, _der.INTEGER, b"\x01")), _ORG),
    "null_value": _name(_rdn(_attribute(_CN, _der.NULL, b"")), _ORG),
    "empty_rdn": _name(_der.encode_tlv(_SET, b""), _ORG),
    "duplicate_attribute": _name(
        _rdn(
            _attribute(_CN, _UTF8_STRING, b"SGX PCK Certificate"),
            _attribute(_CN, _UTF8_STRING, b"SGX PCK Certificate"),
        ),
        _ORG,
    ),
}
"""Names that load and fail when read, by what is wrong with them."""

WARNING_NAMES: dict[str, bytes] = {
    # Decode, with cryptography's UserWarning "Attribute's length must be >= 2 and <= 2" (a
    # country) or ">= 1 and <= 64" (a common name).
    "country_too_long": _name(
        _rdn(_attribute(_CN, _UTF8_STRING, b"SGX PCK Certificate")),
        _rdn(_attribute(_COUNTRY, _PRINTABLE_STRING, b"USA")),
    ),
    "common_name_too_long": _name(
        _rdn(_attribute(_CN, _UTF8_STRING, b"SGX PCK Certificate " + b"x" * 60)),
        _ORG,
    ),
}
"""Names that decode, but only with a ``UserWarning`` from ``cryptography``."""


def hostile_name(kind: str) -> bytes:
    """The DER of the hostile name ``kind`` (a key of either table)."""
    return BROKEN_NAMES.get(kind) or WARNING_NAMES[kind]


def with_names(
    cert: x509.Certificate,
    signer: ec.EllipticCurvePrivateKey,
    *,
    subject: bytes | None = None,
    issuer: bytes | None = None,
    serial: int | None = None,
) -> x509.Certificate:
    """``cert`` with its subject and/or issuer replaced by DER names, signed by ``signer``.

    ``serial`` replaces the serial number (negative or zero ones included).
    ``ValueError`` when ``cryptography`` refuses to load the result.
    """
    der = with_names_der(cert, signer, subject=subject, issuer=issuer, serial=serial)
    return x509.load_der_x509_certificate(der)


def with_names_der(
    cert: x509.Certificate,
    signer: ec.EllipticCurvePrivateKey,
    *,
    subject: bytes | None = None,
    issuer: bytes | None = None,
    serial: int | None = None,
) -> bytes:
    """:func:`with_names`, as DER bytes that nothing has loaded."""
    der = cert.public_bytes(serialization.Encoding.DER)
    outer = _der.sequence_children(der, _der.read_one(der))
    tbs_tlv = outer[0]
    children = _der.sequence_children(der, tbs_tlv)
    parts = [der[c.offset : c.end] for c in children]
    first = 1 if children[0].tag == 0xA0 else 0
    # version?, serial, signature, issuer, validity, subject, ...
    if issuer is not None:
        parts[first + 2] = issuer
    if subject is not None:
        parts[first + 4] = subject
    if serial is not None:
        parts[first] = _der.encode_integer(serial)
    tbs = _der.encode_sequence(*parts)
    algorithm = der[outer[1].offset : outer[1].end]
    signature = signer.sign(tbs, ec.ECDSA(hashes.SHA256()))
    return _der.encode_sequence(tbs, algorithm, _der.encode_tlv(_BIT_STRING, b"\x00" + signature))
