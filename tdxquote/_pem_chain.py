"""Decoding the PEM PCK certificate chain carried in a quote (certification data type 5).

Nothing is remembered here: a :class:`~tdxquote.Quote` keeps its decoded
chain (``quote.pck_chain``), and whoever sees many quotes of one platform
keeps what it derived from the chain (a
:class:`~tdxquote.verification.Verifier` its verified platforms, keyed by the
chain's digest).
"""

from __future__ import annotations

import re

from cryptography import x509

from .errors import QuoteParseError

__all__ = ["decode_pck_chain", "leaf_of"]

_PEM_CHAIN = re.compile(
    rb"\s*(?:-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+-----END CERTIFICATE-----\s*)+"
)


def decode_pck_chain(pem: bytes | None, offset: int) -> tuple[x509.Certificate, ...]:
    """Decode a PEM chain (a trailing NUL already removed) into certificates.

    Only certificate blocks and whitespace are allowed.  ``offset`` is where
    the chain starts in the quote, for error messages.
    """
    if pem is None:
        raise QuoteParseError(
            "the certification data is not a PEM certificate chain (type 5)",
            offset=offset,
            field="pck_chain",
        )
    if _PEM_CHAIN.fullmatch(pem) is None:
        raise QuoteParseError(
            "the PCK chain holds bytes other than PEM certificate blocks",
            offset=offset,
            field="pck_chain",
        )
    try:
        chain = tuple(x509.load_pem_x509_certificates(pem))
    except (ValueError, x509.InvalidVersion) as exc:  # InvalidVersion is not a ValueError
        raise QuoteParseError(
            f"a PCK chain certificate does not decode: {exc}", offset=offset, field="pck_chain"
        ) from None
    return chain


def leaf_of(chain: tuple[x509.Certificate, ...], offset: int) -> x509.Certificate:
    """The PCK leaf: the first certificate of the chain, as quotes carry it."""
    if not chain:
        raise QuoteParseError("the PCK chain is empty", offset=offset, field="pck_chain")
    return chain[0]
