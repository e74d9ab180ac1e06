"""Building quotes from fields, through the same ``construct`` schemas that parse them."""

from __future__ import annotations

from typing import Any

import construct as c

from ._quote import CertificationData, Quote, parse_quote
from ._reports import Report, SgxReport, TdReport10, TdReport15, TdReport15Ex
from .errors import QuoteParseError
from .schema import (
    ATTESTATION_KEY_TYPE_ECDSA_P256,
    BODY_TYPE_SGX,
    BODY_TYPE_TD10,
    BODY_TYPE_TD15,
    BODY_TYPE_TD15EX,
    CERT_TYPE_QE_REPORT,
    INTEL_QE_VENDOR_ID,
    QUOTE,
    TEE_TYPE_SGX,
    TEE_TYPE_TDX,
)
from .schema._layouts import RuleViolation

__all__ = ["build_quote", "signed_bytes_for"]

_BODY_TYPES: dict[type, int] = {
    SgxReport: BODY_TYPE_SGX,
    TdReport10: BODY_TYPE_TD10,
    TdReport15: BODY_TYPE_TD15,
    TdReport15Ex: BODY_TYPE_TD15EX,
}
_DEFAULT_VERSION = {BODY_TYPE_SGX: 3, BODY_TYPE_TD10: 4, BODY_TYPE_TD15: 5, BODY_TYPE_TD15EX: 5}


def _header_and_body(
    body: Report,
    version: int | None,
    *,
    qe_svn: int,
    pce_svn: int,
    qe_vendor_id: bytes,
    user_data: bytes,
    attestation_key_type: int,
) -> dict[str, Any]:
    body_type = _BODY_TYPES[type(body)]
    if version is None:
        version = _DEFAULT_VERSION[body_type]
    header = {
        "version": version,
        "attestation_key_type": attestation_key_type,
        "tee_type": TEE_TYPE_SGX if body_type == BODY_TYPE_SGX else TEE_TYPE_TDX,
        "qe_svn": qe_svn,
        "pce_svn": pce_svn,
        "qe_vendor_id": qe_vendor_id,
        "user_data": user_data,
    }
    descriptor = None
    if version == 5:
        descriptor = {"body_type": body_type, "body_size": len(body.to_bytes())}
    return {"header": header, "body_descriptor": descriptor, "body": body._asdict()}


def signed_bytes_for(
    body: Report,
    *,
    version: int | None = None,
    qe_svn: int = 0,
    pce_svn: int = 0,
    qe_vendor_id: bytes = INTEL_QE_VENDOR_ID,
    user_data: bytes = bytes(20),
    attestation_key_type: int = ATTESTATION_KEY_TYPE_ECDSA_P256,
) -> bytes:
    """The bytes a quote signature covers for this header and body (what to sign)."""
    parts = _header_and_body(
        body,
        version,
        qe_svn=qe_svn,
        pce_svn=pce_svn,
        qe_vendor_id=qe_vendor_id,
        user_data=user_data,
        attestation_key_type=attestation_key_type,
    )
    header_bytes: bytes = QUOTE.subcons[0].build(parts["header"])
    descriptor = parts["body_descriptor"]
    if descriptor is not None:
        header_bytes += descriptor["body_type"].to_bytes(2, "little")
        header_bytes += descriptor["body_size"].to_bytes(4, "little")
    return header_bytes + body.to_bytes()


def build_quote(
    *,
    body: Report,
    signature: bytes,
    attestation_key: bytes,
    qe_report: SgxReport,
    qe_report_signature: bytes,
    qe_auth_data: bytes,
    certification_data: CertificationData,
    version: int | None = None,
    qe_svn: int = 0,
    pce_svn: int = 0,
    qe_vendor_id: bytes = INTEL_QE_VENDOR_ID,
    user_data: bytes = bytes(20),
    attestation_key_type: int = ATTESTATION_KEY_TYPE_ECDSA_P256,
    trailing_bytes: bytes = b"",
) -> Quote:
    """Build a quote from its fields; every size field is computed.

    The version defaults from the body (SGX report: 3, TD 1.0: 4, TD 1.5 and
    1.5 ex: 5).  The result obeys the same structural rules as parsed quotes;
    a field that breaks them raises :class:`~tdxquote.QuoteParseError`.
    Signing is the caller's business (see :mod:`tdxquote.testing`).
    """
    parts = _header_and_body(
        body,
        version,
        qe_svn=qe_svn,
        pce_svn=pce_svn,
        qe_vendor_id=qe_vendor_id,
        user_data=user_data,
        attestation_key_type=attestation_key_type,
    )
    pck = {"type": certification_data.type, "data": certification_data.data}
    if parts["header"]["version"] == 3:
        signed_data: dict[str, Any] = {
            "signature": signature,
            "attestation_key": attestation_key,
            "qe_report": qe_report._asdict(),
            "qe_report_signature": qe_report_signature,
            "qe_auth_data": qe_auth_data,
            "certification_data": pck,
        }
    else:
        signed_data = {
            "signature": signature,
            "attestation_key": attestation_key,
            "certification_data_type": CERT_TYPE_QE_REPORT,
            "qe_report_certification_data": {
                "qe_report": qe_report._asdict(),
                "qe_report_signature": qe_report_signature,
                "qe_auth_data": qe_auth_data,
                "certification_data": pck,
            },
        }
    parts["signed_data"] = signed_data
    parts["trailing_bytes"] = trailing_bytes
    try:
        raw = QUOTE.build(parts)
    except RuleViolation as exc:
        raise QuoteParseError(exc.reason, offset=0, field=exc.field) from None
    except c.ConstructError as exc:
        raise QuoteParseError(f"cannot build: {exc}", offset=0, field="quote") from None
    return parse_quote(raw)
