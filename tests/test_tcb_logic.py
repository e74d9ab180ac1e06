"""Unit tests of the TCB evaluation: convergence, level matching, TD relaunch, QvE results.

Small hand-made TCB Info documents (``tdxquote.testing.pki`` builders, parsed by
``TcbInfo.from_signed_body``) against the rules of Intel's QVL
(``TcbLevelCheck.cpp``, ``TdxModuleCheck.cpp``, ``TDRelaunchCheck.cpp``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest

from tdxquote.collateral import (
    EnclaveIdentityTcbLevel,
    TcbInfo,
    TcbLevel,
    TcbStatus,
)
from tdxquote.testing.pki import (
    DEFAULT_TCB_DATE,
    isv_tcb_level,
    tcb_info,
    tcb_level,
    tdx_module_identity,
)
from tdxquote.verification import TcbError, TdxModuleError
from tdxquote.verification._qe import qe_status_of
from tdxquote.verification._result import QV_RESULTS
from tdxquote.verification._tcb import (
    converge_with_module,
    converge_with_qe,
    evaluate_tcb,
    match_levels,
)

S = TcbStatus
SGX = (5,) * 16
PCE_SVN = 13


def _svn(*head: int) -> bytes:
    return bytes(head) + bytes(16 - len(head))


def _info(
    levels: Sequence[dict[str, Any]],
    *,
    identities: Sequence[dict[str, Any]] | None = None,
    id: str = "TDX",
) -> TcbInfo:
    body = tcb_info(id=id, tcb_levels=levels, tdx_module_identities=identities)
    return TcbInfo.from_signed_body(json.dumps(body), bytes(64))


def _tdx_level(tdx: Sequence[int], status: str = "UpToDate", **kw: Any) -> dict[str, Any]:
    return tcb_level(
        sgx=SGX, pce_svn=PCE_SVN, tdx=list(tdx) + [0] * (16 - len(tdx)), status=status, **kw
    )


def _module(*levels: tuple[int, str], id: str = "TDX_01") -> dict[str, Any]:
    return tdx_module_identity(id, tcb_levels=[isv_tcb_level(n, status=s) for n, s in levels])


# --- convergence (QVL TcbLevelCheck.cpp) ------------------------------------------------

PLATFORM_STATUSES = (
    S.UP_TO_DATE,
    S.SW_HARDENING_NEEDED,
    S.CONFIGURATION_NEEDED,
    S.CONFIGURATION_AND_SW_HARDENING_NEEDED,
    S.OUT_OF_DATE,
    S.OUT_OF_DATE_CONFIGURATION_NEEDED,
    S.REVOKED,
)

# Intel's table for an OutOfDate module / QE: only fresh and configuration statuses move.
OUT_OF_DATE_CONVERGENCE = {
    S.UP_TO_DATE: S.OUT_OF_DATE,
    S.SW_HARDENING_NEEDED: S.OUT_OF_DATE,
    S.CONFIGURATION_NEEDED: S.OUT_OF_DATE_CONFIGURATION_NEEDED,
    S.CONFIGURATION_AND_SW_HARDENING_NEEDED: S.OUT_OF_DATE_CONFIGURATION_NEEDED,
    S.OUT_OF_DATE: S.OUT_OF_DATE,
    S.OUT_OF_DATE_CONFIGURATION_NEEDED: S.OUT_OF_DATE_CONFIGURATION_NEEDED,
    S.REVOKED: S.REVOKED,
    S.TD_RELAUNCH_ADVISED: S.TD_RELAUNCH_ADVISED,
    S.TD_RELAUNCH_ADVISED_CONFIGURATION_NEEDED: S.TD_RELAUNCH_ADVISED_CONFIGURATION_NEEDED,
}


@pytest.mark.parametrize("converge", [converge_with_module, converge_with_qe])
@pytest.mark.parametrize("level", list(OUT_OF_DATE_CONVERGENCE))
def test_out_of_date_convergence(converge: Any, level: TcbStatus) -> None:
    assert converge(level, S.OUT_OF_DATE) is OUT_OF_DATE_CONVERGENCE[level]


@pytest.mark.parametrize("converge", [converge_with_module, converge_with_qe])
@pytest.mark.parametrize("level", list(OUT_OF_DATE_CONVERGENCE))
def test_revoked_wins_and_uptodate_or_absent_passes_through(
    converge: Any, level: TcbStatus
) -> None:
    assert converge(level, S.REVOKED) is S.REVOKED
    assert converge(level, S.UP_TO_DATE) is level
    assert converge(level, None) is level


def test_configuration_needed_with_out_of_date_qe_is_not_plain_out_of_date() -> None:
    # dcap-qvl's max-severity merge gives OutOfDate here; Intel keeps "configuration".
    assert converge_with_qe(S.CONFIGURATION_NEEDED, S.OUT_OF_DATE) is (
        S.OUT_OF_DATE_CONFIGURATION_NEEDED
    )


@pytest.mark.parametrize(
    ("level_status", "expected"),
    [
        (S.UP_TO_DATE, S.UP_TO_DATE),
        (S.REVOKED, S.REVOKED),
        (S.OUT_OF_DATE, S.OUT_OF_DATE),
        (S.CONFIGURATION_NEEDED, S.OUT_OF_DATE),
        (S.OUT_OF_DATE_CONFIGURATION_NEEDED, S.OUT_OF_DATE),
    ],
)
def test_qe_level_reading(level_status: TcbStatus, expected: TcbStatus) -> None:
    level = EnclaveIdentityTcbLevel(4, DEFAULT_TCB_DATE, level_status, ())
    assert qe_status_of(level) is expected


# --- level matching (matchTcbLevels) ----------------------------------------------------


def test_levels_are_sorted_descending_whatever_the_json_order() -> None:
    ascending = [
        _tdx_level([1, 0, 1], "OutOfDate"),
        _tdx_level([1, 0, 2], "OutOfDate"),
        _tdx_level([1, 0, 3]),
    ]
    info = _info(ascending)
    assert [level.tdx_components[:3] for level in info.tcb_levels] == [  # type: ignore[index]
        (1, 0, 3),
        (1, 0, 2),
        (1, 0, 1),
    ]
    sgx, tdx = match_levels(info.tcb_levels, SGX, PCE_SVN, _svn(1, 0, 2))
    assert tdx is not None
    assert tdx.tdx_components[:3] == (1, 0, 2)
    assert sgx is info.tcb_levels[0]


def test_sgx_levels_need_every_component_and_the_pce_svn() -> None:
    levels = [
        tcb_level(sgx=[6] + [5] * 15, pce_svn=PCE_SVN, status="UpToDate"),
        tcb_level(sgx=SGX, pce_svn=PCE_SVN + 1, status="SWHardeningNeeded"),
        tcb_level(sgx=SGX, pce_svn=PCE_SVN, status="OutOfDate"),
    ]
    info = _info(levels, id="SGX")
    sgx, tdx = match_levels(info.tcb_levels, SGX, PCE_SVN, None)
    assert tdx is None
    assert sgx is not None
    assert sgx.tcb_status is S.OUT_OF_DATE
    assert match_levels(info.tcb_levels, (4,) * 16, PCE_SVN, None) == (None, None)
    assert match_levels(info.tcb_levels, SGX, PCE_SVN - 1, None) == (None, None)


def test_tdx_level_may_be_below_the_sgx_level() -> None:
    info = _info([_tdx_level([1, 0, 5]), _tdx_level([1, 0, 3], "OutOfDate")])
    sgx, tdx = match_levels(info.tcb_levels, SGX, PCE_SVN, _svn(1, 0, 4))
    assert sgx is info.tcb_levels[0]
    assert tdx is info.tcb_levels[1]


def test_tdx_components_from_index_2_when_the_module_version_is_set() -> None:
    # Level needs TEE_TCB_SVN[0] >= 6; the TD's module SVN is 4 but its version (index 1)
    # is 1: indices 0 and 1 are the module identity's business, not the level's.
    info = _info([_tdx_level([6, 1, 3])], identities=[_module((4, "UpToDate"))])
    _sgx, tdx = match_levels(info.tcb_levels, SGX, PCE_SVN, _svn(4, 1, 3))
    assert tdx is info.tcb_levels[0]
    evaluation = evaluate_tcb(
        info,
        sgx_components=SGX,
        pce_svn=PCE_SVN,
        tee_tcb_svn=_svn(4, 1, 3),
        tee_tcb_svn2=None,
        qe_status=S.UP_TO_DATE,
    )
    assert evaluation.status is S.UP_TO_DATE


def test_tdx_components_from_index_0_without_module_version() -> None:
    info = _info([_tdx_level([6, 0, 3])])
    assert match_levels(info.tcb_levels, SGX, PCE_SVN, _svn(4, 0, 3))[1] is None
    assert match_levels(info.tcb_levels, SGX, PCE_SVN, _svn(6, 0, 3))[1] is info.tcb_levels[0]


def test_index_2_rule_still_compares_index_2_and_above() -> None:
    info = _info([_tdx_level([0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])])
    assert match_levels(info.tcb_levels, SGX, PCE_SVN, _svn(9, 9, 3))[1] is None
    assert match_levels(info.tcb_levels, SGX, PCE_SVN, _svn(0, 1, 2))[1] is None
    full = _svn(0, 1, 3)[:15] + b"\x01"
    assert match_levels(info.tcb_levels, SGX, PCE_SVN, full)[1] is info.tcb_levels[0]


# --- evaluate_tcb: terminal outcomes --------------------------------------------------


def _evaluate(info: TcbInfo, svn: bytes | None, svn2: bytes | None = None, **kw: Any) -> Any:
    options: dict[str, Any] = {
        "sgx_components": SGX,
        "pce_svn": PCE_SVN,
        "tee_tcb_svn": svn,
        "tee_tcb_svn2": svn2,
        "qe_status": S.UP_TO_DATE,
    }
    options.update(kw)
    return evaluate_tcb(info, **options)


def test_no_sgx_level_is_tcb_not_supported() -> None:
    info = _info([_tdx_level([1, 0, 1])])
    with pytest.raises(TcbError) as caught:
        _evaluate(info, _svn(1, 0, 1), sgx_components=(4,) * 16)
    assert caught.value.code == "tcb_not_supported"


def test_no_tdx_level_is_tcb_not_supported() -> None:
    info = _info([_tdx_level([1, 0, 5])])
    with pytest.raises(TcbError) as caught:
        _evaluate(info, _svn(1, 0, 4))
    assert caught.value.code == "tcb_not_supported"


def test_revoked_platform_is_terminal() -> None:
    info = _info([tcb_level(sgx=SGX, pce_svn=PCE_SVN, status="Revoked")], id="SGX")
    with pytest.raises(TcbError) as caught:
        _evaluate(info, None)
    assert caught.value.code == "tcb_revoked"


def test_revoked_module_is_terminal() -> None:
    info = _info([_tdx_level([0, 0, 3])], identities=[_module((4, "Revoked"))])
    with pytest.raises(TcbError) as caught:
        _evaluate(info, _svn(4, 1, 3))
    assert caught.value.code == "tcb_revoked"


def test_missing_module_identity_is_a_module_mismatch() -> None:
    info = _info([_tdx_level([0, 0, 3])], identities=[_module((4, "UpToDate"))])
    with pytest.raises(TdxModuleError):
        _evaluate(info, _svn(4, 2, 3))


def test_module_svn_below_every_module_level_is_not_supported() -> None:
    info = _info([_tdx_level([0, 0, 3])], identities=[_module((5, "UpToDate"))])
    with pytest.raises(TcbError) as caught:
        _evaluate(info, _svn(4, 1, 3))
    assert caught.value.code == "tcb_not_supported"


def test_module_levels_are_taken_highest_first() -> None:
    identity = _module((2, "OutOfDate"), (6, "UpToDate"), (4, "OutOfDate"))
    info = _info([_tdx_level([0, 0, 3])], identities=[identity])
    assert _evaluate(info, _svn(6, 1, 3)).status is S.UP_TO_DATE
    evaluation = _evaluate(info, _svn(5, 1, 3))
    assert evaluation.status is S.OUT_OF_DATE
    assert evaluation.module_level.isvsvn == 4


def test_sgx_status_converges_with_the_qe() -> None:
    info = _info([tcb_level(sgx=SGX, pce_svn=PCE_SVN, status="ConfigurationNeeded")], id="SGX")
    evaluation = _evaluate(info, None, qe_status=S.OUT_OF_DATE)
    assert evaluation.status is S.OUT_OF_DATE_CONFIGURATION_NEEDED
    assert evaluation.platform_status is S.CONFIGURATION_NEEDED


# --- evaluate_tcb: the TD relaunch check (TDRelaunchCheck.cpp) --------------------------

# The newest level needs TDX component 2 >= 3 and module TDX_01 >= 6; the TD launched on
# module SVN 4 (OutOfDate), the module loaded now (TEE_TCB_SVN2) is SVN 6.
RELAUNCH_LEVELS = [_tdx_level([0, 0, 3]), _tdx_level([0, 0, 2], "OutOfDate")]
RELAUNCH_MODULE = _module((6, "UpToDate"), (4, "OutOfDate"))
LAUNCHED = _svn(4, 1, 3)
LOADED = _svn(6, 1, 3)


def _relaunch_info(levels: Sequence[dict[str, Any]] = RELAUNCH_LEVELS) -> TcbInfo:
    return _info(levels, identities=[RELAUNCH_MODULE])


def test_td_relaunch_advised() -> None:
    evaluation = _evaluate(_relaunch_info(), LAUNCHED, LOADED)
    assert evaluation.status is S.TD_RELAUNCH_ADVISED
    assert evaluation.relaunch_advised


def test_td_relaunch_advised_configuration_needed() -> None:
    levels = [_tdx_level([0, 0, 3], "ConfigurationNeeded")]
    evaluation = _evaluate(_relaunch_info(levels), LAUNCHED, LOADED)
    assert evaluation.status is S.TD_RELAUNCH_ADVISED_CONFIGURATION_NEEDED


def test_no_relaunch_without_tee_tcb_svn2() -> None:
    evaluation = _evaluate(_relaunch_info(), LAUNCHED, None)
    assert evaluation.status is S.OUT_OF_DATE
    assert not evaluation.relaunch_advised


@pytest.mark.parametrize(
    ("why", "changes", "expected"),
    [
        ("qe_out_of_date", {"qe_status": S.OUT_OF_DATE}, S.OUT_OF_DATE),
        ("loaded_module_still_old", {"tee_tcb_svn2": _svn(5, 1, 3)}, S.OUT_OF_DATE),
        ("loaded_component_2_old", {"tee_tcb_svn2": _svn(6, 1, 2)}, S.OUT_OF_DATE),
        ("module_up_to_date", {"tee_tcb_svn": LOADED}, S.UP_TO_DATE),
    ],
)
def test_no_relaunch_when_a_condition_fails(
    why: str, changes: dict[str, Any], expected: TcbStatus
) -> None:
    options: dict[str, Any] = {"tee_tcb_svn2": LOADED}
    options.update(changes)
    svn = options.pop("tee_tcb_svn", LAUNCHED)
    evaluation = _evaluate(_relaunch_info(), svn, options.pop("tee_tcb_svn2"), **options)
    assert evaluation.status is expected, why
    assert not evaluation.relaunch_advised


def test_no_relaunch_when_the_platform_is_out_of_date() -> None:
    levels = [_tdx_level([0, 0, 3], "OutOfDate")]
    evaluation = _evaluate(_relaunch_info(levels), LAUNCHED, LOADED)
    assert evaluation.status is S.OUT_OF_DATE
    assert not evaluation.relaunch_advised


def test_relaunch_against_the_newest_level_with_module_version_0() -> None:
    # TEE_TCB_SVN2[1] == 0: the loaded module is judged by the newest level's component 0.
    levels = [_tdx_level([6, 0, 3]), _tdx_level([0, 0, 3], "OutOfDate")]
    info = _info(levels, identities=[RELAUNCH_MODULE])
    assert _evaluate(info, LAUNCHED, _svn(6, 0, 3)).status is S.TD_RELAUNCH_ADVISED
    assert _evaluate(info, LAUNCHED, _svn(5, 0, 3)).status is S.OUT_OF_DATE


def test_relaunch_needs_the_loaded_module_identity() -> None:
    with pytest.raises(TdxModuleError):
        _evaluate(_relaunch_info(), LAUNCHED, _svn(6, 2, 3))


# --- status -> QvE result ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "name", "value"),
    [
        (S.UP_TO_DATE, "SGX_QL_QV_RESULT_OK", 0x0000),
        (S.CONFIGURATION_NEEDED, "SGX_QL_QV_RESULT_CONFIG_NEEDED", 0xA001),
        (S.OUT_OF_DATE, "SGX_QL_QV_RESULT_OUT_OF_DATE", 0xA002),
        (S.OUT_OF_DATE_CONFIGURATION_NEEDED, "SGX_QL_QV_RESULT_OUT_OF_DATE_CONFIG_NEEDED", 0xA003),
        (S.SW_HARDENING_NEEDED, "SGX_QL_QV_RESULT_SW_HARDENING_NEEDED", 0xA007),
        (
            S.CONFIGURATION_AND_SW_HARDENING_NEEDED,
            "SGX_QL_QV_RESULT_CONFIG_AND_SW_HARDENING_NEEDED",
            0xA008,
        ),
        (S.TD_RELAUNCH_ADVISED, "SGX_QL_QV_RESULT_TD_RELAUNCH_ADVISED", 0xA009),
        (
            S.TD_RELAUNCH_ADVISED_CONFIGURATION_NEEDED,
            "SGX_QL_QV_RESULT_TD_RELAUNCH_ADVISED_CONFIG_NEEDED",
            0xA00A,
        ),
    ],
)
def test_qv_result_of_each_status(status: TcbStatus, name: str, value: int) -> None:
    assert QV_RESULTS[status].name == name
    assert QV_RESULTS[status].value == value


def test_revoked_has_no_qv_result() -> None:
    # The QvE returns SGX_QL_TCB_REVOKED as an error; tdxquote raises tcb_revoked.
    assert S.REVOKED not in QV_RESULTS
    assert set(QV_RESULTS) == set(S) - {S.REVOKED}


def test_sort_key_orders_sgx_then_pce_then_tdx() -> None:
    def level(sgx: int, pce: int, tdx: int) -> TcbLevel:
        return TcbLevel((sgx,) * 16, pce, (tdx,) * 16, DEFAULT_TCB_DATE, S.UP_TO_DATE, ())

    ordered = sorted(
        [level(1, 9, 9), level(2, 0, 0), level(1, 9, 8), level(1, 8, 9)],
        key=TcbLevel.sort_key,
        reverse=True,
    )
    assert [(lv.sgx_components[0], lv.pce_svn, lv.tdx_components[0]) for lv in ordered] == [  # type: ignore[index]
        (2, 0, 0),
        (1, 9, 9),
        (1, 9, 8),
        (1, 8, 9),
    ]
