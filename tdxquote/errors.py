"""The tdxquote error tree.

Every error raised on purpose derives from :class:`TdxQuoteError`.  Parsing
untrusted bytes raises :class:`QuoteParseError` and nothing else; verification
failures are :class:`VerificationError` subclasses that carry a stable
``code`` and the Intel QvE result they correspond to; network failures while
fetching collateral are :class:`CollateralFetchError`, kept apart from
"this quote is not valid".
"""

from __future__ import annotations

from ._intel_codes import QvResult

__all__ = [
    "VerificationError",
    "CollateralFetchError",
    "QuoteParseError",
    "TdxQuoteError",
]


class TdxQuoteError(Exception):
    """Root of every error tdxquote raises on purpose."""


class QuoteParseError(TdxQuoteError, ValueError):
    """Bytes that are not a well-formed quote (or a well-formed part of one).

    ``offset`` is the byte offset in the input where the problem was found,
    ``field`` names the field being read, ``reason`` says what is wrong.
    """

    def __init__(self, reason: str, *, offset: int, field: str) -> None:
        self.reason = reason
        self.offset = offset
        self.field = field
        super().__init__(f"{field} at offset {offset}: {reason}")

    def __reduce__(self) -> tuple[object, ...]:
        # Keyword-only arguments need help to survive pickling (scan --jobs).
        return (_rebuild_parse_error, (self.reason, self.offset, self.field))


def _rebuild_parse_error(reason: str, offset: int, field: str) -> QuoteParseError:
    return QuoteParseError(reason, offset=offset, field=field)


class CollateralFetchError(TdxQuoteError):
    """Collateral could not be fetched (network, HTTP status, malformed response).

    Not a verdict on the quote: the same quote may verify once the
    collateral can be had.
    """

    def __init__(
        self,
        message: str,
        *,
        url: str | None = None,
        status: int | None = None,
        request_id: str | None = None,
        error_code: str | None = None,
    ) -> None:
        self.url = url
        self.status = status
        self.request_id = request_id
        self.error_code = error_code
        parts = [message]
        if url is not None:
            parts.append(f"url={url}")
        if status is not None:
            parts.append(f"status={status}")
        if request_id:
            parts.append(f"request-id={request_id}")
        if error_code:
            parts.append(f"error-code={error_code}")
        super().__init__("; ".join(parts))


class VerificationError(TdxQuoteError):
    """A quote, its collateral or a certificate failed a verification check.

    ``code`` is a stable machine-readable identifier (documented in
    ``docs/errors.md``); ``intel_error`` names the Intel QVL/QvE status the
    failure corresponds to, where one exists.
    """

    code: str = "verification_failed"
    intel_error: str | None = None
    #: Intel's numeric ``quote3_error_t`` for this failure, where one maps.
    intel_error_code: int | None = None
    #: The ``sgx_ql_qv_result_t`` Intel's QvE reports with this failure, where one maps.
    qv_result: QvResult | None = None
    #: The checks that passed before this one failed (set by the verifier).
    checks_passed: tuple[str, ...] = ()

    def __init__(self, message: str, *, code: str | None = None) -> None:
        if code is not None:
            self.code = code
        self.message = message
        super().__init__(message)


# collateral errors

_COLLATERAL_INTEL_ERRORS = {
    "tcb_info_format": "SGX_QL_TCBINFO_UNSUPPORTED_FORMAT",
    "qe_identity_format": "SGX_QL_QEIDENTITY_UNSUPPORTED_FORMAT",
    "crl_format": "SGX_QL_CRL_UNSUPPORTED_FORMAT",
}


class CollateralFormatError(VerificationError):
    """Collateral (TCB Info, enclave identity, CRL, issuer chain, bundle) is malformed.

    ``code`` names the artifact: ``tcb_info_format``, ``qe_identity_format``,
    ``crl_format``, ``issuer_chain_format``, or ``collateral_format`` for the
    bundle (e.g. dcap-qvl's ``QuoteCollateralV3`` JSON) itself.  ``intel_error``
    is the matching Intel QvE error (``SGX_QL_TCBINFO_UNSUPPORTED_FORMAT``, ...)
    unless the caller supplies a more specific one.
    """

    code = "collateral_format"

    def __init__(
        self, message: str, *, code: str | None = None, intel_error: str | None = None
    ) -> None:
        super().__init__(message, code=code)
        self.intel_error = intel_error or _COLLATERAL_INTEL_ERRORS.get(self.code)

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild_collateral_format_error, (self.message, self.code, self.intel_error))


def _rebuild_collateral_format_error(
    message: str, code: str, intel_error: str | None
) -> CollateralFormatError:
    return CollateralFormatError(message, code=code, intel_error=intel_error)


__all__ += ["CollateralFormatError"]
