"""Structural rules of the quote header that need no ``construct``.

The schema's header :class:`~tdxquote.schema._layouts.Rule` and the fast
parser share :func:`check_header`, so both accept exactly the same headers
and say the same thing about the others.
"""

from __future__ import annotations

from typing import Any

from ._constants import ATTESTATION_KEY_TYPE_ECDSA_P256, TEE_TYPE_SGX, TEE_TYPE_TDX

__all__ = ["check_header"]


def check_header(ctx: Any) -> str | None:
    """Why a header (anything with ``version``, ``attestation_key_type``, ``tee_type``) is
    invalid, or None when it is valid."""
    version = ctx.version
    if version not in (3, 4, 5):
        return f"unsupported quote version {version} (supported: 3, 4, 5)"
    if ctx.attestation_key_type != ATTESTATION_KEY_TYPE_ECDSA_P256:
        return (
            f"unsupported attestation key type {ctx.attestation_key_type} "
            "(only 2, ECDSA-256-with-P-256, is supported)"
        )
    tee = ctx.tee_type
    if tee not in (TEE_TYPE_SGX, TEE_TYPE_TDX):
        return f"unknown TEE type 0x{tee:08x} (expected 0x00000000 SGX or 0x00000081 TDX)"
    if version == 3 and tee != TEE_TYPE_SGX:
        return f"quote version 3 is SGX only, but the TEE type is 0x{tee:08x}"
    return None
