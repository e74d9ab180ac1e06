"""ECDSA P-256 checks over exact bytes, and the DER views they check.

The certificates and CRLs themselves are read by :mod:`tdxquote._x509_der`
(re-exported here, where the verification code has always found them);
this module adds the ``cryptography`` part: P-256 public keys from their
points and ECDSA-SHA256 signature checks, DER or Intel's raw ``r || s``.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from ._x509_der import (
    AUTHORITY_KEY_IDENTIFIER,
    BASIC_CONSTRAINTS,
    CRL_NUMBER,
    KEY_USAGE,
    CertView,
    CrlView,
    X509FormatError,
    describe_name,
    name_common_name,
    name_rfc4514,
    parse_certificate,
    parse_crl,
)

__all__ = [
    "AUTHORITY_KEY_IDENTIFIER",
    "BASIC_CONSTRAINTS",
    "CRL_NUMBER",
    "KEY_USAGE",
    "CertView",
    "CrlView",
    "X509FormatError",
    "describe_name",
    "name_common_name",
    "name_rfc4514",
    "p256_key",
    "p256_key_from_xy",
    "parse_certificate",
    "parse_crl",
    "raw_signature_to_der",
    "verify_der_signature",
    "verify_raw_signature",
]

_TWO_32_OCTET_INTEGERS = b"\x30\x44\x02\x20"  # SEQUENCE of 68 octets, INTEGER of 32
_INTEGER_32 = b"\x02\x20"
_P256 = ec.SECP256R1()
_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())


def p256_key(point: bytes) -> ec.EllipticCurvePublicKey:
    """A P-256 public key from its 65-byte uncompressed point; ValueError if not on the curve."""
    return ec.EllipticCurvePublicKey.from_encoded_point(_P256, point)


def p256_key_from_xy(xy: bytes) -> ec.EllipticCurvePublicKey:
    """A P-256 public key from raw ``X || Y`` (64 bytes, as quotes carry it)."""
    if len(xy) != 64:
        raise ValueError(f"a P-256 key is 64 bytes of X || Y, got {len(xy)}")
    return p256_key(b"\x04" + xy)


def verify_der_signature(key: ec.EllipticCurvePublicKey, signature: bytes, data: bytes) -> bool:
    """True when the DER ECDSA-SHA256 ``signature`` over ``data`` verifies with ``key``."""
    try:
        key.verify(signature, data, _ECDSA_SHA256)
    except InvalidSignature:
        return False
    return True


def _der_integer(value: bytes) -> bytes:
    """A positive big-endian integer as a DER INTEGER (at most 33 content octets here)."""
    value = value.lstrip(b"\x00")
    if value[0] & 0x80:
        value = b"\x00" + value
    return b"\x02" + bytes((len(value),)) + value


def raw_signature_to_der(signature: bytes) -> bytes | None:
    """Intel's raw ``r || s`` (64 bytes) as a DER ECDSA-Sig-Value; None if r or s is zero."""
    if len(signature) != 64:
        return None
    r, s = signature[:32], signature[32:]
    if 0 < r[0] < 0x80 and 0 < s[0] < 0x80:  # most signatures: two 32-octet INTEGERs
        return b"".join((_TWO_32_OCTET_INTEGERS, r, _INTEGER_32, s))
    if not r.strip(b"\x00") or not s.strip(b"\x00"):
        return None
    body = _der_integer(r) + _der_integer(s)
    return b"\x30" + bytes((len(body),)) + body


def verify_raw_signature(key: ec.EllipticCurvePublicKey, signature: bytes, data: bytes) -> bool:
    """True when the raw ``r || s`` (64 bytes) ECDSA-SHA256 signature verifies with ``key``."""
    der = raw_signature_to_der(signature)
    return der is not None and verify_der_signature(key, der, data)
