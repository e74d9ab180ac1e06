"""The dstack extensions of an RA-TLS certificate (arc ``1.3.6.1.4.1.62397.1``).

Each value is a DER OCTET STRING *inside* the certificate's ``extnValue``
OCTET STRING (dstack's ``add_ext`` wraps the payload once more), so it is
unwrapped twice.  The certificate's TBS is read with the strict DER reader,
which also yields the exact SubjectPublicKeyInfo bytes the key binding hashes.

| OID    | payload |
|--------|---------|
| ``.1`` | raw TDX quote (legacy, dstack <= v0.5.8) |
| ``.2`` | JSON event log (legacy) |
| ``.3`` | app id (20 bytes; an issuer claim in KMS-issued certificates) |
| ``.4`` | usage string, e.g. ``app:custom`` |
| ``.8`` | ``VersionedAttestation`` (SCALE V0 or msgpack V1) |
| ``.9`` | msgpack ``AppInfo`` (an issuer claim; decoded by ``_app_info``) |
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from .._der import (
    BOOLEAN,
    OBJECT_IDENTIFIER,
    OCTET_STRING,
    SEQUENCE,
    Tlv,
    decode_boolean,
    decode_oid,
    expect_tag,
    read_one,
    read_tlv,
    sequence_children,
    unwrap_octet_string,
)
from ..errors import QuoteParseError
from ._errors import RaTlsFormatError

__all__ = [
    "DSTACK_OID_ARC",
    "EXTENSION_NAMES",
    "OID_APP_ID",
    "OID_APP_INFO",
    "OID_ATTESTATION",
    "OID_CERT_USAGE",
    "OID_EVENT_LOG",
    "OID_TDX_QUOTE",
    "CertificateParts",
    "RaTlsExtensions",
    "certificate_parts",
    "extensions_of_parts",
    "read_extensions",
]

DSTACK_OID_ARC = "1.3.6.1.4.1.62397.1"
"""Phala's RA-TLS arc (PEN 62397)."""
OID_TDX_QUOTE = f"{DSTACK_OID_ARC}.1"
OID_EVENT_LOG = f"{DSTACK_OID_ARC}.2"
OID_APP_ID = f"{DSTACK_OID_ARC}.3"
OID_CERT_USAGE = f"{DSTACK_OID_ARC}.4"
OID_ATTESTATION = f"{DSTACK_OID_ARC}.8"
OID_APP_INFO = f"{DSTACK_OID_ARC}.9"

EXTENSION_NAMES: dict[str, str] = {
    OID_TDX_QUOTE: "tdx_quote",
    OID_EVENT_LOG: "event_log",
    OID_APP_ID: "app_id",
    OID_CERT_USAGE: "usage",
    OID_ATTESTATION: "attestation",
    OID_APP_INFO: "app_info",
}
"""The dstack extensions tdxquote reads, by OID."""

_TAG_VERSION = 0xA0
_TAG_EXTENSIONS = 0xA3
_TAG_UNIQUE_IDS = (0x81, 0x82, 0xA1, 0xA2)


@dataclass(frozen=True)
class CertificateParts:
    """The parts of a certificate's TBS tdxquote needs, as exact DER bytes."""

    der: bytes
    spki: bytes
    extensions: tuple[tuple[str, bool, bytes], ...]
    """``(oid, critical, extnValue content)`` in certificate order."""


def _fail(reason: str, field: str, offset: int = 0) -> RaTlsFormatError:
    return RaTlsFormatError(reason, offset=offset, field=field)


def certificate_parts(certificate: x509.Certificate) -> CertificateParts:
    """Read the SubjectPublicKeyInfo and every extension of ``certificate`` from its DER."""
    der = certificate.public_bytes(Encoding.DER)
    try:
        return _parts(der)
    except RaTlsFormatError:
        raise
    except QuoteParseError as exc:
        raise _fail(exc.reason, f"certificate.{exc.field}", exc.offset) from None


