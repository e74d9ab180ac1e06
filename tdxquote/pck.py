"""The SGX extension of Intel PCK leaf certificates (OID 1.2.840.113741.1.13.1).

A PCK certificate names the platform it was issued to: its FMSPC, PCE-ID,
the SGX TCB (16 component SVNs, PCESVN, CPUSVN) it was issued for, the SGX
type and, for certificates issued by the Intel SGX PCK Platform CA, the
platform instance id and configuration.  :func:`parse_pck_extension` reads the
raw extension value as strictly as Intel's QVL does::

    ext = pck_extension_from_certificate(leaf)
    ext.fmspc_hex          # "50806F000000", as the PCS API wants it
    ext.sgx_components     # (3, 3, 2, 2, 2, 1, 0, 2, 0, ...), for TCB level matching

The extension value is ``SEQUENCE OF SEQUENCE { OBJECT IDENTIFIER, value }``
with exactly 5 entries (Processor CA) or 7 entries (Platform CA), in any
order, each OID at most once.  Every malformation raises
:class:`~tdxquote.errors.QuoteParseError` whose ``offset`` is an offset into
the extension value and whose ``field`` names the entry
(``pck_extension.tcb.pcesvn``, ``pck_extension.fmspc``, ...).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from tdxquote import _der
from tdxquote._der import Buffer
from tdxquote._sgx_extension import (  # noqa: F401  (the sizes, as this module always had them)
    CPU_SVN_SIZE,
    FMSPC_SIZE,
    PCE_ID_SIZE,
    PLATFORM_INSTANCE_ID_SIZE,
    PPID_SIZE,
    SGX_EXTENSION_OID,
    ExtensionFields,
    parse_fields,
)
from tdxquote.errors import QuoteParseError

if TYPE_CHECKING:
    from cryptography import x509

__all__ = [
    "SGX_EXTENSION_OID",
    "PckConfiguration",
    "PckExtension",
    "PckTcb",
    "SgxType",
    "encode_pck_extension",
    "parse_pck_extension",
    "pck_extension_from_certificate",
]

SGX_TCB_COMPONENTS = 16

_FIELD = "pck_extension"


class SgxType(enum.IntEnum):
    """SGX type of the platform (extension entry ``.5``)."""

    STANDARD = 0
    SCALABLE = 1
    SCALABLE_WITH_INTEGRITY = 2


@dataclass(frozen=True, slots=True)
class PckTcb:
    """The TCB the PCK certificate was issued for (extension entry ``.2``).

    ``sgx_components`` are SGX TCB COMP01..16 SVN (entries ``.2.1``-``.2.16``),
    the values TCB level matching compares; they are not taken from the
    ``cpu_svn`` bytes.
    """

    sgx_components: tuple[int, ...]
    pce_svn: int
    cpu_svn: bytes


@dataclass(frozen=True, slots=True)
class PckConfiguration:
    """Platform configuration (entry ``.7``, Platform CA only).

    Each flag is ``None`` when the certificate omits it (all are optional).
    """

    dynamic_platform: bool | None = None
    cached_keys: bool | None = None
    smt_enabled: bool | None = None


@dataclass(frozen=True, slots=True)
class PckExtension:
    """The parsed SGX extension of a PCK leaf certificate.

    ``platform_instance_id`` and ``configuration`` are present only in
    certificates issued by the Intel SGX PCK Platform CA.
    """

    ppid: bytes
    tcb: PckTcb
    pce_id: bytes
    fmspc: bytes
    sgx_type: SgxType
    platform_instance_id: bytes | None = None
    configuration: PckConfiguration | None = None

    @property
    def ca_type(self) -> Literal["platform", "processor"]:
        """``"platform"`` for the 7-entry Platform-CA form, else ``"processor"``."""
        return "platform" if self.platform_instance_id is not None else "processor"

    @property
    def fmspc_hex(self) -> str:
        """FMSPC as 12 upper-case hex digits, the form Intel PCS expects."""
        return self.fmspc.hex().upper()

    @property
    def pce_svn(self) -> int:
        """PCESVN the certificate was issued for (``tcb.pce_svn``)."""
        return self.tcb.pce_svn

    @property
    def cpu_svn(self) -> bytes:
        """CPUSVN the certificate was issued for (``tcb.cpu_svn``)."""
        return self.tcb.cpu_svn

    @property
    def sgx_components(self) -> tuple[int, ...]:
        """The 16 SGX TCB component SVNs (``tcb.sgx_components``)."""
        return self.tcb.sgx_components


def parse_pck_extension(value: Buffer) -> PckExtension:
    """Parse the DER value of the SGX extension (OID 1.2.840.113741.1.13.1).

    ``value`` is the extension's ``extnValue`` content, i.e. the DER
    ``SEQUENCE`` itself.  Raises :class:`~tdxquote.errors.QuoteParseError` on
    any deviation from Intel's schema: wrong entry count (5 or 7), a missing,
    unknown or duplicate OID, a TCB without exactly 18 entries, an SVN out of
    range, an octet string of the wrong size, an SGX type outside 0..2,
    trailing bytes, or malformed DER.
    """
    return pck_extension_of_fields(parse_fields(value))


def pck_extension_of_fields(fields: ExtensionFields) -> PckExtension:
    """The :class:`PckExtension` of the values :func:`tdxquote._sgx_extension.parse_fields` read."""
    ppid, components, pce_svn, cpu_svn, pce_id, fmspc, sgx_type, instance_id, config = fields
    return PckExtension(
        ppid=ppid,
        tcb=PckTcb(components, pce_svn, cpu_svn),
        pce_id=pce_id,
        fmspc=fmspc,
        sgx_type=SgxType(sgx_type),
        platform_instance_id=instance_id,
        configuration=None if config is None else PckConfiguration(*config),
    )


def pck_extension_from_certificate(cert: x509.Certificate) -> PckExtension:
    """Find and parse the SGX extension of the PCK leaf certificate ``cert``.

    Raises :class:`~tdxquote.errors.QuoteParseError` (offset 0) when the
    certificate's extensions cannot be read or it has no SGX extension, and
    as :func:`parse_pck_extension` does for a malformed extension value.
    Nothing is remembered here: a :class:`~tdxquote.Quote` keeps its own
    extension, and a :class:`~tdxquote.verification.Verifier` its verified
    platforms.
    """
    return _pck_extension_of(cert)


def _pck_extension_of(cert: x509.Certificate) -> PckExtension:
    from cryptography import x509  # only for a cryptography certificate

    from tdxquote import _x509_read

    def fail(reason: str) -> QuoteParseError:
        return QuoteParseError(f"PCK leaf certificate: {reason}", offset=0, field=_FIELD)

    try:
        extension = _x509_read.extensions(cert, fail).get_extension_for_oid(
            x509.ObjectIdentifier(SGX_EXTENSION_OID)
        )
    except x509.ExtensionNotFound:
        raise QuoteParseError(
            f"certificate has no SGX extension ({SGX_EXTENSION_OID})", offset=0, field=_FIELD
        ) from None
    payload = extension.value
    if not isinstance(payload, x509.UnrecognizedExtension):
        raise QuoteParseError(
            f"unexpected decoded SGX extension type {type(payload).__name__}",
            offset=0,
            field=_FIELD,
        )
    return parse_pck_extension(payload.value)


def _entry(arc_oid: str, value: bytes) -> bytes:
    return _der.encode_sequence(_der.encode_oid(arc_oid), value)


def encode_pck_extension(extension: PckExtension) -> bytes:
    """Encode ``extension`` as the DER SGX extension value, in Intel's entry order.

    Optional parts (platform instance id, configuration and each configuration
    flag) are written only when not ``None``.  Values are encoded as given,
    without range checks, so tests can build deliberately invalid extensions.
    """
    oid = SGX_EXTENSION_OID
    tcb = extension.tcb
    tcb_entries = [
        _entry(f"{oid}.2.{index}", _der.encode_integer(svn))
        for index, svn in enumerate(tcb.sgx_components, start=1)
    ]
    tcb_entries.append(_entry(f"{oid}.2.17", _der.encode_integer(tcb.pce_svn)))
    tcb_entries.append(_entry(f"{oid}.2.18", _der.encode_octet_string(tcb.cpu_svn)))
    entries = [
        _entry(f"{oid}.1", _der.encode_octet_string(extension.ppid)),
        _entry(f"{oid}.2", _der.encode_sequence(*tcb_entries)),
        _entry(f"{oid}.3", _der.encode_octet_string(extension.pce_id)),
        _entry(f"{oid}.4", _der.encode_octet_string(extension.fmspc)),
        _entry(f"{oid}.5", _der.encode_enumerated(int(extension.sgx_type))),
    ]
    if extension.platform_instance_id is not None:
        entries.append(_entry(f"{oid}.6", _der.encode_octet_string(extension.platform_instance_id)))
    config = extension.configuration
    if config is not None:
        flags = [
            _entry(f"{oid}.7.{arc}", _der.encode_boolean(flag))
            for arc, flag in (
                (1, config.dynamic_platform),
                (2, config.cached_keys),
                (3, config.smt_enabled),
            )
            if flag is not None
        ]
        entries.append(_entry(f"{oid}.7", _der.encode_sequence(*flags)))
    return _der.encode_sequence(*entries)
