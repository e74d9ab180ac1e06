"""JSON-ready views of a parsed quote: plain dicts, lists, ints, strings and None.

Bytes are lowercase hex strings, flag words are lists of flag names (unnamed
set bits as ``"bit<N>"``), dates are ISO 8601 UTC (``2025-02-06T23:25:51Z``).
Every CLI command that prints a quote as JSON uses :func:`quote_to_dict`.
"""

from __future__ import annotations

import enum
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ._quote import Quote
from ._reports import SgxReport
from .errors import QuoteParseError

if TYPE_CHECKING:
    from cryptography import x509

    from ._reports import Report
    from ._sgx_extension import ExtensionFields
    from ._x509_der import CertView
    from .pck import PckExtension

__all__ = [
    "BODY_KIND_OF_TYPE",
    "CERTIFICATION_TYPE_NAMES",
    "BodyKind",
    "body_kind",
    "certificate_to_dict",
    "flag_names",
    "iso_utc",
    "parse_error_to_dict",
    "pck_extension_to_dict",
    "pck_to_dict",
    "quote_to_dict",
    "report_to_dict",
]


class BodyKind:
    """What a report body is: a short stable key, a label for people, its size."""

    __slots__ = ("key", "label", "size")

    def __init__(self, key: str, label: str, size: int) -> None:
        self.key = key
        self.label = label
        self.size = size

    def __repr__(self) -> str:
        return f"BodyKind(key={self.key!r}, label={self.label!r}, size={self.size})"


BODY_KIND_OF_TYPE: dict[int, BodyKind] = {
    1: BodyKind("sgx", "SGX enclave report", 384),
    2: BodyKind("td10", "TD report 1.0", 584),
    3: BodyKind("td15", "TD report 1.5", 648),
    4: BodyKind("td15ex", "TD report 1.5 ex", 885),
}
"""Effective body type (1 SGX, 2 TD 1.0, 3 TD 1.5, 4 TD 1.5 ex, for every quote version) ->
kind; ``key`` is what ``scan`` counts by."""


def __getattr__(name: str) -> Any:
    if name == "BODY_KINDS":  # by report class: imports the TD 1.5 report classes
        from ._reports import report_codec

        return {report_codec(body_type)[0]: kind for body_type, kind in BODY_KIND_OF_TYPE.items()}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


CERTIFICATION_TYPE_NAMES = {
    1: "PPID in cleartext",
    2: "PPID encrypted with RSA-2048-OAEP",
    3: "PPID encrypted with RSA-3072-OAEP",
    4: "PCK leaf certificate",
    5: "PCK certificate chain",
    6: "QE report certification data",
    7: "platform manifest",
}


def body_kind(quote: Quote) -> BodyKind:
    """The kind of ``quote``'s body (for every version, not only v5's descriptor)."""
    return BODY_KIND_OF_TYPE[quote._layout[3]]


def flag_names(flags: enum.IntFlag) -> list[str]:
    """Names of the set bits of ``flags``, lowest bit first; unnamed bits as ``bit<N>``."""
    value = int(flags)
    known = {int(member): name for name, member in type(flags).__members__.items()}
    return [
        known.get(1 << bit, f"bit{bit}") for bit in range(value.bit_length()) if value >> bit & 1
    ]


def iso_utc(moment: datetime) -> str:
    """``moment`` as ISO 8601 UTC with a ``Z`` suffix, to the second."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _jsonable(value: object) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, enum.Enum):
        return value.name
    return value


def report_to_dict(report: Report) -> dict[str, Any]:
    """Every field of a report body, plus its decoded flags and debug bit."""
    out: dict[str, Any] = {name: _jsonable(value) for name, value in report._asdict().items()}
    if isinstance(report, SgxReport):
        out["attributes_flags"] = flag_names(report.attributes_flags)
    else:
        out["td_attributes_flags"] = flag_names(report.td_attributes_flags)
        out["xfam_flags"] = flag_names(report.xfam_flags)
    out["debug"] = report.is_debug
    return out


def certificate_to_dict(cert: x509.Certificate | CertView) -> dict[str, Any]:
    """Subject, issuer (RFC 4514 text), serial number (hex) and validity of a certificate.

    ``cert`` is a DER view (:func:`tdxquote._x509_der.parse_certificate`,
    what ``tdxquote parse`` shows, without ``cryptography``) or a
    ``cryptography`` certificate; both give the same text.  Raises
    :class:`~tdxquote.errors.QuoteParseError` when a name does not read.
    """
    from ._x509_der import CertView, X509FormatError, name_rfc4514

    if isinstance(cert, CertView):
        try:
            subject, issuer = name_rfc4514(cert.subject), name_rfc4514(cert.issuer)
        except X509FormatError as exc:
            raise _pck_name_error(str(exc)) from None
        return {
            "subject": subject,
            "issuer": issuer,
            "serial_number": format(cert.serial, "x"),
            "not_before": iso_utc(cert.not_before),
            "not_after": iso_utc(cert.not_after),
        }
    from ._x509_read import name_text, names  # cryptography.x509: only for its certificates

    read = names(cert, _pck_name_error)
    return {
        "subject": name_text(read.subject),
        "issuer": name_text(read.issuer),
        "serial_number": format(cert.serial_number, "x"),
        "not_before": iso_utc(cert.not_valid_before_utc),
        "not_after": iso_utc(cert.not_valid_after_utc),
    }


def _pck_name_error(reason: str) -> QuoteParseError:
    return QuoteParseError(reason, offset=0, field="pck_chain")


def pck_extension_to_dict(extension: PckExtension) -> dict[str, Any]:
    """Every field of the PCK certificate's SGX extension."""
    config = extension.configuration
    tcb = extension.tcb
    return _extension_dict(
        (
            extension.ppid,
            tcb.sgx_components,
            tcb.pce_svn,
            tcb.cpu_svn,
            extension.pce_id,
            extension.fmspc,
            int(extension.sgx_type),
            extension.platform_instance_id,
            None
            if config is None
            else (config.dynamic_platform, config.cached_keys, config.smt_enabled),
        )
    )


