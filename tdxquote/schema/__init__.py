"""Declarative ``construct`` schemas of every DCAP quote layout.

These schemas are the single source of layout truth: the fast parser in
:mod:`tdxquote._quote` derives its offsets and ``struct`` formats from them,
and the tests check that both parse every input identically.
"""

from __future__ import annotations

from ._constants import (
    ATTESTATION_KEY_TYPE_ECDSA_P256,
    ATTESTATION_KEY_TYPE_ECDSA_P384,
    BODY_TYPE_SGX,
    BODY_TYPE_TD10,
    BODY_TYPE_TD15,
    BODY_TYPE_TD15EX,
    CERT_TYPE_PCK_CERT_CHAIN,
    CERT_TYPE_PCK_LEAF,
    CERT_TYPE_PLATFORM_MANIFEST,
    CERT_TYPE_PPID_CLEARTEXT,
    CERT_TYPE_PPID_RSA2048,
    CERT_TYPE_PPID_RSA3072,
    CERT_TYPE_QE_REPORT,
    INTEL_QE_VENDOR_ID,
    TEE_TYPE_SGX,
    TEE_TYPE_TDX,
)
from ._layouts import (
    AUTH_DATA_V3,
    AUTH_DATA_V4,
    BODY_DESCRIPTOR,
    BODY_SCHEMAS,
    CERTIFICATION_DATA,
    HEADER,
    QE_REPORT_CERTIFICATION_DATA,
    QUOTE,
    SGX_REPORT,
    TD_REPORT_10,
    TD_REPORT_15,
    TD_REPORT_15EX,
    field_layout,
    struct_format,
)

__all__ = [
    "ATTESTATION_KEY_TYPE_ECDSA_P256",
    "ATTESTATION_KEY_TYPE_ECDSA_P384",
    "AUTH_DATA_V3",
    "AUTH_DATA_V4",
    "BODY_DESCRIPTOR",
    "BODY_SCHEMAS",
    "BODY_TYPE_SGX",
    "BODY_TYPE_TD10",
    "BODY_TYPE_TD15",
    "BODY_TYPE_TD15EX",
    "CERTIFICATION_DATA",
    "CERT_TYPE_PCK_CERT_CHAIN",
    "CERT_TYPE_PCK_LEAF",
    "CERT_TYPE_PLATFORM_MANIFEST",
    "CERT_TYPE_PPID_CLEARTEXT",
    "CERT_TYPE_PPID_RSA2048",
    "CERT_TYPE_PPID_RSA3072",
    "CERT_TYPE_QE_REPORT",
    "HEADER",
    "INTEL_QE_VENDOR_ID",
    "QE_REPORT_CERTIFICATION_DATA",
    "QUOTE",
    "SGX_REPORT",
    "TD_REPORT_10",
    "TD_REPORT_15",
    "TD_REPORT_15EX",
    "TEE_TYPE_SGX",
    "TEE_TYPE_TDX",
    "field_layout",
    "struct_format",
]
