"""DCAP quote verification: Intel's QVL pipeline, policies and verdicts.

Pure: no I/O.  Give it a quote, its collateral, a time and optionally a
policy and a trust root.
"""

from __future__ import annotations

from ._errors import (
    CertificateChainError,
    CollateralExpiredError,
    CollateralSignatureError,
    CrlError,
    PolicyError,
    QeIdentityError,
    QeReportError,
    QuoteFormatError,
    QuoteSignatureError,
    RevokedError,
    TcbError,
    TdxModuleError,
)
from ._memo import VerifiedCache
from ._policy import (
    AllOf,
    AnyOf,
    Check,
    ExpectField,
    ExpectMrTd,
    ExpectReportData,
    ExpectRtmr,
    Policy,
)
from ._result import QvResult, Supplemental, VerifiedQuote
from ._trust import INTEL_SGX_ROOT_CA_SHA256, TrustRoot, intel_sgx_root_ca, load_trust_root
from ._verifier import Verifier, verify

__all__ = [
    "INTEL_SGX_ROOT_CA_SHA256",
    "AllOf",
    "AnyOf",
    "CertificateChainError",
    "Check",
    "CollateralExpiredError",
    "CollateralSignatureError",
    "CrlError",
    "ExpectField",
    "ExpectMrTd",
    "ExpectReportData",
    "ExpectRtmr",
    "Policy",
    "PolicyError",
    "QeIdentityError",
    "QeReportError",
    "QuoteFormatError",
    "QuoteSignatureError",
    "QvResult",
    "RevokedError",
    "Supplemental",
    "TcbError",
    "TdxModuleError",
    "TrustRoot",
    "VerifiedCache",
    "VerifiedQuote",
    "Verifier",
    "intel_sgx_root_ca",
    "load_trust_root",
    "verify",
]
