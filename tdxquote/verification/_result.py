"""The verdict: :class:`VerifiedQuote`, its QvE result code and supplemental data."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .._intel_codes import QvResult
from .._quote import Quote
from .._reports import Report
from ..collateral import EnclaveIdentityTcbLevel, TcbLevel, TcbStatus, TdxModuleTcbLevel

__all__ = ["QV_RESULTS", "QvResult", "Supplemental", "VerifiedQuote"]


QV_RESULTS: dict[TcbStatus, QvResult] = {
    TcbStatus.UP_TO_DATE: QvResult("SGX_QL_QV_RESULT_OK", 0x0000),
    TcbStatus.CONFIGURATION_NEEDED: QvResult("SGX_QL_QV_RESULT_CONFIG_NEEDED", 0xA001),
    TcbStatus.OUT_OF_DATE: QvResult("SGX_QL_QV_RESULT_OUT_OF_DATE", 0xA002),
    TcbStatus.OUT_OF_DATE_CONFIGURATION_NEEDED: QvResult(
        "SGX_QL_QV_RESULT_OUT_OF_DATE_CONFIG_NEEDED", 0xA003
    ),
    TcbStatus.SW_HARDENING_NEEDED: QvResult("SGX_QL_QV_RESULT_SW_HARDENING_NEEDED", 0xA007),
    TcbStatus.CONFIGURATION_AND_SW_HARDENING_NEEDED: QvResult(
        "SGX_QL_QV_RESULT_CONFIG_AND_SW_HARDENING_NEEDED", 0xA008
    ),
    TcbStatus.TD_RELAUNCH_ADVISED: QvResult("SGX_QL_QV_RESULT_TD_RELAUNCH_ADVISED", 0xA009),
    TcbStatus.TD_RELAUNCH_ADVISED_CONFIGURATION_NEEDED: QvResult(
        "SGX_QL_QV_RESULT_TD_RELAUNCH_ADVISED_CONFIG_NEEDED", 0xA00A
    ),
}


@dataclass(frozen=True)
class Supplemental:
    """Supplemental data as Intel's QvE gives it (``sgx_ql_qv_supplemental_t``)."""

    earliest_issue_date: datetime
    latest_issue_date: datetime
    earliest_expiration_date: datetime
    collateral_expired: bool
    tcb_level_date: datetime
    tcb_evaluation_data_number: int
    pck_crl_number: int | None
    root_ca_crl_number: int | None
    fmspc: bytes
    pce_id: bytes
    ppid: bytes
    cpu_svn: bytes
    pce_svn: int
    sgx_type: int
    platform_instance_id: bytes | None
    dynamic_platform: bool | None
    cached_keys: bool | None
    smt_enabled: bool | None
    root_key_id: bytes
    pck_ca: str


@dataclass(frozen=True)
class VerifiedQuote:
    """A quote that passed every DCAP check (and the caller's policy).

    ``status`` is the converged TCB status; ``advisory_ids`` merge the
    advisories of every matched level (platform, TDX module, QE), sorted and
    without duplicates, as Intel's DCAP 1.25 reports them.  ``qv_result`` is
    Intel's ``sgx_ql_qv_result_t`` for the status (``qv_result.code`` is its
    numeric value as Intel writes it, ``"0xA001"``).
    """

    quote: Quote
    status: TcbStatus
    advisory_ids: tuple[str, ...]
    platform_status: TcbStatus
    module_status: TcbStatus | None
    qe_status: TcbStatus
    tcb_level: TcbLevel
    sgx_tcb_level: TcbLevel
    module_tcb_level: TdxModuleTcbLevel | None
    qe_tcb_level: EnclaveIdentityTcbLevel
    relaunch_advised: bool
    supplemental: Supplemental
    checks: tuple[str, ...]

    @property
    def body(self) -> Report:
        """The verified report body."""
        return self.quote.body

    @property
    def qv_result(self) -> QvResult:
        """Intel's ``SGX_QL_QV_RESULT_*`` for the status."""
        return QV_RESULTS[self.status]

    @property
    def collateral_expired(self) -> bool:
        """True when some collateral was outside its validity (only with an unsafe policy)."""
        return self.supplemental.collateral_expired

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description of the verdict (bytes as lowercase hex)."""
        body = self.quote.body
        claims: dict[str, Any] = {k: _plain(v) for k, v in body._asdict().items()}
        return {
            "status": str(self.status),
            "advisory_ids": list(self.advisory_ids),
            "qv_result": {"name": self.qv_result.name, "value": self.qv_result.value},
            "platform_status": str(self.platform_status),
            "module_status": None if self.module_status is None else str(self.module_status),
            "qe_status": str(self.qe_status),
            "relaunch_advised": self.relaunch_advised,
            "tcb_level": _level(self.tcb_level),
            "qe_tcb_level": {
                "isvsvn": self.qe_tcb_level.isvsvn,
                "tcb_date": _plain(self.qe_tcb_level.tcb_date),
                "tcb_status": str(self.qe_tcb_level.tcb_status),
                "advisory_ids": list(self.qe_tcb_level.advisory_ids),
            },
            "module_tcb_level": None
            if self.module_tcb_level is None
            else {
                "isvsvn": self.module_tcb_level.isvsvn,
                "tcb_date": _plain(self.module_tcb_level.tcb_date),
                "tcb_status": str(self.module_tcb_level.tcb_status),
            },
            "quote": {
                "version": self.quote.version,
                "tee_type": self.quote.tee_type.name,
                "body_type": self.quote.body_type,
            },
            "body": claims,
            "supplemental": {k: _plain(v) for k, v in self.supplemental.__dict__.items()},
            "checks": list(self.checks),
        }

    def to_json(self, *, indent: int | None = 2) -> str:
        """:meth:`to_dict` as JSON text."""
        return json.dumps(self.to_dict(), indent=indent)


def _level(level: TcbLevel) -> dict[str, Any]:
    return {
        "sgx_components": list(level.sgx_components),
        "pce_svn": level.pce_svn,
        "tdx_components": None if level.tdx_components is None else list(level.tdx_components),
        "tcb_date": _plain(level.tcb_date),
        "tcb_status": str(level.tcb_status),
        "advisory_ids": list(level.advisory_ids),
    }


def _plain(value: object) -> object:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
