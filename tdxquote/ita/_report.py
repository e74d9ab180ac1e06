"""The ``cert`` / ``probe`` report with Intel Trust Authority's verdict instead of DCAP's.

:func:`certificate_report` reports what the certificate carries exactly as
:func:`tdxquote.ratls.certificate_report` does, then verifies it with
:func:`tdxquote.ratls.verify_certificate` (key binding, event-log replay,
key usage, the policy, the runtime-event pins) with the quote appraised by
ITA, and checks that the token's ``tdx_report_data`` binds the
certificate's key.  The verdict's ``mode`` is ``"ita"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from tdxquote.errors import ItaFetchError, VerificationError
from tdxquote.ratls import certificate_report as dcap_report
from tdxquote.ratls import verify_certificate
from tdxquote.ratls._chain import CertificateInput
from tdxquote.ratls._key_usage import Role
from tdxquote.ratls._report import _failure, _refusal, _settle_app_info
from tdxquote.ratls._verify import EventPins, MeasurementPin, VerifiedCertificate
from tdxquote.verification import Policy

from . import _checks as check
from ._client import ItaClient
from ._result import ItaVerifiedQuote
from ._verifiers import ItaQuoteVerifier, _check_token_binding

__all__ = ["ITA_MODE", "certificate_report"]

ITA_MODE = "ita"
"""The verdict's ``mode`` when ITA appraised the quote."""


def certificate_report(
    cert_or_chain: CertificateInput,
    *,
    client: ItaClient,
    now: datetime,
    policy: Policy | None = None,
    expect_events: EventPins | None = None,
    expect_mr_aggregated: MeasurementPin | None = None,
    role: Role | None = None,
) -> dict[str, Any]:
    """What ``cert_or_chain`` carries and ITA's verdict, JSON-ready (``cert --json``'s report).

    Never raises for anything about the certificate or the service: a
    certificate that does not decode or bind is refused before ITA is asked;
    a service that cannot be asked gives a verdict error with the
    :class:`~tdxquote.errors.ItaFetchError`'s code, ``url``, ``status`` and
    ``request_id``.
    """
    report = dcap_report(cert_or_chain, now=now, role=role)
    verdict: dict[str, Any] = report["verdict"]
    error = verdict.get("error") or {}
    if error.get("code") != "no_collateral":
        verdict["mode"] = ITA_MODE  # refused before any quote verification
        return report
    checks: Sequence[str] = error.get("checks_passed", ())
    try:
        verified = verify_certificate(
            cert_or_chain,
            now=now,
            verifier=ItaQuoteVerifier(client),
            policy=policy,
            expect_events=expect_events,
            expect_mr_aggregated=expect_mr_aggregated,
            role=role,
        )
        report["verdict"] = _accepted(verified, now)
    except VerificationError as refusal:
        report["verdict"] = _refusal(ITA_MODE, refusal)
    except ItaFetchError as failure:
        report["verdict"] = _failure(
            ITA_MODE,
            {
                "code": failure.code,
                "message": str(failure),
                "url": failure.url,
                "status": failure.status,
                "request_id": failure.request_id,
                "checks_passed": list(checks),
            },
        )
    _settle_app_info(report)
    return report


def _accepted(verified: VerifiedCertificate, now: datetime) -> dict[str, Any]:
    """The verdict, once the token's ``tdx_report_data`` is found to bind the key too."""
    quote = verified.verified_quote
    assert isinstance(quote, ItaVerifiedQuote)
    try:
        _check_token_binding(quote, verified.certificate.binding.expected)
    except VerificationError as error:
        error.checks_passed = verified.checks
        raise
    return {
        "ok": True,
        "attested": True,
        "mode": ITA_MODE,
        "at": _iso(now),
        "status": str(quote.status),
        "advisory_ids": list(quote.advisory_ids),
        "qv_result": {"name": quote.qv_result.name, "value": quote.qv_result.value},
        "collateral_expired": False,
        "checks": [*verified.checks, check.BINDS_KEY],
        "token": {k: v for k, v in quote.token.to_dict().items() if k != "claims"},
    }


def _iso(when: datetime) -> str:
    return when.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