def _extension_dict(fields: ExtensionFields) -> dict[str, Any]:
    """What :func:`pck_extension_to_dict` gives, from the values the DER reader returns."""
    from ._sgx_extension import SGX_TYPE_NAMES

    ppid, components, pce_svn, cpu_svn, pce_id, fmspc, sgx_type, instance_id, config = fields
    return {
        "fmspc": fmspc.hex(),
        "pce_id": pce_id.hex(),
        "ppid": ppid.hex(),
        "sgx_type": SGX_TYPE_NAMES[sgx_type],
        "ca_type": "processor" if instance_id is None else "platform",
        "tcb": {
            "sgx_components": list(components),
            "pce_svn": pce_svn,
            "cpu_svn": cpu_svn.hex(),
        },
        "platform_instance_id": None if instance_id is None else instance_id.hex(),
        "configuration": None
        if config is None
        else {
            "dynamic_platform": config[0],
            "cached_keys": config[1],
            "smt_enabled": config[2],
        },
    }


def parse_error_to_dict(error: QuoteParseError) -> dict[str, Any]:
    """``{"field", "offset", "message"}`` of a parse error (message: the reason only)."""
    return {"field": error.field, "offset": error.offset, "message": error.reason}


def pck_to_dict(quote: Quote) -> dict[str, Any]:
    """``pck_chain``, ``pck_extension`` and ``pck_error`` of ``quote``.

    When the chain or its leaf's SGX extension cannot be decoded, the part
    that failed is None and ``pck_error`` says why (its offset is in the quote
    for ``pck_chain`` errors, in the extension value for ``pck_extension.*``).
    """
    from ._pck_read import read_pck_chain, read_pck_extension_fields

    chain: list[dict[str, Any]] | None = None
    extension: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    try:
        identified = quote.pck_identifier is not None
    except QuoteParseError as exc:
        identified, error = True, parse_error_to_dict(exc)
    if identified:
        # Types 1-3: no chain to decode, the PCK identifier stands for it (certification_data).
        return {"pck_chain": None, "pck_extension": None, "pck_error": error}
    try:
        views = read_pck_chain(quote.pck_chain_pem, quote._layout[9])
        chain = [certificate_to_dict(view) for view in views]
        extension = _extension_dict(read_pck_extension_fields(views[0]))
    except QuoteParseError as exc:
        error = parse_error_to_dict(exc)
    return {"pck_chain": chain, "pck_extension": extension, "pck_error": error}


def _pck_identifier_dict(quote: Quote) -> dict[str, Any] | None:
    """The PPID, CPUSVN, PCESVN and PCE-ID of types 1-3; None for other types or when malformed."""
    try:
        identifier = quote.pck_identifier
    except QuoteParseError:
        return None  # reported in pck_error
    if identifier is None:
        return None
    return {
        "ppid": identifier.ppid.hex(),
        "encrypted": identifier.encrypted,
        "cpu_svn": identifier.cpu_svn.hex(),
        "pce_svn": identifier.pce_svn,
        "pce_id": None if identifier.pce_id is None else identifier.pce_id.hex(),
    }


def quote_to_dict(quote: Quote, *, include_pck: bool = True) -> dict[str, Any]:
    """Every field of ``quote`` as a JSON-ready dict (see ``docs/cli.md`` for the shape).

    With ``include_pck`` (the default) the PCK chain and extension are decoded
    too; a failure there is reported in ``pck_error``, never raised.
    """
    header = quote.header
    kind = body_kind(quote)
    cert = quote.certification_data
    trailing = quote.trailing_bytes
    out: dict[str, Any] = {
        "size": len(quote),
        "version": quote.version,
        "tee": quote.tee_type.name,
        "body_kind": kind.key,
        "header": {
            "version": header.version,
            "attestation_key_type": header.attestation_key_type,
            "tee_type": header.tee_type,
            "qe_svn": header.qe_svn,
            "pce_svn": header.pce_svn,
            "qe_vendor_id": header.qe_vendor_id.hex(),
            "user_data": header.user_data.hex(),
        },
        "body_descriptor": None
        if quote.body_type is None
        else {"body_type": quote.body_type, "body_size": kind.size},
        "body_offset": quote.body_offset,
        "body": report_to_dict(quote.body),
        "signed_size": len(quote.signed_bytes),
        "signed_data_size": quote.signed_data_size,
        "signature": quote.signature.hex(),
        "attestation_key": quote.attestation_key.hex(),
        "qe_report_certification_type": quote.qe_report_certification_type,
        "qe_report": report_to_dict(quote.qe_report),
        "qe_report_signature": quote.qe_report_signature.hex(),
        "qe_auth_data": quote.qe_auth_data.hex(),
        "certification_data": {
            "type": cert.type,
            "type_name": CERTIFICATION_TYPE_NAMES.get(cert.type, "unknown"),
            "size": len(cert.data),
            "pck_identifier": _pck_identifier_dict(quote),
        },
    }
    if include_pck:
        out.update(pck_to_dict(quote))
    out["trailing_size"] = len(trailing)
    out["trailing_bytes"] = trailing.hex()
    return out
