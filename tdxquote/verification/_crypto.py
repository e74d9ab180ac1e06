"""ECDSA P-256 helpers for Intel's raw ``r || s`` signatures and ``X || Y`` keys."""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from ._memo import VerifiedCache, digest

__all__ = ["p256_key_from_xy", "p256_key_memo", "verify_p256"]

_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())
_P256 = ec.SECP256R1()


def p256_key_from_xy(xy: bytes) -> ec.EllipticCurvePublicKey:
    """A P-256 public key from raw ``X || Y`` (64 bytes); ValueError if not on the curve."""
    if len(xy) != 64:
        raise ValueError(f"a P-256 key is 64 bytes of X || Y, got {len(xy)}")
    return ec.EllipticCurvePublicKey.from_encoded_point(_P256, b"\x04" + xy)


def p256_key_memo(xy: bytes, cache: VerifiedCache) -> ec.EllipticCurvePublicKey:
    """:func:`p256_key_from_xy`, loaded once per key (remembered by the digest of ``xy``)."""
    return cache.get_or_compute(("p256_key", digest(xy)), lambda: p256_key_from_xy(xy))


def verify_p256(key: object, signature: bytes, data: bytes) -> bool:
    """True when the raw ``r || s`` signature over ``data`` verifies with ``key``."""
    if len(signature) != 64 or not isinstance(key, ec.EllipticCurvePublicKey):
        return False
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:], "big")
    if r == 0 or s == 0:
        return False
    try:
        key.verify(encode_dss_signature(r, s), data, _ECDSA_SHA256)
    except InvalidSignature:
        return False
    return True
