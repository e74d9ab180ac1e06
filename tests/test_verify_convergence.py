"""The status-convergence matrix, through the whole pipeline, against Intel's rules.

Every row forges a TDX 1.5 quote (v5, body type 3) and a TCB Info whose matched
level, TDX module level and QE identity level carry the statuses of the row, and
checks the verdict.  The expected values are written out row by row from Intel's
QVL rules (``TcbLevelCheck.cpp``, ``TDRelaunchCheck.cpp``; the rule table of
``docs/verification.md``), never computed by tdxquote's own functions:

1. module: OutOfDate turns UpToDate / SWHardeningNeeded into OutOfDate and the two
   ConfigurationNeeded statuses into OutOfDateConfigurationNeeded; Revoked revokes.
2. TD relaunch: QE not OutOfDate or Revoked, SGX status UpToDate, SWHardeningNeeded or
   a ConfigurationNeeded one, the status of step 1 OutOfDate(ConfigurationNeeded), the
   module OutOfDate, and TEE_TCB_SVN2 meets the newest level: TDRelaunchAdvised, or
   TDRelaunchAdvisedConfigurationNeeded when the SGX status or step 1's needs
   configuration.
3. QE: OutOfDate as for the module; Revoked is refused.

A revoked platform or module is refused (``tcb_revoked``).  A revoked QE is refused
with ``qe_tcb_revoked`` (Intel returns STATUS_TCB_REVOKED for both; both codes map to
SGX_QL_TCB_REVOKED).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import pytest

from tdxquote.collateral import TcbStatus
from tdxquote.errors import VerificationError
from tdxquote.testing.forge import QuoteForge, sgx_report, td_report
from tdxquote.testing.pki import (
    DEFAULT_QE_ISVSVN,
    DEFAULT_SGX_COMPONENTS,
    isv_tcb_level,
    qe_identity,
    tcb_info,
    tcb_level,
    tdx_module_identity,
)
from tdxquote.verification import Policy, VerifiedQuote, Verifier

ALLOW_ALL = Policy().allow_statuses(*TcbStatus)

UTD = "UpToDate"
SWH = "SWHardeningNeeded"
CN = "ConfigurationNeeded"
CNSWH = "ConfigurationAndSWHardeningNeeded"
OOD = "OutOfDate"
OODCN = "OutOfDateConfigurationNeeded"
RVK = "Revoked"
TDR = "TDRelaunchAdvised"
TDRCN = "TDRelaunchAdvisedConfigurationNeeded"
NONE = "none"  # no module status: TEE_TCB_SVN[1] == 0
REVOKED = "tcb_revoked"
QE_REVOKED = "qe_tcb_revoked"

# Intel's sgx_ql_qv_result_t for each verdict (sgx_qve_header.h).
QV_RESULTS = {
    UTD: ("SGX_QL_QV_RESULT_OK", 0x0000),
    CN: ("SGX_QL_QV_RESULT_CONFIG_NEEDED", 0xA001),
    OOD: ("SGX_QL_QV_RESULT_OUT_OF_DATE", 0xA002),
    OODCN: ("SGX_QL_QV_RESULT_OUT_OF_DATE_CONFIG_NEEDED", 0xA003),
    SWH: ("SGX_QL_QV_RESULT_SW_HARDENING_NEEDED", 0xA007),
    CNSWH: ("SGX_QL_QV_RESULT_CONFIG_AND_SW_HARDENING_NEEDED", 0xA008),
    TDR: ("SGX_QL_QV_RESULT_TD_RELAUNCH_ADVISED", 0xA009),
    TDRCN: ("SGX_QL_QV_RESULT_TD_RELAUNCH_ADVISED_CONFIG_NEEDED", 0xA00A),
}

# --- the matrix: one matched level for SGX and TDX ----------------------------------------
#
# (platform level status, module status, QE status): (verdict when TEE_TCB_SVN2 meets the
# newest level, verdict when it does not).  The newest level is above the platform (its
# SGX components are higher), so relaunch is the only way it matters.

MATRIX: dict[tuple[str, str, str], tuple[str, str]] = {
    # no module status (TEE_TCB_SVN[1] == 0): the platform level alone, then the QE
    (UTD, NONE, UTD): (UTD, UTD),
    (UTD, NONE, OOD): (OOD, OOD),
    (UTD, NONE, RVK): (QE_REVOKED, QE_REVOKED),
    (SWH, NONE, UTD): (SWH, SWH),
    (SWH, NONE, OOD): (OOD, OOD),
    (SWH, NONE, RVK): (QE_REVOKED, QE_REVOKED),
    (CN, NONE, UTD): (CN, CN),
    (CN, NONE, OOD): (OODCN, OODCN),
    (CN, NONE, RVK): (QE_REVOKED, QE_REVOKED),
    (CNSWH, NONE, UTD): (CNSWH, CNSWH),
    (CNSWH, NONE, OOD): (OODCN, OODCN),
    (CNSWH, NONE, RVK): (QE_REVOKED, QE_REVOKED),
    (OOD, NONE, UTD): (OOD, OOD),
    (OOD, NONE, OOD): (OOD, OOD),
    (OOD, NONE, RVK): (QE_REVOKED, QE_REVOKED),
    (OODCN, NONE, UTD): (OODCN, OODCN),
    (OODCN, NONE, OOD): (OODCN, OODCN),
    (OODCN, NONE, RVK): (QE_REVOKED, QE_REVOKED),
    (RVK, NONE, UTD): (REVOKED, REVOKED),
    (RVK, NONE, OOD): (REVOKED, REVOKED),
    (RVK, NONE, RVK): (QE_REVOKED, QE_REVOKED),
    # module UpToDate: as without a module
    (UTD, UTD, UTD): (UTD, UTD),
    (UTD, UTD, OOD): (OOD, OOD),
    (UTD, UTD, RVK): (QE_REVOKED, QE_REVOKED),
    (SWH, UTD, UTD): (SWH, SWH),
    (SWH, UTD, OOD): (OOD, OOD),
    (SWH, UTD, RVK): (QE_REVOKED, QE_REVOKED),
    (CN, UTD, UTD): (CN, CN),
    (CN, UTD, OOD): (OODCN, OODCN),
    (CN, UTD, RVK): (QE_REVOKED, QE_REVOKED),
    (CNSWH, UTD, UTD): (CNSWH, CNSWH),
    (CNSWH, UTD, OOD): (OODCN, OODCN),
    (CNSWH, UTD, RVK): (QE_REVOKED, QE_REVOKED),
    (OOD, UTD, UTD): (OOD, OOD),
    (OOD, UTD, OOD): (OOD, OOD),
    (OOD, UTD, RVK): (QE_REVOKED, QE_REVOKED),
    (OODCN, UTD, UTD): (OODCN, OODCN),
    (OODCN, UTD, OOD): (OODCN, OODCN),
    (OODCN, UTD, RVK): (QE_REVOKED, QE_REVOKED),
    (RVK, UTD, UTD): (REVOKED, REVOKED),
    (RVK, UTD, OOD): (REVOKED, REVOKED),
    (RVK, UTD, RVK): (QE_REVOKED, QE_REVOKED),
    # module OutOfDate: relaunch is advised when the SGX status allows it and the QE is
    # UpToDate; otherwise the module's and the QE's convergence
    (UTD, OOD, UTD): (TDR, OOD),
    (UTD, OOD, OOD): (OOD, OOD),
    (UTD, OOD, RVK): (QE_REVOKED, QE_REVOKED),
    (SWH, OOD, UTD): (TDR, OOD),
    (SWH, OOD, OOD): (OOD, OOD),
    (SWH, OOD, RVK): (QE_REVOKED, QE_REVOKED),
    (CN, OOD, UTD): (TDRCN, OODCN),
    (CN, OOD, OOD): (OODCN, OODCN),
    (CN, OOD, RVK): (QE_REVOKED, QE_REVOKED),
    (CNSWH, OOD, UTD): (TDRCN, OODCN),
    (CNSWH, OOD, OOD): (OODCN, OODCN),
    (CNSWH, OOD, RVK): (QE_REVOKED, QE_REVOKED),
    (OOD, OOD, UTD): (OOD, OOD),  # the SGX status is OutOfDate: no relaunch
    (OOD, OOD, OOD): (OOD, OOD),
    (OOD, OOD, RVK): (QE_REVOKED, QE_REVOKED),
    (OODCN, OOD, UTD): (OODCN, OODCN),
    (OODCN, OOD, OOD): (OODCN, OODCN),
    (OODCN, OOD, RVK): (QE_REVOKED, QE_REVOKED),
    (RVK, OOD, UTD): (REVOKED, REVOKED),
    (RVK, OOD, OOD): (REVOKED, REVOKED),
    (RVK, OOD, RVK): (QE_REVOKED, QE_REVOKED),
    # module Revoked: always revoked
    (UTD, RVK, UTD): (REVOKED, REVOKED),
    (UTD, RVK, OOD): (REVOKED, REVOKED),
    (UTD, RVK, RVK): (QE_REVOKED, QE_REVOKED),
    (SWH, RVK, UTD): (REVOKED, REVOKED),
    (SWH, RVK, OOD): (REVOKED, REVOKED),
    (SWH, RVK, RVK): (QE_REVOKED, QE_REVOKED),
    (CN, RVK, UTD): (REVOKED, REVOKED),
    (CN, RVK, OOD): (REVOKED, REVOKED),
    (CN, RVK, RVK): (QE_REVOKED, QE_REVOKED),
    (CNSWH, RVK, UTD): (REVOKED, REVOKED),
    (CNSWH, RVK, OOD): (REVOKED, REVOKED),
    (CNSWH, RVK, RVK): (QE_REVOKED, QE_REVOKED),
    (OOD, RVK, UTD): (REVOKED, REVOKED),
    (OOD, RVK, OOD): (REVOKED, REVOKED),
    (OOD, RVK, RVK): (QE_REVOKED, QE_REVOKED),
    (OODCN, RVK, UTD): (REVOKED, REVOKED),
    (OODCN, RVK, OOD): (REVOKED, REVOKED),
    (OODCN, RVK, RVK): (QE_REVOKED, QE_REVOKED),
    (RVK, RVK, UTD): (REVOKED, REVOKED),
    (RVK, RVK, OOD): (REVOKED, REVOKED),
    (RVK, RVK, RVK): (QE_REVOKED, QE_REVOKED),
}

# --- a second layout: the SGX level is a newer UpToDate level ------------------------------
#
# The PCK meets the newest level's SGX components, TEE_TCB_SVN only the TDX components of
# the level below it (status P); so the SGX status is UpToDate and the TDX status P.

SPLIT: dict[tuple[str, str, str], tuple[str, str]] = {
    (UTD, UTD, UTD): (UTD, UTD),
    (SWH, UTD, UTD): (SWH, SWH),
    (CN, UTD, UTD): (CN, CN),
    (CNSWH, UTD, UTD): (CNSWH, CNSWH),
    (OOD, UTD, UTD): (OOD, OOD),
    (OODCN, UTD, UTD): (OODCN, OODCN),
    (RVK, UTD, UTD): (REVOKED, REVOKED),
    (UTD, UTD, OOD): (OOD, OOD),
    (SWH, UTD, OOD): (OOD, OOD),
    (CN, UTD, OOD): (OODCN, OODCN),
    (CNSWH, UTD, OOD): (OODCN, OODCN),
    (OOD, UTD, OOD): (OOD, OOD),
    (OODCN, UTD, OOD): (OODCN, OODCN),
    (RVK, UTD, OOD): (REVOKED, REVOKED),
    (UTD, OOD, UTD): (TDR, OOD),
    (SWH, OOD, UTD): (TDR, OOD),
    (CN, OOD, UTD): (TDRCN, OODCN),
    (CNSWH, OOD, UTD): (TDRCN, OODCN),
    (OOD, OOD, UTD): (TDR, OOD),  # unlike the single-level layout: the SGX status is UpToDate
    (OODCN, OOD, UTD): (TDRCN, OODCN),
    (RVK, OOD, UTD): (REVOKED, REVOKED),
    (UTD, OOD, OOD): (OOD, OOD),
    (SWH, OOD, OOD): (OOD, OOD),
    (CN, OOD, OOD): (OODCN, OODCN),
    (CNSWH, OOD, OOD): (OODCN, OODCN),
    (OOD, OOD, OOD): (OOD, OOD),
    (OODCN, OOD, OOD): (OODCN, OODCN),
    (RVK, OOD, OOD): (REVOKED, REVOKED),
}

# --- rows of Intel's QuoteVerifierTcbStatusUT, with the SGX level's status as a column ----
#
# (SGX level status, TDX level status, module status, QE status): (met, not met)

SGX_LEVEL_ROWS: dict[tuple[str, str, str, str], tuple[str, str]] = {
    (CN, OOD, OOD, UTD): (
        TDRCN,
        OOD,
    ),  # latest(CN), earliest(OOD), module(OOD): configuration from SGX
    (RVK, OOD, OOD, UTD): (
        OOD,
        OOD,
    ),  # latest(RKD), earliest(OOD): SGX Revoked, no relaunch, not terminal
    (RVK, UTD, UTD, UTD): (UTD, UTD),  # a revoked SGX level does not revoke a TDX quote
    (CNSWH, UTD, OOD, UTD): (TDRCN, OOD),
    (SWH, UTD, OOD, UTD): (TDR, OOD),
    (OODCN, OOD, OOD, UTD): (OOD, OOD),  # SGX OutOfDateConfigurationNeeded: no relaunch
    (OOD, UTD, OOD, UTD): (OOD, OOD),  # SGX OutOfDate: no relaunch
    (UTD, CN, OOD, OOD): (OODCN, OODCN),  # QE OutOfDate: no relaunch
}

PLATFORM_ADVISORIES = ("INTEL-SA-00615", "INTEL-SA-00289")
MODULE_ADVISORIES = ("INTEL-SA-00837", "INTEL-SA-00615")
QE_ADVISORIES = ("INTEL-SA-00289", "INTEL-SA-00100")
NEWEST_ADVISORIES = ("INTEL-SA-09999",)

SGX = DEFAULT_SGX_COMPONENTS
NEWER_SGX = (SGX[0] + 1, *SGX[1:])
MODULE_SVN = 5
NEWEST_MODULE_SVN = 6
TDX_COMPONENT = 3
NEWEST_TDX_COMPONENT = 4


def _svn(*head: int) -> bytes:
    return bytes(head) + bytes(16 - len(head))


@pytest.fixture(scope="module")
def forge() -> QuoteForge:
    return QuoteForge.create(b"test_verify_convergence")


@pytest.fixture(scope="module")
def verifier(forge: QuoteForge) -> Verifier:
    return Verifier(trust_root=forge.pki.trust_root_der, policy=ALLOW_ALL)


def _quote_svns(module: str, relaunch_met: bool) -> tuple[bytes, bytes]:
    version = 0 if module == NONE else 1
    launched = _svn(MODULE_SVN, version, TDX_COMPONENT)
    loaded = _svn(NEWEST_MODULE_SVN, version, NEWEST_TDX_COMPONENT)
    return launched, loaded if relaunch_met else launched


def _levels(
    platform: str, *, sgx_status: str | None, platform_advisories: Sequence[str]
) -> list[dict[str, Any]]:
    """The newest level (not met by TEE_TCB_SVN), then the platform's level.

    ``sgx_status`` None: the newest level's SGX components are above the PCK's, so the
    platform's level is both the SGX and the TDX level; else the newest level is the
    SGX level, with that status.
    """
    newest = tcb_level(
        sgx=NEWER_SGX if sgx_status is None else SGX,
        tdx=_svn(NEWEST_MODULE_SVN, 1, NEWEST_TDX_COMPONENT),
        status=UTD if sgx_status is None else sgx_status,
        advisories=NEWEST_ADVISORIES,
    )
    matched = tcb_level(
        sgx=SGX, tdx=_svn(0, 0, TDX_COMPONENT), status=platform, advisories=platform_advisories
    )
    return [newest, matched]


def _verify(
    forge: QuoteForge,
    verifier: Verifier,
    *,
    platform: str,
    module: str,
    qe: str,
    relaunch_met: bool,
    sgx_status: str | None = None,
) -> VerifiedQuote:
    launched, loaded = _quote_svns(module, relaunch_met)
    module_levels = [
        isv_tcb_level(NEWEST_MODULE_SVN),
        isv_tcb_level(
            MODULE_SVN, status=UTD if module == NONE else module, advisories=MODULE_ADVISORIES
        ),
    ]
    info = tcb_info(
        tcb_levels=_levels(
            platform, sgx_status=sgx_status, platform_advisories=PLATFORM_ADVISORIES
        ),
        tdx_module_identities=[tdx_module_identity("TDX_01", tcb_levels=module_levels)],
    )
    identity = qe_identity(
        tcb_levels=[
            isv_tcb_level(DEFAULT_QE_ISVSVN + 1),
            isv_tcb_level(DEFAULT_QE_ISVSVN, status=qe, advisories=QE_ADVISORIES),
        ]
    )
    quote = forge.quote(td_report(3, tee_tcb_svn=launched, tee_tcb_svn2=loaded))
    scenario = forge.scenario(quote, tcb_info=info, qe_identity=identity)
    return verifier.verify(scenario.quote_bytes, scenario.to_collateral(), now=scenario.now)


def _check(
    forge: QuoteForge, verifier: Verifier, expected: str, *, module: str, qe: str, **row: Any
) -> None:
    if expected in (REVOKED, QE_REVOKED):
        with pytest.raises(VerificationError) as caught:
            _verify(forge, verifier, module=module, qe=qe, **row)
        assert caught.value.code == expected
        assert caught.value.intel_error is not None
        assert "SGX_QL_TCB_REVOKED" in caught.value.intel_error
        return
    verified = _verify(forge, verifier, module=module, qe=qe, **row)
    assert str(verified.status) == expected
    assert (verified.qv_result.name, verified.qv_result.value) == QV_RESULTS[expected]
    assert verified.relaunch_advised is (expected in (TDR, TDRCN))
    assert verified.module_status is (None if module == NONE else TcbStatus(module))
    assert verified.qe_status is TcbStatus(qe)
    assert "td_relaunch" in verified.checks


def _rows(
    table: dict[tuple[str, ...], tuple[str, str]],
) -> list[Any]:
    return [
        pytest.param(
            *key,
            relaunch_met,
            expected[0 if relaunch_met else 1],
            id=f"{'-'.join(key)}-{'met' if relaunch_met else 'not_met'}",
        )
        for key, expected in table.items()
        for relaunch_met in (True, False)
    ]


def test_the_matrix_is_complete() -> None:
    statuses = (UTD, SWH, CN, CNSWH, OOD, OODCN, RVK)
    expected = set(itertools.product(statuses, (NONE, UTD, OOD, RVK), (UTD, OOD, RVK)))
    assert set(MATRIX) == expected
    assert len(_rows(MATRIX)) == 7 * 4 * 3 * 2


@pytest.mark.parametrize(("platform", "module", "qe", "relaunch_met", "expected"), _rows(MATRIX))
def test_convergence_matrix(
    platform: str,
    module: str,
    qe: str,
    relaunch_met: bool,
    expected: str,
    forge: QuoteForge,
    verifier: Verifier,
) -> None:
    _check(
        forge,
        verifier,
        expected,
        platform=platform,
        module=module,
        qe=qe,
        relaunch_met=relaunch_met,
    )


@pytest.mark.parametrize(("platform", "module", "qe", "relaunch_met", "expected"), _rows(SPLIT))
def test_convergence_with_a_newer_up_to_date_sgx_level(
    platform: str,
    module: str,
    qe: str,
    relaunch_met: bool,
    expected: str,
    forge: QuoteForge,
    verifier: Verifier,
) -> None:
    _check(
        forge,
        verifier,
        expected,
        platform=platform,
        module=module,
        qe=qe,
        relaunch_met=relaunch_met,
        sgx_status=UTD,
    )


@pytest.mark.parametrize(
    ("sgx_status", "platform", "module", "qe", "relaunch_met", "expected"), _rows(SGX_LEVEL_ROWS)
)
def test_intel_unit_test_rows(
    sgx_status: str,
    platform: str,
    module: str,
    qe: str,
    relaunch_met: bool,
    expected: str,
    forge: QuoteForge,
    verifier: Verifier,
) -> None:
    _check(
        forge,
        verifier,
        expected,
        platform=platform,
        module=module,
        qe=qe,
        relaunch_met=relaunch_met,
        sgx_status=sgx_status,
    )


@pytest.mark.parametrize(
    ("loaded", "expected"),
    [
        (_svn(NEWEST_MODULE_SVN, 1, NEWEST_TDX_COMPONENT), TDR),
        (_svn(NEWEST_MODULE_SVN + 1, 1, NEWEST_TDX_COMPONENT + 1), TDR),
        (_svn(NEWEST_MODULE_SVN - 1, 1, NEWEST_TDX_COMPONENT), OOD),  # module not updated
        (_svn(NEWEST_MODULE_SVN, 1, NEWEST_TDX_COMPONENT - 1), OOD),  # TDX component behind
    ],
)
def test_relaunch_needs_both_the_module_and_the_tdx_component(
    loaded: bytes, expected: str, forge: QuoteForge, verifier: Verifier
) -> None:
    module_levels = [isv_tcb_level(NEWEST_MODULE_SVN), isv_tcb_level(MODULE_SVN, status=OOD)]
    info = tcb_info(
        tcb_levels=_levels(UTD, sgx_status=None, platform_advisories=()),
        tdx_module_identities=[tdx_module_identity("TDX_01", tcb_levels=module_levels)],
    )
    quote = forge.quote(td_report(3, tee_tcb_svn=_svn(MODULE_SVN, 1, 3), tee_tcb_svn2=loaded))
    scenario = forge.scenario(quote, tcb_info=info)
    verified = verifier.verify(scenario.quote_bytes, scenario.to_collateral(), now=scenario.now)
    assert str(verified.status) == expected


def test_relaunch_is_judged_for_td15_bodies_only(forge: QuoteForge, verifier: Verifier) -> None:
    # The same TCB state as row (U, OutOfDate module, UpToDate QE) in a TD 1.0 body.
    module_levels = [isv_tcb_level(NEWEST_MODULE_SVN), isv_tcb_level(MODULE_SVN, status=OOD)]
    info = tcb_info(
        tcb_levels=_levels(UTD, sgx_status=None, platform_advisories=()),
        tdx_module_identities=[tdx_module_identity("TDX_01", tcb_levels=module_levels)],
    )
    quote = forge.quote(td_report(2, tee_tcb_svn=_svn(MODULE_SVN, 1, 3)), version=5)
    scenario = forge.scenario(quote, tcb_info=info)
    verified = verifier.verify(scenario.quote_bytes, scenario.to_collateral(), now=scenario.now)
    assert str(verified.status) == OOD
    assert "td_relaunch" not in verified.checks


# --- SGX quotes: the platform level and the QE -------------------------------------------

SGX_MATRIX: dict[tuple[str, str], str] = {
    (UTD, UTD): UTD,
    (UTD, OOD): OOD,
    (UTD, RVK): QE_REVOKED,
    (SWH, UTD): SWH,
    (SWH, OOD): OOD,
    (SWH, RVK): QE_REVOKED,
    (CN, UTD): CN,
    (CN, OOD): OODCN,
    (CN, RVK): QE_REVOKED,
    (CNSWH, UTD): CNSWH,
    (CNSWH, OOD): OODCN,
    (CNSWH, RVK): QE_REVOKED,
    (OOD, UTD): OOD,
    (OOD, OOD): OOD,
    (OOD, RVK): QE_REVOKED,
    (OODCN, UTD): OODCN,
    (OODCN, OOD): OODCN,
    (OODCN, RVK): QE_REVOKED,
    (RVK, UTD): REVOKED,
    (RVK, OOD): REVOKED,
    (RVK, RVK): QE_REVOKED,
}


@pytest.mark.parametrize(("platform", "qe"), list(SGX_MATRIX))
def test_sgx_convergence(platform: str, qe: str, forge: QuoteForge, verifier: Verifier) -> None:
    expected = SGX_MATRIX[platform, qe]
    info = tcb_info(
        id="SGX",
        tcb_levels=[
            tcb_level(sgx=NEWER_SGX, status=UTD),
            tcb_level(sgx=SGX, status=platform, advisories=PLATFORM_ADVISORIES),
        ],
    )
    identity = qe_identity(
        id="QE",
        tcb_levels=[
            isv_tcb_level(DEFAULT_QE_ISVSVN + 1),
            isv_tcb_level(DEFAULT_QE_ISVSVN, status=qe, advisories=QE_ADVISORIES),
        ],
    )
    scenario = forge.scenario(forge.quote(sgx_report()), tcb_info=info, qe_identity=identity)
    if expected in (REVOKED, QE_REVOKED):
        with pytest.raises(VerificationError) as caught:
            verifier.verify(scenario.quote_bytes, scenario.to_collateral(), now=scenario.now)
        assert caught.value.code == expected
        return
    verified = verifier.verify(scenario.quote_bytes, scenario.to_collateral(), now=scenario.now)
    assert str(verified.status) == expected
    assert (verified.qv_result.name, verified.qv_result.value) == QV_RESULTS[expected]
    # DCAP 1.25: platform and QE advisories as one sorted set
    assert verified.advisory_ids == ("INTEL-SA-00100", "INTEL-SA-00289", "INTEL-SA-00615")
    assert verified.module_status is None
    assert not verified.relaunch_advised


# --- advisory IDs --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        # platform, module and QE levels as one set, sorted (DCAP 1.25's std::set)
        (OOD, ("INTEL-SA-00100", "INTEL-SA-00289", "INTEL-SA-00615", "INTEL-SA-00837")),
        (NONE, ("INTEL-SA-00100", "INTEL-SA-00289", "INTEL-SA-00615")),
    ],
)
def test_advisory_ids_are_merged_sorted_without_duplicates(
    module: str, expected: tuple[str, ...], forge: QuoteForge, verifier: Verifier
) -> None:
    verified = _verify(forge, verifier, platform=CN, module=module, qe=OOD, relaunch_met=False)
    assert verified.advisory_ids == expected
    assert verified.tcb_level.advisory_ids == PLATFORM_ADVISORIES
    assert verified.qe_tcb_level.advisory_ids == QE_ADVISORIES
    assert verified.to_dict()["advisory_ids"] == list(expected)


def test_the_newest_levels_advisories_are_not_merged(forge: QuoteForge, verifier: Verifier) -> None:
    verified = _verify(forge, verifier, platform=UTD, module=OOD, qe=UTD, relaunch_met=True)
    assert verified.status is TcbStatus.TD_RELAUNCH_ADVISED
    assert NEWEST_ADVISORIES[0] not in verified.advisory_ids


# --- level order and the TDX component rule ------------------------------------------------

OLDER_SGX = (SGX[0], SGX[1] - 1, *SGX[2:])
SORTING_LEVELS = {
    "newest_not_met": tcb_level(sgx=NEWER_SGX, tdx=_svn(0, 0, 3), status=UTD, advisories=["A"]),
    "matched": tcb_level(sgx=SGX, tdx=_svn(0, 0, 3), status=SWH, advisories=["M"]),
    "older": tcb_level(sgx=OLDER_SGX, tdx=_svn(0, 0, 3), status=OOD, advisories=["B"]),
    "tdx_newer_not_met": tcb_level(sgx=SGX, tdx=_svn(0, 0, 4), status=UTD, advisories=["C"]),
    "tdx_older": tcb_level(sgx=SGX, tdx=_svn(0, 0, 2), status=OODCN, advisories=["D"]),
}


@pytest.mark.parametrize(
    "order", list(itertools.permutations(SORTING_LEVELS)), ids=lambda order: "/".join(order)
)
def test_levels_match_in_intels_order_whatever_the_json_order(
    order: tuple[str, ...], forge: QuoteForge, verifier: Verifier
) -> None:
    info = tcb_info(tcb_levels=[SORTING_LEVELS[name] for name in order])
    scenario = forge.scenario(forge.quote(td_report(3)), tcb_info=info)
    verified = verifier.verify(scenario.quote_bytes, scenario.to_collateral(), now=scenario.now)
    assert verified.status is TcbStatus.SW_HARDENING_NEEDED
    assert verified.advisory_ids == ("M",)


@pytest.mark.parametrize(
    ("tee_tcb_svn", "expected"),
    [
        # TEE_TCB_SVN[1] > 0: indices 0 and 1 belong to the module, compared from index 2
        (_svn(6, 1, 3), UTD),
        (_svn(6, 1, 2), OOD),  # index 2 is still compared
        # TEE_TCB_SVN[1] == 0: every index is compared, so the first level is not met
        (_svn(6, 0, 3), OOD),
    ],
)
def test_tdx_components_from_index_2_when_the_module_version_is_set(
    tee_tcb_svn: bytes, expected: str, forge: QuoteForge, verifier: Verifier
) -> None:
    info = tcb_info(
        tcb_levels=[
            tcb_level(tdx=_svn(9, 9, 3), status=UTD),
            tcb_level(tdx=_svn(0, 0, 2), status=OOD),
        ]
    )
    scenario = forge.scenario(forge.quote(td_report(tee_tcb_svn=tee_tcb_svn)), tcb_info=info)
    verified = verifier.verify(scenario.quote_bytes, scenario.to_collateral(), now=scenario.now)
    assert str(verified.status) == expected


def test_module_levels_match_highest_first_whatever_the_json_order(
    forge: QuoteForge, verifier: Verifier
) -> None:
    module_levels = [
        isv_tcb_level(2, status=OOD),
        isv_tcb_level(MODULE_SVN + 1, status=UTD),
        isv_tcb_level(MODULE_SVN, status=OOD, advisories=["MODULE"]),
    ]
    info = tcb_info(
        tcb_levels=[tcb_level(tdx=_svn(0, 0, 3))],
        tdx_module_identities=[tdx_module_identity("TDX_01", tcb_levels=module_levels)],
    )
    for module_svn, status, advisories in (
        (MODULE_SVN + 3, TcbStatus.UP_TO_DATE, ()),
        (MODULE_SVN, TcbStatus.OUT_OF_DATE, ("MODULE",)),
        (MODULE_SVN - 1, TcbStatus.OUT_OF_DATE, ()),
    ):
        quote = forge.quote(td_report(tee_tcb_svn=_svn(module_svn, 1, 3)))
        scenario = forge.scenario(quote, tcb_info=info)
        verified = verifier.verify(scenario.quote_bytes, scenario.to_collateral(), now=scenario.now)
        assert (verified.module_status, verified.advisory_ids) == (status, advisories)
