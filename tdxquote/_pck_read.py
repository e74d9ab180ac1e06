"""A quote's PCK chain and its leaf's SGX extension, read from DER without ``cryptography``.

``tdxquote parse`` shows the chain (names, serial numbers, validity) and the
SGX extension, ``tdxquote scan`` counts FMSPCs, and :attr:`Quote.pck_extension`
gives the extension: none of them verifies anything, so none needs
``cryptography``.  They read the certificates with the strict DER reader of
:mod:`tdxquote._x509_der` (the one verification uses) and the extension with
:mod:`tdxquote._sgx_extension` (the reader behind :mod:`tdxquote.pck`).

Every problem is a :class:`~tdxquote.errors.QuoteParseError`: ``field``
``pck_chain`` with the chain's offset in the quote for the chain and its
certificates, ``pck_extension...`` with an offset into the extension value
for the extension.  The reader is as strict as verification (names must read
exactly, a serial number must be positive): such a certificate is "not
decoded".  It does not check what ``cryptography`` also checks on load but
verification needs not (a PrintableString character outside its alphabet, a
multi-valued RDN out of DER order); such names are shown as they read.
"""

from __future__ import annotations

import binascii
from typing import TYPE_CHECKING

from ._sgx_extension import SGX_EXTENSION_OID, ExtensionFields, parse_fields
from ._x509_der import CertView, X509FormatError, parse_certificate
from .errors import QuoteParseError

if TYPE_CHECKING:
    from .pck import PckExtension

__all__ = ["read_pck_chain", "read_pck_extension", "read_pck_extension_fields", "read_pck_leaf"]

_BEGIN = b"-----BEGIN CERTIFICATE-----"
_END = b"-----END CERTIFICATE-----"
_SPACE = b" \t\n\r\f\v"  # what \s matches in a bytes pattern
_BODY = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=" + _SPACE
_SGX_EXTENSION = bytes.fromhex("2a864886f84d010d01")  # 1.2.840.113741.1.13.1, content octets


def _chain_error(reason: str, offset: int) -> QuoteParseError:
    return QuoteParseError(reason, offset=offset, field="pck_chain")


def _blocks(pem: bytes | None, offset: int) -> list[bytes]:
    """The base64 bodies of the chain's PEM blocks, in order (at least one).

    The chain must be whitespace, then one or more ``CERTIFICATE`` blocks each
    followed by whitespace, with only base64 and whitespace inside a block:
    what the regular expression ``\\s*(?:-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\\s]+
    -----END CERTIFICATE-----\\s*)+`` accepts (``Quote.pck_chain``'s rule),
    checked with ``bytes.translate`` at C speed.
    """
    if pem is None:
        raise _chain_error("the certification data is not a PEM certificate chain (type 5)", offset)
    parts = pem.split(_BEGIN)
    bodies = []
    for part in parts[1:]:
        body, end, rest = part.partition(_END)
        if not end or not body or body.translate(None, _BODY) or rest.translate(None, _SPACE):
            break
        bodies.append(body)
    else:
        if bodies and not parts[0].translate(None, _SPACE):
            return bodies
    raise _chain_error("the PCK chain holds bytes other than PEM certificate blocks", offset)


def _certificate(body: bytes, index: int, offset: int) -> CertView:
    def fail(reason: str) -> QuoteParseError:
        return _chain_error(
            f"a PCK chain certificate does not decode: certificate {index}: {reason}", offset
        )

    try:
        der = binascii.a2b_base64(body)
    except binascii.Error as exc:
        raise fail(f"bad base64: {exc}") from None
    try:
        view = parse_certificate(der)
    except X509FormatError as exc:
        raise fail(str(exc)) from None
    if view.serial <= 0:
        raise fail("a serial number is zero or negative, which RFC 5280 forbids")
    return view


def read_pck_chain(pem: bytes | None, offset: int) -> tuple[CertView, ...]:
    """Every certificate of the PEM chain ``pem`` (as quotes carry it: leaf first).

    ``pem`` is :attr:`Quote.pck_chain_pem` (``None`` when the certification
    data is not type 5); ``offset`` is where the chain starts in the quote.
    """
    return tuple(
        _certificate(body, index, offset) for index, body in enumerate(_blocks(pem, offset))
    )


def read_pck_leaf(pem: bytes | None, offset: int) -> CertView:
    """The chain's first certificate, the PCK leaf; the other blocks are checked as PEM only."""
    return _certificate(_blocks(pem, offset)[0], 0, offset)


def read_pck_extension_fields(leaf: CertView) -> ExtensionFields:
    """The values of the SGX extension of the PCK leaf (:mod:`tdxquote._sgx_extension`).

    A leaf whose extensions cannot be read or that has no SGX extension is a
    :class:`QuoteParseError` of field ``pck_extension`` at offset 0; a
    malformed extension raises as :func:`~tdxquote.pck.parse_pck_extension`.
    """
    try:
        found = leaf.extensions.get(_SGX_EXTENSION)
    except X509FormatError as exc:
        raise QuoteParseError(
            f"PCK leaf certificate: {exc}", offset=0, field="pck_extension"
        ) from None
    if found is None:
        raise QuoteParseError(
            f"certificate has no SGX extension ({SGX_EXTENSION_OID})",
            offset=0,
            field="pck_extension",
        )
    return parse_fields(found[1])


def read_pck_extension(leaf: CertView) -> PckExtension:
    """The SGX extension of the PCK leaf as a :class:`~tdxquote.pck.PckExtension`."""
    from .pck import pck_extension_of_fields

    return pck_extension_of_fields(read_pck_extension_fields(leaf))
