"""The TDX claims of an ITA token, read strictly and held against the quote.

v2 tokens (``/appraisal/v2/attest``) carry the TDX claims in a ``"tdx"``
object; v1 tokens carry them at the top level.  Byte claims are hex of the
raw quote bytes, in quote order.  Every byte claim present must equal the
quote's own field, and the decoded attribute claims must agree with
TD_ATTRIBUTES: a token that says anything the quote does not is refused
(``ita_claims_mismatch``).  Intel's clients and TeeSQL's verifier compare
nothing with the quote.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from tdxquote._quote import Quote
from tdxquote._reports import SgxReport, TdReport
from tdxquote.collateral import TcbStatus
from tdxquote.errors import ItaClaimsError

__all__ = [
    "BYTE_CLAIMS",
    "REQUIRED_CLAIMS",
    "TdxClaims",
    "match_quote",
    "read_claims",
]

BYTE_CLAIMS: dict[str, tuple[str, int]] = {
    "tdx_mrtd": ("mr_td", 48),
    "tdx_mrseam": ("mr_seam", 48),
    "tdx_mrsignerseam": ("mr_signer_seam", 48),
    "tdx_mrconfigid": ("mr_config_id", 48),
    "tdx_mrowner": ("mr_owner", 48),
    "tdx_mrownerconfig": ("mr_owner_config", 48),
    "tdx_rtmr0": ("rtmr0", 48),
    "tdx_rtmr1": ("rtmr1", 48),
    "tdx_rtmr2": ("rtmr2", 48),
    "tdx_rtmr3": ("rtmr3", 48),
    "tdx_report_data": ("report_data", 64),
    "tdx_tee_tcb_svn": ("tee_tcb_svn", 16),
    "tdx_td_attributes": ("td_attributes", 8),
    "tdx_xfam": ("xfam", 8),
    "tdx_seam_attributes": ("seam_attributes", 8),
}
"""Hex claim -> (quote body field, size in bytes)."""

REQUIRED_CLAIMS: tuple[str, ...] = (
    "tdx_mrtd",
    "tdx_mrseam",
    "tdx_rtmr0",
    "tdx_rtmr1",
    "tdx_rtmr2",
    "tdx_rtmr3",
    "tdx_report_data",
    "tdx_td_attributes",
    "attester_type",
    "attester_tcb_status",
)
"""Claims a TDX token must carry (the rest are checked when present)."""

# Boolean claim -> TD_ATTRIBUTES bit it decodes.
_ATTRIBUTE_CLAIMS: dict[str, int] = {
    "tdx_td_attributes_debug": 0,
    "tdx_is_debuggable": 0,
    "tdx_td_attributes_septve_disable": 28,
    "tdx_td_attributes_protection_keys": 30,
    "tdx_td_attributes_key_locker": 31,
    "tdx_td_attributes_perfmon": 63,
}

_HEX = re.compile(r"[0-9a-fA-F]*")
_MAX_ADVISORIES = 1000


def _invalid(message: str, claim: str, actual: object = None) -> ItaClaimsError:
    return ItaClaimsError(message, claim=claim, actual=actual, code="ita_claims_invalid")


def _mismatch(claim: str, expected: object, actual: object) -> ItaClaimsError:
    return ItaClaimsError(
        f"the token's {claim} is {actual}, the quote's is {expected}",
        claim=claim,
        expected=expected,
        actual=actual,
        code="ita_claims_mismatch",
    )


def _hex_claim(value: object, claim: str, size: int) -> bytes:
    if not isinstance(value, str) or len(value) != 2 * size or not _HEX.fullmatch(value):
        raise _invalid(f"{claim} is not {size} bytes of hex", claim, _short(value))
    return bytes.fromhex(value)


def _short(value: object) -> object:
    text = repr(value)
    return text if len(text) <= 200 else text[:200] + "..."


def _tcb_date(value: object) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 64:
        raise _invalid(
            "attester_tcb_date is not an RFC 3339 time", "attester_tcb_date", _short(value)
        )
    text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise _invalid(
            "attester_tcb_date is not an RFC 3339 time", "attester_tcb_date", _short(value)
        ) from None
    return when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class TdxClaims:
    """The TDX claims of a verified token.

    ``values`` maps each byte claim present to its bytes; ``flags`` each
    boolean attribute claim present.  ``tcb_date`` is None when the token
    has none.  ``layout`` is ``"v2"`` or ``"v1"``.  ``raw`` is the claim
    object as signed.
    """

    layout: str
    raw: Mapping[str, Any]
    values: Mapping[str, bytes]
    flags: Mapping[str, bool]
    tcb_status: TcbStatus
    tcb_date: datetime | None
    advisory_ids: tuple[str, ...]
    seam_svn: int | None
    dbgstat: str | None

    def value(self, claim: str) -> bytes | None:
        """A byte claim (``"tdx_mrtd"``...), None when absent."""
        return self.values.get(claim)


def read_claims(claims: Mapping[str, Any]) -> TdxClaims:
    """The TDX claims of a token's payload (v2 ``"tdx"`` object, else v1 top level)."""
    if "tdx" in claims:
        tdx = claims["tdx"]
        if not isinstance(tdx, dict):
            raise _invalid('the "tdx" claim is not an object', "tdx", _short(tdx))
        layout = "v2"
    else:
        tdx, layout = claims, "v1"
    missing = [name for name in REQUIRED_CLAIMS if tdx.get(name) is None]
    if missing:
        raise _invalid(f"the token has no {', '.join(missing)} claim", missing[0])
    if tdx["attester_type"] != "TDX":
        raise _invalid(f"attester_type is {_short(tdx['attester_type'])}, not TDX", "attester_type")
    values = {
        claim: _hex_claim(tdx[claim], claim, size)
        for claim, (_, size) in BYTE_CLAIMS.items()
        if tdx.get(claim) is not None
    }
    flags = {}
    for claim in _ATTRIBUTE_CLAIMS:
        value = tdx.get(claim)
        if value is None:
            continue
        if not isinstance(value, bool):
            raise _invalid(f"{claim} is not a boolean", claim, _short(value))
        flags[claim] = value
    status_text = tdx["attester_tcb_status"]
    try:
        status = TcbStatus(status_text)
    except ValueError:
        raise _invalid(
            f"attester_tcb_status {_short(status_text)} is not a TCB status",
            "attester_tcb_status",
            _short(status_text),
        ) from None
    advisories = tdx.get("attester_advisory_ids")
    if advisories is None:
        advisory_ids: tuple[str, ...] = ()
    elif (
        isinstance(advisories, list)
        and len(advisories) <= _MAX_ADVISORIES
        and all(isinstance(a, str) and 0 < len(a) <= 64 for a in advisories)
    ):
        advisory_ids = tuple(dict.fromkeys(advisories))
    else:
        raise _invalid(
            "attester_advisory_ids is not a list of IDs",
            "attester_advisory_ids",
            _short(advisories),
        )
    seam_svn = tdx.get("tdx_seamsvn")
    if seam_svn is not None and (
        isinstance(seam_svn, bool) or not isinstance(seam_svn, int) or not 0 <= seam_svn < 1 << 16
    ):
        raise _invalid("tdx_seamsvn is not a 16-bit integer", "tdx_seamsvn", _short(seam_svn))
    dbgstat = tdx.get("dbgstat")
    if dbgstat is not None and not isinstance(dbgstat, str):
        raise _invalid("dbgstat is not a string", "dbgstat", _short(dbgstat))
    return TdxClaims(
        layout=layout,
        raw=tdx,
        values=values,
        flags=flags,
        tcb_status=status,
        tcb_date=_tcb_date(tdx.get("attester_tcb_date")),
        advisory_ids=advisory_ids,
        seam_svn=seam_svn,
        dbgstat=dbgstat,
    )


