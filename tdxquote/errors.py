"""The tdxquote error tree: every public exception, importable from here.

Every error raised on purpose derives from :class:`TdxQuoteError`.  Parsing
untrusted bytes raises :class:`QuoteParseError` and nothing else; verification
failures are :class:`VerificationError` subclasses, one per failing check, that
carry a stable ``code`` (documented in ``docs/errors.md``) and the Intel QvE
result they correspond to; network failures while fetching collateral are
:class:`CollateralFetchError`, kept apart from "this quote is not valid".

The RA-TLS errors (:class:`RaTlsError` and its subclasses,
:class:`RaTlsFormatError`) and :class:`ProbeError` are defined with
:mod:`tdxquote.ratls` and importable from here too (loaded on first use).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._intel_codes import QV_RESULT_UNSPECIFIED, QvResult, quote3_error_value

if TYPE_CHECKING:
    from .ratls._errors import (
        BindingMismatchError,
        BindingUnavailableError,
        KeyUsageError,
        NoAttestationError,
        RaTlsError,
        RaTlsFormatError,
        RtmrMismatchError,
        UnsupportedAttestationError,
    )
    from .ratls._probe import ProbeError

__all__ = [
    "INTEL_ERRORS",
    "BindingMismatchError",
    "BindingUnavailableError",
    "CertificateChainError",
    "CollateralExpiredError",
    "CollateralFetchError",
    "CollateralFormatError",
    "CollateralSignatureError",
    "CrlError",
    "KeyUsageError",
    "NoAttestationError",
    "PolicyError",
    "ProbeError",
    "QeIdentityError",
    "QeReportError",
    "QuoteFormatError",
    "QuoteParseError",
    "QuoteSignatureError",
    "RaTlsError",
    "RaTlsFormatError",
    "RevokedError",
    "RtmrMismatchError",
    "TcbError",
    "TdxModuleError",
    "TdxQuoteError",
    "UnsupportedAttestationError",
    "VerificationError",
]

# Defined next to the RA-TLS code that raises them; loaded when first asked for here.
_ELSEWHERE = {
    "BindingMismatchError": ".ratls._errors",
    "BindingUnavailableError": ".ratls._errors",
    "KeyUsageError": ".ratls._errors",
    "NoAttestationError": ".ratls._errors",
    "RaTlsError": ".ratls._errors",
    "RaTlsFormatError": ".ratls._errors",
    "RtmrMismatchError": ".ratls._errors",
    "UnsupportedAttestationError": ".ratls._errors",
    "ProbeError": ".ratls._probe",
}


def __getattr__(name: str) -> Any:
    module = _ELSEWHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module, "tdxquote"), name)


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
        self.intel_error_code = quote3_error_value(self.intel_error)
        self.qv_result = QV_RESULT_UNSPECIFIED

    def __reduce__(self) -> tuple[object, ...]:
        return (
            _rebuild_collateral_format_error,
            (self.message, self.code, self.intel_error),
            self.__dict__.copy(),
        )


def _rebuild_collateral_format_error(
    message: str, code: str, intel_error: str | None
) -> CollateralFormatError:
    return CollateralFormatError(message, code=code, intel_error=intel_error)


# code -> Intel QVL status (and the sgx_qve_verify_quote error it maps to).
INTEL_ERRORS: dict[str, str] = {
    "quote_format": "STATUS_UNSUPPORTED_QUOTE_FORMAT / SGX_QL_QUOTE_FORMAT_UNSUPPORTED",
    "qe_vendor_unknown": "STATUS_UNSUPPORTED_QUOTE_FORMAT / SGX_QL_QUOTE_FORMAT_UNSUPPORTED",
    "pck_chain_invalid": "STATUS_INVALID_PCK_CERT / SGX_QL_PCK_CERT_CHAIN_ERROR",
    "pck_chain_untrusted": "STATUS_SGX_PCK_CERT_CHAIN_UNTRUSTED / SGX_QL_PCK_CERT_CHAIN_ERROR",
    "pck_cert_format": "STATUS_UNSUPPORTED_PCK_CERT_FORMAT / SGX_QL_PCK_CERT_UNSUPPORTED_FORMAT",
    "pck_cert_mismatch": (
        "(no QVL equivalent: Intel's QvE verifies certification data type 5 only)"
    ),
    "tcb_signing_chain_invalid": (
        "STATUS_SGX_TCB_SIGNING_CERT_CHAIN_UNTRUSTED / SGX_QL_TCBINFO_CHAIN_ERROR"
    ),
    "qe_identity_chain_invalid": (
        "STATUS_SGX_TCB_SIGNING_CERT_CHAIN_UNTRUSTED / SGX_QL_QEIDENTITY_CHAIN_ERROR"
    ),
    "crl_invalid": "STATUS_SGX_CRL_INVALID_SIGNATURE / SGX_QL_RESULT_INVALID_SIGNATURE",
    "crl_issuer_mismatch": "STATUS_INVALID_PCK_CRL / SGX_QL_ERROR_UNEXPECTED",
    "ca_constraints_invalid": (
        "(stricter than Intel's QVL, which does not check it; dcap-qvl and go-tdx-guest refuse "
        "a CA certificate without BasicConstraints CA=true)"
    ),
    "pck_revoked": "STATUS_SGX_PCK_REVOKED / SGX_QL_PCK_REVOKED",
    "intermediate_revoked": "STATUS_SGX_INTERMEDIATE_CA_REVOKED / SGX_QL_PCK_REVOKED",
    "tcb_signing_revoked": "STATUS_SGX_TCB_SIGNING_CERT_REVOKED / SGX_QL_PCK_REVOKED",
    "tcb_info_signature_invalid": (
        "STATUS_SGX_TCB_INFO_INVALID_SIGNATURE / SGX_QL_TCBINFO_CHAIN_ERROR"
    ),
    "qe_identity_signature_invalid": (
        "STATUS_SGX_ENCLAVE_IDENTITY_INVALID_SIGNATURE / SGX_QL_QEIDENTITY_CHAIN_ERROR"
    ),
    "collateral_expired": "collateral_expiration_status = 1 (SGX_QL_QV_RESULT with expired data)",
    "certificate_not_yet_valid": "(no QVL equivalent: QVL does not check notBefore)",
    "qe_report_signature_invalid": (
        "STATUS_INVALID_QE_REPORT_SIGNATURE / SGX_QL_QE_REPORT_INVALID_SIGNATURE"
    ),
    "qe_report_data_mismatch": "STATUS_INVALID_QE_REPORT_DATA / SGX_QL_ERROR_UNEXPECTED",
    "qe_report_data_not_zero": (
        "(stricter than Intel's QVL, which compares REPORTDATA[0:32] only; go-tdx-guest "
        "requires REPORTDATA[32:64] to be zero)"
    ),
    "qe_identity_mismatch": "STATUS_QE_IDENTITY_MISMATCH / SGX_QL_QEIDENTITY_MISMATCH",
    "qe_identity_version": "STATUS_QE_IDENTITY_MISMATCH / SGX_QL_QEIDENTITY_MISMATCH",
    "attestation_key_invalid": "STATUS_UNSUPPORTED_QUOTE_FORMAT / SGX_QL_QUOTE_FORMAT_UNSUPPORTED",
    "quote_signature_invalid": "STATUS_INVALID_QUOTE_SIGNATURE / SGX_QL_RESULT_INVALID_SIGNATURE",
    "tcb_info_mismatch": "STATUS_TCB_INFO_MISMATCH / SGX_QL_TCBINFO_MISMATCH",
    "tcb_not_supported": "STATUS_TCB_NOT_SUPPORTED / SGX_QL_TCB_NOT_SUPPORTED",
    "tcb_revoked": "STATUS_TCB_REVOKED / SGX_QL_TCB_REVOKED",
    "qe_tcb_revoked": "STATUS_SGX_ENCLAVE_REPORT_ISVSVN_REVOKED / SGX_QL_TCB_REVOKED",
    "qe_tcb_not_supported": (
        "STATUS_SGX_ENCLAVE_REPORT_ISVSVN_NOT_SUPPORTED / SGX_QL_TCB_NOT_SUPPORTED"
    ),
    "tdx_module_mismatch": "STATUS_TDX_MODULE_MISMATCH / SGX_QL_TDX_MODULE_MISMATCH",
    "policy": "(caller policy; no Intel equivalent)",
}


class _CodedError(VerificationError):
    """Base of the check errors: looks ``intel_error`` up from ``code``.

    ``intel_error_code`` is the numeric ``quote3_error_t`` Intel's QvE returns
    for the same failure (``0xE032`` for ``SGX_QL_TCB_REVOKED``), ``None``
    where the check has no Intel equivalent.  ``qv_result`` is the
    ``sgx_ql_qv_result_t`` the QvE reports with it: ``UNSPECIFIED`` for every
    terminal failure; for a refusal after the verdict (policy, expired
    collateral) the verifier sets the verdict's own result.
    """

    #: The ``sgx_ql_qv_result_t`` Intel's QvE reports alongside this failure.
    qv_result: QvResult | None = QV_RESULT_UNSPECIFIED

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.intel_error = INTEL_ERRORS.get(self.code)
        self.intel_error_code = quote3_error_value(self.intel_error)

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild, (type(self), self.message, self.code), self.__dict__.copy())

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready description: code, message, Intel equivalent."""
        return {"code": self.code, "message": self.message, "intel_error": self.intel_error}


