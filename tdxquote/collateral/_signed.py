"""Split a signed PCS JSON response into its exact signed body and signature."""

from __future__ import annotations

from tdxquote.errors import CollateralFormatError

from ._fields import Obj, as_bytes, load_json, parse_hex
from ._json_slice import JsonSliceError, value_span

__all__ = ["SIGNATURE_LEN", "check_signature", "load_signed_body", "split_response"]

SIGNATURE_LEN = 64


def split_response(data: bytes | str, body_key: str, *, code: str) -> tuple[bytes, bytes]:
    """Return ``(signed_body, signature)`` from ``{"<body_key>": {...}, "signature": "<hex>"}``.

    ``signed_body`` is the exact text of the ``body_key`` value as it appears
    in ``data``; ``signature`` is the 64-byte ECDSA ``r || s``.
    """
    raw = as_bytes(data, code=code, what="response")
    top = Obj(load_json(raw, code=code, what="response"), "response", code)
    top.get(body_key)
    signature_hex = top.string("signature")
    signature = parse_hex(signature_hex, SIGNATURE_LEN)
    if signature is None:
        top.fail(f"expected {2 * SIGNATURE_LEN} hex digits", "signature")
    try:
        start, end = value_span(raw, body_key)
    except JsonSliceError as exc:
        raise CollateralFormatError(f"response: {exc}", code=code) from exc
    return raw[start:end], signature


def check_signature(signature: object, *, code: str) -> bytes:
    """Validate a raw 64-byte ``r || s`` signature."""
    if not isinstance(signature, bytes) or len(signature) != SIGNATURE_LEN:
        raise CollateralFormatError(
            f"signature: expected {SIGNATURE_LEN} bytes (r || s)", code=code
        )
    return signature


def load_signed_body(body: bytes | str, path: str, *, code: str) -> tuple[bytes, Obj]:
    """Return the body as bytes and its parsed top-level object."""
    raw = as_bytes(body, code=code, what=path)
    return raw, Obj(load_json(raw, code=code, what=path), path, code)
