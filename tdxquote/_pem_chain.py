"""Decoding the PEM PCK certificate chain carried in a quote (certification data type 5).

Nothing is remembered here: a :class:`~tdxquote.Quote` keeps its decoded
chain (``quote.pck_chain``), and whoever sees many quotes of one platform
keeps what it derived from the chain (a
:class:`~tdxquote.verification.Verifier` its verified platforms, keyed by the
chain's digest).

Each certificate's subject and issuer are decoded here (through
:mod:`tdxquote._x509_read`), so a chain whose names do not decode is a
:class:`~tdxquote.errors.QuoteParseError` of the quote, not a surprise for
whoever reads the names later.
"""

from __future__ import annotations

import re

from cryptography import x509

from ._x509_read import Fail, load_pem_certificates, names, quiet_name_warnings
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

    def unreadable(reason: str) -> QuoteParseError:
        return QuoteParseError(
            f"a PCK chain certificate does not decode: {reason}", offset=offset, field="pck_chain"
        )

    chain = tuple(load_pem_certificates(pem, unreadable))
    with quiet_name_warnings():
        for index, cert in enumerate(chain):
            names(cert, _name_error(offset, index))
    return chain


def leaf_of(chain: tuple[x509.Certificate, ...], offset: int) -> x509.Certificate:
    """The PCK leaf: the first certificate of the chain, as quotes carry it."""
    if not chain:
        raise QuoteParseError("the PCK chain is empty", offset=offset, field="pck_chain")
    return chain[0]


def _name_error(offset: int, index: int) -> Fail:
    def fail(reason: str) -> QuoteParseError:
        return QuoteParseError(
            f"PCK chain certificate {index}: {reason}", offset=offset, field="pck_chain"
        )

    return fail
