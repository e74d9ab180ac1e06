"""tdxquote: parse and verify Intel TDX and SGX DCAP quotes, and RA-TLS certificates.

The public API is what ``__all__`` lists; everything in a module whose name
starts with an underscore is private.
"""

from __future__ import annotations

from ._build import build_quote, signed_bytes_for
from ._flags import SgxAttributes, TdAttributes, Xfam
from ._quote import CertificationData, Header, Quote, TeeType, parse_quote
from ._reports import Report, SgxReport, TdReport, TdReport10, TdReport15, TdReport15Ex
from .collateral import Collateral, TcbStatus
from .errors import CollateralFetchError, QuoteParseError, TdxQuoteError, VerificationError
from .verification import Policy, VerifiedQuote, Verifier, verify

__version__ = "0.1.0"

__all__ = [
    "CertificationData",
    "Collateral",
    "CollateralFetchError",
    "Header",
    "Policy",
    "Quote",
    "QuoteParseError",
    "Report",
    "SgxAttributes",
    "SgxReport",
    "TdAttributes",
    "TdReport",
    "TdReport10",
    "TdReport15",
    "TcbStatus",
    "TdReport15Ex",
    "TdxQuoteError",
    "TeeType",
    "VerificationError",
    "VerifiedQuote",
    "Verifier",
    "Xfam",
    "__version__",
    "build_quote",
    "parse_quote",
    "signed_bytes_for",
    "verify",
]