def _parts(der: bytes) -> CertificateParts:
    cert = read_one(der, field="certificate")
    outer = sequence_children(der, cert, field="certificate")
    if len(outer) != 3:
        raise _fail(f"a certificate has 3 elements, found {len(outer)}", "certificate")
    tbs = sequence_children(der, outer[0], field="tbs")
    index = 1 if tbs and tbs[0].tag == _TAG_VERSION else 0
    # serial, signature, issuer, validity, subject, subjectPublicKeyInfo
    if len(tbs) < index + 6:
        raise _fail("the TBS certificate is truncated", "tbs", outer[0].offset)
    spki_tlv = tbs[index + 5]
    expect_tag(spki_tlv, SEQUENCE, field="tbs.subject_public_key_info")
    spki = der[spki_tlv.offset : spki_tlv.end]
    extensions: list[tuple[str, bool, bytes]] = []
    for tlv in tbs[index + 6 :]:
        if tlv.tag in _TAG_UNIQUE_IDS:
            continue
        if tlv.tag != _TAG_EXTENSIONS:
            raise _fail(f"unexpected TBS element (tag 0x{tlv.tag:02x})", "tbs", tlv.offset)
        inner = read_tlv(der, tlv.start, tlv.end, field="tbs.extensions")
        if inner.end != tlv.end:
            raise _fail("bytes after the extensions", "tbs.extensions", inner.end)
        for ext in sequence_children(der, inner, field="tbs.extensions"):
            extensions.append(_extension(der, ext))
    return CertificateParts(der=der, spki=spki, extensions=tuple(extensions))


def _extension(data: bytes, tlv: Tlv) -> tuple[str, bool, bytes]:
    children = sequence_children(data, tlv, field="extension")
    if len(children) not in (2, 3):
        raise _fail(f"an extension has 2 or 3 elements, found {len(children)}", "extension")
    expect_tag(children[0], OBJECT_IDENTIFIER, field="extension.extnID")
    oid = decode_oid(data, children[0], field="extension.extnID")
    critical = False
    if len(children) == 3:
        expect_tag(children[1], BOOLEAN, field=f"{oid}.critical")
        critical = decode_boolean(data, children[1], field=f"{oid}.critical")
    value = children[-1]
    expect_tag(value, OCTET_STRING, field=f"{oid}.extnValue")
    return oid, critical, bytes(data[value.start : value.end])


@dataclass(frozen=True)
class RaTlsExtensions:
    """The dstack extension payloads of one certificate (unwrapped; None when absent).

    ``unknown`` lists OIDs under the dstack arc that tdxquote does not read.
    """

    tdx_quote: bytes | None = None
    event_log: bytes | None = None
    app_id: bytes | None = None
    usage: str | None = None
    attestation: bytes | None = None
    app_info: bytes | None = None
    oids: tuple[str, ...] = ()
    unknown: tuple[str, ...] = ()

    @property
    def has_attestation(self) -> bool:
        """True when the certificate carries ``.1.8``, or the legacy ``.1.1`` quote."""
        return self.attestation is not None or self.tdx_quote is not None


def read_extensions(certificate: x509.Certificate) -> RaTlsExtensions:
    """The dstack extensions of ``certificate``, each unwrapped from its inner OCTET STRING.

    Raises :class:`~tdxquote.ratls.RaTlsFormatError` when a value is not a DER
    OCTET STRING, when a dstack extension appears twice, or when the usage is
    not UTF-8.
    """
    return extensions_of_parts(certificate_parts(certificate))


def extensions_of_parts(parts: CertificateParts) -> RaTlsExtensions:
    """:func:`read_extensions` for a certificate already split by :func:`certificate_parts`."""
    values: dict[str, bytes] = {}
    oids: list[str] = []
    unknown: list[str] = []
    for oid, _critical, value in parts.extensions:
        if not oid.startswith(DSTACK_OID_ARC + "."):
            continue
        if oid in oids or oid in unknown:
            raise _fail("the extension appears twice", oid)
        if oid not in EXTENSION_NAMES:
            unknown.append(oid)
            continue
        oids.append(oid)
        try:
            values[EXTENSION_NAMES[oid]] = unwrap_octet_string(value, field=oid)
        except QuoteParseError as exc:
            raise _fail(
                f"the value is not a DER OCTET STRING: {exc.reason}", oid, exc.offset
            ) from None
    usage: str | None = None
    if "usage" in values:
        try:
            usage = values.pop("usage").decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _fail("the usage is not UTF-8", OID_CERT_USAGE, exc.start) from None
    return RaTlsExtensions(usage=usage, oids=tuple(oids), unknown=tuple(unknown), **values)
