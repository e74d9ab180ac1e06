"""Building quotes from fields, through the same ``construct`` schemas that parse them."""

from __future__ import annotations

from typing import Any

import construct as c

from ._quote import CertificationData, Quote, parse_quote
from ._reports import Report, SgxReport, TdReport10, TdReport15, TdReport15Ex
from .errors import QuoteParseError
from .schema import (
    ATTESTATION_KEY_TYPE_ECDSA_P256,
    BODY_DESCRIPTOR,
    BODY_SCHEMAS,
    BODY_TYPE_SGX,
    BODY_TYPE_TD10,
    BODY_TYPE_TD15,
    BODY_TYPE_TD15EX,
    CERT_TYPE_QE_REPORT,
    HEADER,
    INTEL_QE_VENDOR_ID,
    QUOTE,
    TEE_TYPE_SGX,
    TEE_TYPE_TDX,
)
from .schema._layouts import RuleViolation
from .schema._rules import check_header as _check_header

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
    body_type = _BODY_TYPES.get(type(body))
    if body_type is None:
        raise TypeError(
            f"body must be a SgxReport, TdReport10, TdReport15 or TdReport15Ex, "
            f"not {type(body).__name__}"
        )
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
    problem = _check_header(c.Container(header))
    if problem is not None:
        raise QuoteParseError(problem, offset=0, field="header")
    # v3/v4 carry no body descriptor: their body is implied by the TEE type, so a
    # TD 1.5 body would silently lose its extra fields.
    if version != 5 and body_type not in (BODY_TYPE_SGX, BODY_TYPE_TD10):
        raise QuoteParseError(
            f"a {type(body).__name__} body needs quote version 5, not {version}",
            offset=0,
            field="body",
        )
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
    # Built through the schemas, as build_quote does: a field of the wrong size or
    # range raises instead of being padded, truncated or leaking a construct error.
    signed = _build_part(HEADER, parts["header"])
    descriptor = parts["body_descriptor"]
    if descriptor is not None:
        signed += _build_part(BODY_DESCRIPTOR, descriptor)
    return signed + _build_part(BODY_SCHEMAS[_BODY_TYPES[type(body)]], parts["body"])


def _build_part(schema: c.Construct, value: dict[str, Any]) -> bytes:
    try:
        return bytes(schema.build(value))
    except c.ConstructError as exc:
        raise QuoteParseError(f"cannot build: {exc}", offset=0, field="quote") from None


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
