"""DCAP quote verification: Intel's QVL pipeline, policies and verdicts.

Pure: no I/O.  Give it a quote, its collateral, a time and optionally a
policy and a trust root.  The errors are defined in :mod:`tdxquote.errors`
and re-exported here.
"""

from __future__ import annotations

from .._trust import INTEL_SGX_ROOT_CA_SHA256, TrustRoot, intel_sgx_root_ca, load_trust_root
from .._verified_cache import VerifiedCache
from ..errors import (
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
from ._verifier import Verifier, default_verifier, verify

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
    "default_verifier",
    "intel_sgx_root_ca",
    "load_trust_root",
    "verify",
]
