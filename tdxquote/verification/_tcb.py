"""TCB evaluation as Intel's QVL does it: level matching, TDX module, TD relaunch, convergence.

Intel QVL ``TcbLevelCheck.cpp``, ``TdxModuleCheck.cpp``, ``TDRelaunchCheck.cpp``;
the rules are summarised in ``docs/verification.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..collateral import TcbInfo, TcbLevel, TcbStatus, TdxModuleIdentity, TdxModuleTcbLevel
from ..errors import TcbError, TdxModuleError

__all__ = [
    "TcbEvaluation",
    "check_tdx_module_identity",
    "converge_with_module",
    "converge_with_qe",
    "evaluate_tcb",
    "match_levels",
]

S = TcbStatus
_CONFIG_NEEDED = frozenset({S.CONFIGURATION_NEEDED, S.CONFIGURATION_AND_SW_HARDENING_NEEDED})
_FRESH = frozenset({S.UP_TO_DATE, S.SW_HARDENING_NEEDED})


@dataclass(frozen=True)
class TcbEvaluation:
    """What TCB evaluation found, before the caller's policy."""

    status: TcbStatus
    platform_status: TcbStatus
    sgx_level: TcbLevel
    tdx_level: TcbLevel | None
    module_identity: TdxModuleIdentity | None
    module_level: TdxModuleTcbLevel | None
    qe_status: TcbStatus | None
    relaunch_advised: bool

    @property
    def platform_level(self) -> TcbLevel:
        """The matched level that decides the platform status (TDX level for TDX)."""
        return self.tdx_level if self.tdx_level is not None else self.sgx_level


def _converge(level: TcbStatus, other: TcbStatus | None) -> TcbStatus:
    """Intel's one rule table for both convergences below."""
    if other is S.OUT_OF_DATE:
        if level in _FRESH:
            return S.OUT_OF_DATE
        if level in _CONFIG_NEEDED:
            return S.OUT_OF_DATE_CONFIGURATION_NEEDED
    if other is S.REVOKED:
        return S.REVOKED
    return level


def converge_with_module(level: TcbStatus, module: TcbStatus | None) -> TcbStatus:
    """``convergeTcbStatusWithTdxModuleStatus``."""
    return _converge(level, module)


def converge_with_qe(level: TcbStatus, qe: TcbStatus | None) -> TcbStatus:
    """``convergeTcbStatusWithQeTcbStatus`` (QE status: UpToDate, OutOfDate or Revoked)."""
    return _converge(level, qe)


def _meets(have: bytes | tuple[int, ...], need: tuple[int, ...], start: int = 0) -> bool:
    return all(have[i] >= need[i] for i in range(start, len(need)))


def match_levels(
    levels: tuple[TcbLevel, ...],
    sgx_components: tuple[int, ...],
    pce_svn: int,
    tee_tcb_svn: bytes | None,
) -> tuple[TcbLevel | None, TcbLevel | None]:
    """``matchTcbLevels``: the first SGX-qualifying level and (TDX) the first TDX-qualifying one.

    ``levels`` must be sorted as Intel sorts them (descending).  For TDX, the
    TDX components are compared from index 2 when TEE_TCB_SVN[1] > 0, since
    indices 0 and 1 are judged by the TDX module identity.
    """
    sgx_level: TcbLevel | None = None
    start = 2 if tee_tcb_svn is not None and tee_tcb_svn[1] > 0 else 0
    for level in levels:
        if pce_svn < level.pce_svn or not _meets(sgx_components, level.sgx_components):
            continue
        if sgx_level is None:
            sgx_level = level
        if tee_tcb_svn is None:
            return sgx_level, None
        if level.tdx_components is not None and _meets(tee_tcb_svn, level.tdx_components, start):
            return sgx_level, level
    return sgx_level, None


def _module_identity_for(tcb_info: TcbInfo, module_version: int) -> TdxModuleIdentity:
    wanted = f"TDX_{module_version:02X}"
    for identity in tcb_info.tdx_module_identities:
        if identity.id.upper() == wanted:
            return identity
    raise TdxModuleError(f"the TCB Info has no TDX module identity {wanted}")


def check_tdx_module_identity(
    tcb_info: TcbInfo, tee_tcb_svn: bytes, mr_signer_seam: bytes, seam_attributes: bytes
) -> None:
    """Step 4.1.2.4.11: MRSIGNERSEAM and SEAMATTRIBUTES against the module (identity)."""
    if tee_tcb_svn[1] > 0:
        identity = _module_identity_for(tcb_info, tee_tcb_svn[1])
        mrsigner, attributes = identity.mrsigner, identity.attributes
    elif tcb_info.tdx_module is not None:
        mrsigner, attributes = tcb_info.tdx_module.mrsigner, tcb_info.tdx_module.attributes
    else:
        raise TcbError("the TDX TCB Info has no tdxModule", code="tcb_info_mismatch")
    if mr_signer_seam != mrsigner:
        raise TdxModuleError(
            f"MRSIGNERSEAM {mr_signer_seam.hex()} does not match the TDX module's {mrsigner.hex()}"
        )
    if any(seam_attributes) or seam_attributes != attributes:
        raise TdxModuleError(
            f"SEAMATTRIBUTES {seam_attributes.hex()} must be zero and equal the TDX module's "
            f"{attributes.hex()}"
        )


