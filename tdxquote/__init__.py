"""tdxquote: parse and verify Intel TDX and SGX DCAP quotes, and RA-TLS certificates.

The public API is what ``__all__`` lists; everything in a module whose name
starts with an underscore is private.
"""

from __future__ import annotations

from ._flags import SgxAttributes, TdAttributes, Xfam
from ._quote import CertificationData, Header, Quote, TeeType, parse_quote
from ._reports import Report, SgxReport, TdReport, TdReport10, TdReport15, TdReport15Ex
from .errors import CollateralFetchError, QuoteParseError, TdxQuoteError, VerificationError

__version__ = "0.1.0"

__all__ = [
    "CertificationData",
    "CollateralFetchError",
    "Header",
    "Quote",
    "QuoteParseError",
    "Report",
    "SgxAttributes",
    "SgxReport",
    "TdAttributes",
    "TdReport",
    "TdReport10",
    "TdReport15",
    "TdReport15Ex",
    "TdxQuoteError",
    "TeeType",
    "VerificationError",
    "Xfam",
    "__version__",
    "parse_quote",
]
