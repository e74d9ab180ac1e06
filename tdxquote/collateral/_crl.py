"""Certificate revocation lists in the forms Intel PCS and PCCS serve them."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from tdxquote.errors import CollateralFormatError

from ._pem import ascii_text, pem_blocks

if TYPE_CHECKING:
    from cryptography import x509

__all__ = ["crl_der", "load_crl"]

_CODE = "crl_format"
_HEX = re.compile(r"(?:[0-9A-Fa-f]{2})+")
_DER_SEQUENCE = 0x30


def crl_der(data: bytes | str) -> bytes:
    """Return the DER bytes of a CRL given as DER, PEM, or hex text of DER.

    Detection: bytes starting with ``0x30`` (an ASN.1 SEQUENCE) are DER;
    otherwise the input must be ASCII text, either one ``X509 CRL`` PEM block
    or hex digits (PCCS serves the Root CA CRL as hex), with optional
    surrounding whitespace.
    """
    if isinstance(data, bytes) and data[:1] == bytes([_DER_SEQUENCE]):
        return data
    text = ascii_text(data, what="CRL", not_ascii="CRL: neither DER, PEM nor hex", code=_CODE)
    stripped = text.strip(" \t\r\n")
    if stripped.startswith("-----BEGIN"):
        blocks = pem_blocks(text, "X509 CRL", code=_CODE)
        if len(blocks) != 1:
            raise CollateralFormatError(
                f"CRL: expected one PEM block, got {len(blocks)}", code=_CODE
            )
        return blocks[0]
    if _HEX.fullmatch(stripped):
        return bytes.fromhex(stripped)
    raise CollateralFormatError("CRL: neither DER, PEM nor hex", code=_CODE)


def load_crl(data: bytes | str) -> x509.CertificateRevocationList:
    """Load a CRL from DER, PEM, or the hex text of DER (see :func:`crl_der`).

    The CRL's structure, extensions and revoked entries are read eagerly so
    that malformed input fails here; its signature is not checked.  A CRL
    without ``nextUpdate`` is rejected (Intel's are always dated).  Errors
    are :class:`~tdxquote.errors.CollateralFormatError` with code ``crl_format``.
    """
    from cryptography import x509

    from tdxquote._x509_read import quiet_name_warnings

    der = crl_der(data)
    try:
        crl = x509.load_der_x509_crl(der)
        with quiet_name_warnings():
            crl.issuer  # noqa: B018 - force parsing
        crl.last_update_utc  # noqa: B018
        crl.extensions  # noqa: B018
        for revoked in crl:
            revoked.serial_number  # noqa: B018
            revoked.revocation_date_utc  # noqa: B018
            revoked.extensions  # noqa: B018
        next_update = crl.next_update_utc
    except Exception as exc:
        # cryptography raises ValueError mostly, but also KeyError, TypeError and
        # its own classes on some damaged encodings; all mean "malformed".
        raise CollateralFormatError(f"CRL: malformed DER: {exc!r}", code=_CODE) from exc
    if next_update is None:
        raise CollateralFormatError("CRL: no nextUpdate", code=_CODE)
    return crl
