"""Compatibility re-export: the verification errors are defined in :mod:`tdxquote.errors`."""

from __future__ import annotations

from ..errors import (
    INTEL_ERRORS,
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

__all__ = [
    "INTEL_ERRORS",
    "CertificateChainError",
    "CollateralExpiredError",
    "CollateralSignatureError",
    "CrlError",
    "PolicyError",
    "QeIdentityError",
    "QeReportError",
    "QuoteFormatError",
    "QuoteSignatureError",
    "RevokedError",
    "TcbError",
    "TdxModuleError",
]
