"""Reading certificates: PEM or DER, one certificate or a chain, leaf first.

dstack issues ``[leaf, app CA, KMS root]`` (or the simulator's ``[leaf, CA]``);
a TeeSQL server may present a self-signed leaf.  Trust in an RA-TLS
certificate comes from its attestation and key binding, never from the
chain, so the chain is read and described but not required to verify.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeAlias

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm

from .._der import SEQUENCE, read_tlv
from .._x509_read import (
    Fail,
    load_der_certificate,
    load_pem_certificates,
    names,
    quiet_name_warnings,
)
from ..errors import QuoteParseError
from ._errors import RaTlsFormatError

__all__ = ["CertificateInput", "chain_links_verify", "load_chain"]

CertificateInput: TypeAlias = (
    bytes
    | bytearray
    | memoryview
    | str
    | x509.Certificate
    | Sequence[bytes | bytearray | memoryview | str | x509.Certificate]
)
"""What the RA-TLS functions accept: PEM text/bytes (one or more certificates),
DER bytes (one certificate, or several concatenated), a ``cryptography``
certificate, or a sequence of those (e.g. the DER list a TLS peer sent), leaf
first."""

_PEM_MARK = b"-----BEGIN"
_MAX_CHAIN = 16


def _fail(reason: str, field: str, offset: int = 0) -> RaTlsFormatError:
    return RaTlsFormatError(reason, offset=offset, field=field)


def _load_der(data: bytes, field: str) -> x509.Certificate:
    return load_der_certificate(
        data, lambda reason: _fail(f"not a DER X.509 certificate: {reason}", field)
    )


def _from_der(data: bytes, field: str) -> list[x509.Certificate]:
    certs: list[x509.Certificate] = []
    offset = 0
    while offset < len(data):
        try:
            tlv = read_tlv(data, offset, field=field)
        except QuoteParseError as exc:
            raise _fail(f"not a DER certificate: {exc.reason}", field, exc.offset) from None
        certs.append(_load_der(data[offset : tlv.end], f"{field}[{len(certs)}]"))
        offset = tlv.end
    return certs


def _from_bytes(data: bytes, field: str) -> list[x509.Certificate]:
    # DER first: a DER certificate may contain PEM text (the quote's PCK chain), so bytes
    # whose first element is well-formed DER are DER, whatever else they hold; a certificate
    # in them that does not load is an error, not a reason to pick the PCK chain out as PEM.
    if data[:1] == bytes((SEQUENCE,)):
        try:
            read_tlv(data, 0, field=field)
        except QuoteParseError:
            if _PEM_MARK not in data:
                return _from_der(data, field)
        else:
            return _from_der(data, field)
    if _PEM_MARK in data:
        return load_pem_certificates(
            data, lambda reason: _fail(f"not PEM X.509 certificates: {reason}", field)
        )
    if not data:
        raise _fail("no certificate (empty input)", field)
    raise _fail(f"neither PEM nor DER (first byte 0x{data[0]:02x})", field)


def load_chain(source: CertificateInput) -> tuple[x509.Certificate, ...]:
    """The certificates in ``source``, leaf first.

    Raises :class:`~tdxquote.ratls.RaTlsFormatError` for input that holds no
    certificate or anything that is not one, and for a certificate whose
    subject or issuer does not decode (field ``certificate[N]``, N counting
    from the leaf).
    """
    if isinstance(source, x509.Certificate):
        return (source,)
    if isinstance(source, str):
        source = source.encode("utf-8")
    certs: list[x509.Certificate] = []
    if isinstance(source, (bytes, bytearray, memoryview)):
        certs = _from_bytes(bytes(source), "certificate")
    else:
        for index, item in enumerate(source):
            field = f"certificate[{index}]"
            if isinstance(item, x509.Certificate):
                certs.append(item)
            elif isinstance(item, str):
                certs.extend(_from_bytes(item.encode("utf-8"), field))
            elif isinstance(item, (bytes, bytearray, memoryview)):
                certs.extend(_from_bytes(bytes(item), field))
            else:
                raise TypeError(f"{field}: expected bytes, str or a certificate, not {item!r}")
    if not certs:
        raise _fail("no certificate", "certificate")
    if len(certs) > _MAX_CHAIN:
        raise _fail(f"{len(certs)} certificates: more than {_MAX_CHAIN}", "certificate")
    with quiet_name_warnings():
        for index, cert in enumerate(certs):
            names(cert, _name_error(index))
    return tuple(certs)


def _name_error(index: int) -> Fail:
    def fail(reason: str) -> RaTlsFormatError:
        return _fail(reason, f"certificate[{index}]")

    return fail


def chain_links_verify(chain: Sequence[x509.Certificate]) -> bool:
    """True when each certificate is signed by the next and the last by itself.

    Informational only: an RA-TLS verdict never depends on it.
    """
    for cert, issuer in zip(chain, [*chain[1:], chain[-1]], strict=True):
        try:
            cert.verify_directly_issued_by(issuer)
        except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
            return False
    return True