def _seam_svns(body: TdReport) -> set[int]:
    svns = {int.from_bytes(body.tee_tcb_svn[:2], "little")}
    second = getattr(body, "tee_tcb_svn2", None)
    if second is not None:
        svns.add(int.from_bytes(second[:2], "little"))
    return svns


def match_quote(claims: TdxClaims, quote: Quote) -> TdReport:
    """The quote's TD report, once every claim agrees with it (else ``ita_claims_mismatch``)."""
    body = quote.body
    if isinstance(body, SgxReport):
        raise _invalid("the quote is an SGX enclave's, not a TD's", "attester_type", "SGX")
    for claim, value in claims.values.items():
        field_name, _ = BYTE_CLAIMS[claim]
        own = getattr(body, field_name)
        if value != own:
            raise _mismatch(claim, own.hex(), value.hex())
    attributes = int.from_bytes(body.td_attributes, "little")
    for claim, flag in claims.flags.items():
        own_flag = bool(attributes >> _ATTRIBUTE_CLAIMS[claim] & 1)
        if flag != own_flag:
            raise _mismatch(claim, own_flag, flag)
    if claims.dbgstat is not None:
        debug_says = claims.dbgstat == "enabled"
        if not debug_says and not claims.dbgstat.startswith("disabled"):
            raise _invalid(f"dbgstat {claims.dbgstat!r} is unknown", "dbgstat", claims.dbgstat)
        if debug_says != body.is_debug:
            raise _mismatch("dbgstat", "enabled" if body.is_debug else "disabled", claims.dbgstat)
    if claims.seam_svn is not None:
        svns = _seam_svns(body)
        if claims.seam_svn not in svns:
            raise _mismatch("tdx_seamsvn", sorted(svns), claims.seam_svn)
    return body
