"""Issuer chains: PEM text, or the URL-encoded form of PCS ``*-Issuer-Chain`` headers."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import unquote

from tdxquote.errors import CollateralFormatError

from ._pem import ascii_text, pem_blocks

if TYPE_CHECKING:
    from cryptography import x509

    from tdxquote._x509_read import Fail

__all__ = ["chain_pem_text", "load_chain"]

_CODE = "issuer_chain_format"


def chain_pem_text(data: bytes | str) -> str:
    """Return the PEM text of a chain given as PEM or as a URL-encoded header value.

    Text containing ``%`` is URL-decoded once with :func:`urllib.parse.unquote`
    (never ``unquote_plus``: base64 ``+`` arrives as ``%2B`` and a literal
    ``+`` must stay ``+``).  PEM text never contains ``%``.
    """
    text = ascii_text(
        data, what="issuer chain", not_ascii="issuer chain: not ASCII text", code=_CODE
    )
    if "%" in text:
        try:
            text = unquote(text, errors="strict")
        except UnicodeDecodeError as exc:
            raise CollateralFormatError(
                "issuer chain: URL-encoding decodes to invalid UTF-8", code=_CODE
            ) from exc
    return text


def load_chain(data: bytes | str) -> tuple[x509.Certificate, ...]:
    """Load the certificates of an issuer chain, in the order given.

    ``data`` is PEM text (one or more concatenated ``CERTIFICATE`` blocks,
    only whitespace around them) or a URL-encoded issuer-chain header value.
    Nothing is verified here.  Errors are
    :class:`~tdxquote.errors.CollateralFormatError` with code ``issuer_chain_format``.
    """
    from tdxquote._x509_read import load_der_certificate, quiet_name_warnings

    certificates = []
    for index, der in enumerate(pem_blocks(chain_pem_text(data), "CERTIFICATE", code=_CODE)):
        certificate = load_der_certificate(der, _malformed(index))
        try:
            with quiet_name_warnings():
                certificate.subject  # noqa: B018 - force parsing
                certificate.issuer  # noqa: B018
                certificate.extensions  # noqa: B018
                certificate.not_valid_after_utc  # noqa: B018
                certificate.public_key()
        except Exception as exc:
            # Not only ValueError: cryptography also raises KeyError and its own
            # classes on some damaged encodings.
            raise CollateralFormatError(
                f"issuer chain certificate {index}: malformed: {exc!r}", code=_CODE
            ) from exc
        certificates.append(certificate)
    return tuple(certificates)


def _malformed(index: int) -> Fail:
    def fail(reason: str) -> CollateralFormatError:
        return CollateralFormatError(
            f"issuer chain certificate {index}: malformed: {reason}", code=_CODE
        )

    return fail
