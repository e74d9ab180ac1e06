"""An ITA verdict as the same :class:`~tdxquote.VerifiedQuote` the DCAP path returns.

The quote is parsed locally and the token's claims must equal its fields
(:func:`~._claims.match_quote`), so ``verified.quote`` and ``verified.body``
are the quote's own.  The TCB part comes from the token: the status, the
advisory IDs and the TCB date.  What ITA does not report is filled so that
a policy needing it refuses rather than passes (documented in
``docs/ita.md``):

* ``platform_status`` and ``qe_status`` are both the token's status, and
  both levels carry its TCB date: an OutOfDate token is excused only when
  both grace periods hold for that date, and no grace excuses another
  status;
* ``module_status`` and ``module_tcb_level`` are None;
* the supplemental data has no FMSPC, PCK or CRL facts: SGX type -1,
  dynamic platform / cached keys / SMT unknown (None), TCB evaluation data
  number 0; its issue and expiration dates are the token's ``iat`` and
  ``exp``, and ``collateral_expired`` is False (the token's times were
  checked).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from tdxquote._quote import Quote
from tdxquote.collateral import EnclaveIdentityTcbLevel, TcbLevel, TcbStatus
from tdxquote.errors import VerificationError
from tdxquote.verification import Policy, Supplemental, TcbError, VerifiedQuote
from tdxquote.verification._verifier import to_datetime

from . import _checks as check
from ._checks import ITA_CHECKS
from ._claims import TdxClaims, match_quote, read_claims
from ._token import ItaToken

__all__ = ["ITA_CHECKS", "ItaVerifiedQuote", "appraise_token"]


_UNKNOWN_DATE = datetime(1970, 1, 1, tzinfo=timezone.utc)
_OUT_OF_DATE = frozenset({TcbStatus.OUT_OF_DATE, TcbStatus.OUT_OF_DATE_CONFIGURATION_NEEDED})
_RELAUNCH = frozenset(
    {TcbStatus.TD_RELAUNCH_ADVISED, TcbStatus.TD_RELAUNCH_ADVISED_CONFIGURATION_NEEDED}
)


@dataclass(frozen=True)
class ItaVerifiedQuote(VerifiedQuote):
    """A quote Intel Trust Authority appraised: a :class:`~tdxquote.VerifiedQuote`.

    ``token`` is the verified token, ``claims`` its TDX claims (all equal
    to the quote's fields).  See the module documentation for the fields
    ITA does not report.
    """

    token: ItaToken
    claims: TdxClaims

    @property
    def backend(self) -> str:
        """``"ita"``."""
        return "ita"

    def to_dict(self) -> dict[str, Any]:
        """As :meth:`VerifiedQuote.to_dict`, with the token, and null for what ITA omits."""
        result = super().to_dict()
        tcb_date = self.claims.tcb_date
        result.update(
            {
                "backend": "ita",
                "platform_status": None,
                "qe_status": None,
                "tcb_level": {
                    "tcb_date": None if tcb_date is None else _iso(tcb_date),
                    "tcb_status": str(self.status),
                    "advisory_ids": list(self.advisory_ids),
                },
                "qe_tcb_level": None,
                "module_tcb_level": None,
                "supplemental": None,
                "token": self.token.to_dict(),
            }
        )
        return result


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def appraise_token(
    token: ItaToken,
    quote: Quote,
    *,
    now: datetime | int | float,
    policy: Policy | None = None,
) -> ItaVerifiedQuote:
    """The verdict on ``quote`` from its verified ``token``, then ``policy`` (default ``Policy()``).

    Raises :class:`~tdxquote.errors.ItaClaimsError` when the claims are
    unusable or disagree with the quote, :class:`~tdxquote.verification.TcbError`
    (``tcb_revoked``) for a Revoked status, or the policy's
    :class:`~tdxquote.verification.PolicyError`.
    """
    when = to_datetime(now)
    passed = list(check.TOKEN_CHECKS)
    try:
        claims = read_claims(token.claims)
        passed.append(check.CLAIMS)
        match_quote(claims, quote)
        passed.append(check.CLAIMS_MATCH_QUOTE)
        if claims.tcb_status is TcbStatus.REVOKED:
            raise TcbError("ITA reports the TCB as Revoked", code="tcb_revoked")
    except VerificationError as error:
        error.checks_passed = tuple(passed)
        raise
    status = claims.tcb_status
    tcb_date = claims.tcb_date if claims.tcb_date is not None else _UNKNOWN_DATE
    level = TcbLevel(
        sgx_components=(),
        pce_svn=-1,
        tdx_components=None,
        tcb_date=tcb_date,
        tcb_status=status,
        advisory_ids=claims.advisory_ids,
    )
    # ITA does not say whether the platform or the QE is out of date: an OutOfDate
    # status marks both, so only both grace periods together can excuse it, and no
    # grace excuses any other status (the QE level is then up to date).
    qe_level = EnclaveIdentityTcbLevel(
        isvsvn=-1,
        tcb_date=tcb_date,
        tcb_status=status if status in _OUT_OF_DATE else TcbStatus.UP_TO_DATE,
        advisory_ids=(),
    )
    supplemental = Supplemental(
        earliest_issue_date=token.issued_at,
        latest_issue_date=token.issued_at,
        earliest_expiration_date=token.expires_at,
        collateral_expired=False,
        tcb_level_date=tcb_date,
        tcb_evaluation_data_number=0,
        pck_crl_number=None,
        root_ca_crl_number=None,
        fmspc=b"",
        pce_id=b"",
        ppid=b"",
        cpu_svn=b"",
        pce_svn=-1,
        sgx_type=-1,
        platform_instance_id=None,
        dynamic_platform=None,
        cached_keys=None,
        smt_enabled=None,
        root_key_id=b"",
        pck_ca="",
    )
    verified = ItaVerifiedQuote(
        quote=quote,
        status=status,
        advisory_ids=claims.advisory_ids,
        platform_status=status,
        module_status=None,
        qe_status=status,
        tcb_level=level,
        sgx_tcb_level=level,
        module_tcb_level=None,
        qe_tcb_level=qe_level,
        relaunch_advised=status in _RELAUNCH,
        supplemental=supplemental,
        checks=ITA_CHECKS,
        token=token,
        claims=claims,
    )
    try:
        (policy if policy is not None else Policy()).apply(verified, when)
    except VerificationError as error:
        error.checks_passed = ITA_CHECKS
        raise
    return verified