def _module_status(
    tcb_info: TcbInfo, tee_tcb_svn: bytes
) -> tuple[TdxModuleIdentity | None, TdxModuleTcbLevel | None]:
    if tee_tcb_svn[1] == 0:
        return None, None
    identity = _module_identity_for(tcb_info, tee_tcb_svn[1])
    for level in identity.tcb_levels:
        if tee_tcb_svn[0] >= level.isvsvn:
            return identity, level
    raise TcbError(
        f"no TCB level of TDX module identity {identity.id} is met by TEE_TCB_SVN[0] "
        f"= {tee_tcb_svn[0]}",
        code="tcb_not_supported",
    )


def _relaunch_advised(
    tcb_info: TcbInfo,
    tee_tcb_svn2: bytes,
    sgx_status: TcbStatus,
    tdx_status: TcbStatus,
    module_status: TcbStatus | None,
    qe_status: TcbStatus | None,
) -> bool:
    if qe_status in (S.OUT_OF_DATE, S.REVOKED):
        return False
    if sgx_status not in _FRESH | _CONFIG_NEEDED:
        return False
    if tdx_status not in (S.OUT_OF_DATE, S.OUT_OF_DATE_CONFIGURATION_NEEDED):
        return False
    if module_status is not S.OUT_OF_DATE:
        return False
    latest = tcb_info.tcb_levels[0]
    if latest.tdx_components is None:
        return False
    if tee_tcb_svn2[1] == 0:
        module_ok = tee_tcb_svn2[0] >= latest.tdx_components[0]
    else:
        identity = _module_identity_for(tcb_info, tee_tcb_svn2[1])
        if not identity.tcb_levels:
            raise TcbError(
                f"TDX module identity {identity.id} has no TCB levels", code="tcb_not_supported"
            )
        module_ok = tee_tcb_svn2[0] >= identity.tcb_levels[0].isvsvn
    return module_ok and tee_tcb_svn2[2] >= latest.tdx_components[2]


def _refuse_revoked(status: TcbStatus, what: str) -> None:
    if status is S.REVOKED:
        raise TcbError(f"the {what} TCB is revoked", code="tcb_revoked")


def evaluate_tcb(
    tcb_info: TcbInfo,
    *,
    sgx_components: tuple[int, ...],
    pce_svn: int,
    tee_tcb_svn: bytes | None,
    tee_tcb_svn2: bytes | None,
    qe_status: TcbStatus | None,
) -> TcbEvaluation:
    """``checkTcbLevel``: the converged status, or an error for terminal outcomes.

    ``tee_tcb_svn`` is None for SGX quotes; ``tee_tcb_svn2`` is given for TD 1.5
    bodies only (the TD relaunch check).  A pure function of its arguments:
    the verifier keeps an evaluation with the quote context it belongs to.
    """
    return _evaluate_tcb(
        tcb_info,
        sgx_components=sgx_components,
        pce_svn=pce_svn,
        tee_tcb_svn=tee_tcb_svn,
        tee_tcb_svn2=tee_tcb_svn2,
        qe_status=qe_status,
    )


def _evaluate_tcb(
    tcb_info: TcbInfo,
    *,
    sgx_components: tuple[int, ...],
    pce_svn: int,
    tee_tcb_svn: bytes | None,
    tee_tcb_svn2: bytes | None,
    qe_status: TcbStatus | None,
) -> TcbEvaluation:
    sgx_level, tdx_level = match_levels(tcb_info.tcb_levels, sgx_components, pce_svn, tee_tcb_svn)
    if sgx_level is None:
        raise TcbError(
            "no TCB level matches the platform's SGX components and PCESVN",
            code="tcb_not_supported",
        )
    sgx_status = sgx_level.tcb_status
    if tee_tcb_svn is None:
        _refuse_revoked(sgx_status, "platform")
        status = converge_with_qe(sgx_status, qe_status)
        _refuse_revoked(status, "QE")
        return TcbEvaluation(
            status, sgx_status, sgx_level, None, None, None, qe_status, relaunch_advised=False
        )
    if tdx_level is None:
        raise TcbError(
            "no TCB level matches the platform's TDX components (TEE_TCB_SVN)",
            code="tcb_not_supported",
        )
    identity, module_level = _module_status(tcb_info, tee_tcb_svn)
    module_status = module_level.tcb_status if module_level is not None else None
    tdx_status = converge_with_module(tdx_level.tcb_status, module_status)
    _refuse_revoked(tdx_status, "platform or TDX module")
    relaunch = False
    if tee_tcb_svn2 is not None and _relaunch_advised(
        tcb_info, tee_tcb_svn2, sgx_status, tdx_status, module_status, qe_status
    ):
        relaunch = True
        configured = sgx_status in _CONFIG_NEEDED or tdx_status in (
            _CONFIG_NEEDED | {S.OUT_OF_DATE_CONFIGURATION_NEEDED}
        )
        tdx_status = (
            S.TD_RELAUNCH_ADVISED_CONFIGURATION_NEEDED if configured else S.TD_RELAUNCH_ADVISED
        )
    status = converge_with_qe(tdx_status, qe_status)
    _refuse_revoked(status, "QE")
    return TcbEvaluation(
        status, tdx_status, sgx_level, tdx_level, identity, module_level, qe_status, relaunch
    )
