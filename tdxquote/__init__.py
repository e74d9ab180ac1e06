"""tdxquote: parse and verify Intel TDX and SGX DCAP quotes, and RA-TLS certificates.

The public API is what ``__all__`` lists; everything in a module whose name
starts with an underscore is private.

``import tdxquote`` loads only this module: each name below is imported from
its module on first use (PEP 562), so parsing never loads ``cryptography``'s
X.509 layer, ``construct``, ``httpx`` or ``diskcache``, and verification
loads what it needs when it is first called.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._build import build_quote, signed_bytes_for
    from ._flags import SgxAttributes, TdAttributes, Xfam
    from ._quote import CertificationData, Header, PckIdentifier, Quote, TeeType, parse_quote
    from ._reports import Report, SgxReport, TdReport, TdReport10, TdReport15, TdReport15Ex
    from .collateral import Collateral, TcbStatus
    from .errors import CollateralFetchError, QuoteParseError, TdxQuoteError, VerificationError
    from .verification import Policy, VerifiedQuote, Verifier, verify

__version__ = "0.1.0"

# Public name -> the module (relative to this package) that defines it.
_LAZY: dict[str, str] = {
    "build_quote": "._build",
    "signed_bytes_for": "._build",
    "SgxAttributes": "._flags",
    "TdAttributes": "._flags",
    "Xfam": "._flags",
    "CertificationData": "._quote",
    "Header": "._quote",
    "PckIdentifier": "._quote",
    "Quote": "._quote",
    "TeeType": "._quote",
    "parse_quote": "._quote",
    "Report": "._reports",
    "SgxReport": "._reports",
    "TdReport": "._reports",
    "TdReport10": "._reports",
    "TdReport15": "._reports",
    "TdReport15Ex": "._reports",
    "Collateral": ".collateral",
    "TcbStatus": ".collateral",
    "CollateralFetchError": ".errors",
    "QuoteParseError": ".errors",
    "TdxQuoteError": ".errors",
    "VerificationError": ".errors",
    "Policy": ".verification",
    "VerifiedQuote": ".verification",
    "Verifier": ".verification",
    "verify": ".verification",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "CertificationData",
    "Collateral",
    "CollateralFetchError",
    "Header",
    "PckIdentifier",
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
