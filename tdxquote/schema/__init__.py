"""Declarative ``construct`` schemas of every DCAP quote layout.

These schemas are the single source of layout truth: the fast parser in
:mod:`tdxquote._quote` reads its offsets and ``struct`` formats from
:mod:`tdxquote._layout_table`, generated from them (``python -m
tdxquote._layout_derive``), and the tests check that both parse every input
identically.  The numeric constants load with the package; the schemas, which
need ``construct``, load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
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

# The schemas need ``construct``, which the fast parser does not: they are
# imported on first use (PEP 562), so ``import tdxquote`` stays light.
_LAZY = frozenset(
    {
        "AUTH_DATA_V3",
        "AUTH_DATA_V4",
        "BODY_DESCRIPTOR",
        "BODY_SCHEMAS",
        "CERTIFICATION_DATA",
        "HEADER",
        "QE_REPORT_CERTIFICATION_DATA",
        "QUOTE",
        "SGX_REPORT",
        "TD_REPORT_10",
        "TD_REPORT_15",
        "TD_REPORT_15EX",
        "field_layout",
        "struct_format",
    }
)


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from . import _layouts

    value = getattr(_layouts, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | _LAZY)


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