def _rebuild(cls: type[_CodedError], message: str, code: str) -> _CodedError:
    return cls(message, code=code)


class QuoteFormatError(_CodedError):
    """The quote parsed but breaks a rule verification needs (QE vendor, chain shape)."""

    code = "quote_format"


class CertificateChainError(_CodedError):
    """A certificate chain is malformed, badly signed or not rooted in the trust root."""

    code = "pck_chain_invalid"


class CrlError(_CodedError):
    """A CRL is badly signed, issued by the wrong CA, or lacks required extensions."""

    code = "crl_invalid"


class RevokedError(_CodedError):
    """A certificate of a chain is revoked (PCK leaf, intermediate CA, TCB signing)."""

    code = "pck_revoked"


class CollateralSignatureError(_CodedError):
    """A TCB Info or QE identity signature does not verify over its exact bytes."""

    code = "tcb_info_signature_invalid"


class CollateralExpiredError(_CodedError):
    """Collateral (a certificate, CRL, TCB Info or QE identity) is outside its validity.

    Intel's QvE reports this as a non-fatal ``collateral_expiration_status``;
    tdxquote's default policy refuses it, and
    ``Policy.unsafe_allow_expired_collateral`` accepts it.
    """

    code = "collateral_expired"
    qv_result = None


class QeReportError(_CodedError):
    """The QE report signature or its binding to the attestation key fails."""

    code = "qe_report_signature_invalid"


class QeIdentityError(_CodedError):
    """The QE report does not match the QE identity, or its ISVSVN is revoked/unsupported."""

    code = "qe_identity_mismatch"


class QuoteSignatureError(_CodedError):
    """The quote signature does not verify with the attestation key."""

    code = "quote_signature_invalid"


class TcbError(_CodedError):
    """TCB evaluation failed: TCB Info mismatch, no matching level, or a revoked TCB."""

    code = "tcb_not_supported"


class TdxModuleError(_CodedError):
    """The TDX module identity (MRSIGNERSEAM, SEAM attributes, TDX_%02X) does not match."""

    code = "tdx_module_mismatch"


class PolicyError(_CodedError):
    """The quote verified, but the caller's policy refuses it.

    ``rule`` names the policy rule; ``expected`` and ``actual`` say why.
    """

    code = "policy"
    qv_result = None

    def __init__(
        self,
        message: str,
        *,
        rule: str = "",
        expected: object = None,
        actual: object = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.rule = rule
        self.expected = expected
        self.actual = actual

    def __reduce__(self) -> tuple[object, ...]:
        return (
            _rebuild_policy,
            (self.message, self.rule, self.expected, self.actual, self.code),
            self.__dict__.copy(),
        )

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready description including the rule, expected and actual values."""
        out = super().to_dict()
        out.update(rule=self.rule, expected=_plain(self.expected), actual=_plain(self.actual))
        return out


def _plain(value: object) -> object:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    if isinstance(value, (list, tuple, frozenset, set)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (int, float, bool, str)):
        return value
    return str(value)


def _rebuild_policy(
    message: str, rule: str, expected: object, actual: object, code: str
) -> PolicyError:
    return PolicyError(message, rule=rule, expected=expected, actual=actual, code=code)


# ---------------------------------------------------------------------------------------
# Intel Trust Authority (tdxquote.ita)
#
# Split as collateral errors are: ItaFetchError says ITA (or its portal, or a CRL
# distribution point) could not be asked, which is not a verdict; ItaTokenError and
# ItaClaimsError are VerificationErrors: the token, or what it says about the quote, is
# not acceptable.
# ---------------------------------------------------------------------------------------

ITA_ERROR_CODES: dict[str, str] = {
    "ita_fetch_failed": (
        "the ITA API, its portal or a CRL distribution point could not be reached, or "
        "answered with an HTTP error"
    ),
    "ita_deadline_exceeded": "a fetch (retries and redirects included) outlived its total deadline",
    "ita_response_too_large": "a response exceeded its size cap",
    "ita_response_malformed": "the nonce or attest response is not what ITA sends",
    "ita_redirect_refused": "a redirect the client does not follow",
    "ita_token_malformed": "the token is not a compact JWS whose header and claims follow rules",
    "ita_token_algorithm": "the header's alg is not one the key and the allow-list permit",
    "ita_token_key_unknown": "the portal's JWKS has no key with the token's kid, even refetched",
    "ita_token_signature_invalid": "the token's signature does not verify with the portal's key",
    "ita_token_expired": "the token's exp (plus the leeway) is not after now",
    "ita_token_not_yet_valid": "the token's nbf or iat is after now (plus the leeway)",
    "ita_token_issuer": "the token's iss is not the expected issuer",
    "ita_jwks_invalid": "the JWKS, or the token's key in it, is malformed or unusable",
    "ita_chain_invalid": "the key's x5c certificate chain does not verify at now",
    "ita_chain_untrusted": "the x5c chain's root is not a pinned one",
    "ita_crl_invalid": "a CRL of the x5c chain is malformed, badly signed or out of date",
    "ita_certificate_revoked": "the signing certificate or an intermediate is revoked",
    "ita_claims_invalid": "a TDX claim is missing or malformed, or the token is not a TDX one",
    "ita_claims_mismatch": "a claim of the token differs from the quote's own field",
    "verifiers_disagree": "the backends of a CompositeVerifier accepted, but disagree",
}
"""Every ``code`` an Intel Trust Authority error can carry, with its meaning."""


class ItaError(TdxQuoteError):
    """Root of the Intel Trust Authority errors; ``code`` is in :data:`ITA_ERROR_CODES`."""

    code: str = "ita_fetch_failed"


class ItaFetchError(ItaError):
    """ITA, its portal or a CRL distribution point could not be asked: not a verdict.

    ``url`` is the URL requested last, ``status`` the HTTP status when there
    was one, ``request_id`` the server's ``Request-Id`` header.  The same
    quote may verify once the service answers.
    """

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        url: str | None = None,
        status: int | None = None,
        request_id: str | None = None,
    ) -> None:
        if code is not None:
            self.code = code
        self.message = message
        self.url = url
        self.status = status
        self.request_id = request_id
        parts = [message]
        if url is not None:
            parts.append(f"url={url}")
        if status is not None:
            parts.append(f"status={status}")
        if request_id:
            parts.append(f"request-id={request_id}")
        super().__init__("; ".join(parts))

    def __reduce__(self) -> tuple[object, ...]:
        return (
            _rebuild_ita_fetch,
            (self.message, self.code, self.url, self.status, self.request_id),
        )


def _rebuild_ita_fetch(
    message: str, code: str, url: str | None, status: int | None, request_id: str | None
) -> ItaFetchError:
    return ItaFetchError(message, code=code, url=url, status=status, request_id=request_id)


class ItaTokenError(VerificationError, ItaError):
    """The ITA token is not acceptable: format, algorithm, key, signature, time, chain, CRL."""

    code = "ita_token_malformed"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message, code=code)

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild_ita_coded, (type(self), self.message, self.code))

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready description: code, message (no Intel QVL equivalent)."""
        return {"code": self.code, "message": self.message, "intel_error": None}


def _rebuild_ita_coded(cls: type[ItaTokenError], message: str, code: str) -> ItaTokenError:
    return cls(message, code=code)


class ItaClaimsError(ItaTokenError):
    """The token is genuine, but its TDX claims are unusable or disagree with the quote.

    ``claim`` names the claim (``tdx_mrtd``, ...); ``expected`` is the
    quote's value and ``actual`` the token's (hex text for byte fields).
    """

    code = "ita_claims_invalid"

    def __init__(
        self,
        message: str,
        *,
        claim: str = "",
        expected: object = None,
        actual: object = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.claim = claim
        self.expected = expected
        self.actual = actual

    def __reduce__(self) -> tuple[object, ...]:
        return (
            _rebuild_ita_claims,
            (self.message, self.claim, self.expected, self.actual, self.code),
        )

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready description including the claim and both values."""
        return {
            **super().to_dict(),
            "claim": self.claim,
            "expected": self.expected,
            "actual": self.actual,
        }


def _rebuild_ita_claims(
    message: str, claim: str, expected: object, actual: object, code: str
) -> ItaClaimsError:
    return ItaClaimsError(message, claim=claim, expected=expected, actual=actual, code=code)


class VerifiersDisagreeError(VerificationError, ItaError):
    """Every backend of a composite verifier accepted, but their results differ.

    ``field`` names the result field; ``values`` holds each backend's value, in order.
    """

    code = "verifiers_disagree"

    def __init__(self, message: str, *, field: str = "", values: tuple[object, ...] = ()) -> None:
        super().__init__(message)
        self.field = field
        self.values = values

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild_disagree, (self.message, self.field, self.values))

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready description including the field and every backend's value."""
        return {
            "code": self.code,
            "message": self.message,
            "intel_error": None,
            "field": self.field,
            "values": list(self.values),
        }


def _rebuild_disagree(
    message: str, field: str, values: tuple[object, ...]
) -> VerifiersDisagreeError:
    return VerifiersDisagreeError(message, field=field, values=values)


__all__ += [
    "ITA_ERROR_CODES",
    "ItaClaimsError",
    "ItaError",
    "ItaFetchError",
    "ItaTokenError",
    "VerifiersDisagreeError",
]
