"""The golden DCAP verdicts of the shared corpus (``vectors/README.md``), on real data.

Each row: a real quote, real Intel collateral, a time, and the verdict Intel's
QVL gives.  Statuses other than UpToDate are read with a policy that accepts
every status, so the test sees Intel's verdict and not the default policy.
The go-tdx-guest 2023 set and the COS-113 + teepot set are assembled from raw
PCS responses (bodies and issuer-chain header values).
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
from _helpers import TDX_PIPELINE
from _verify_cases import (
    ALLOW_ALL,
    ALLOW_ALL_EXPIRED,
    Outcome,
    collateral_from_json,
    dcap_qvl_collateral_json,
    gtg_2023_collateral,
    ours,
    read_quote,
    teepot_collateral,
)

from tdxquote.collateral import Collateral, TcbStatus
from tdxquote.verification import Policy, TcbError, VerifiedQuote, Verifier, verify

S = TcbStatus
DCAP_QVL_TDX = ("dcap-qvl/tdx_quote", "tdx_quote_collateral.json", 1751624191)
DCAP_QVL_SGX = ("dcap-qvl/sgx_quote", "sgx_quote_collateral.json", 1751624924)
DCAP_QVL_NEAR = ("dcap-qvl/near/quote_hex.txt", "near/quote_collateral.json", 1758093775)
V5_SAMPLE = "go-tdx-guest/quotes/quote_v5_sample.dat"
OUTDATED = "dcap-qvl/tdx_quote_outdated"
OUTDATED_COLLATERAL = "tdx_quote_outdated_collateral.json"
SPR_E4 = "go-tdx-guest/quotes/tdx_prod_quote_SPR_E4.dat"
COS_113 = "go-tdx-guest/quotes/cos-113-tdx-quote.dat"

# Every check after quote_format up to and including the TCB match, before tcb_level:
# "all signatures valid".
ALL_SIGNATURES = TDX_PIPELINE[1 : TDX_PIPELINE.index("tcb_level")]


def _utc(*fields: int) -> datetime:
    return datetime(*fields, tzinfo=timezone.utc)


def _json_collateral(vectors: Path, name: str) -> Collateral:
    return collateral_from_json(dcap_qvl_collateral_json(vectors, name))


def _verified(
    vectors: Path, quote: str, collateral: Collateral, now: int | datetime, policy: Policy
) -> VerifiedQuote:
    return Verifier().verify(read_quote(vectors, quote), collateral, now=now, policy=policy)


# --- rows 1-3: dcap-qvl's positive vectors ----------------------------------------------


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        pytest.param(DCAP_QVL_TDX, Outcome.ok(S.UP_TO_DATE), id="tdx_quote-UpToDate"),
        pytest.param(
            DCAP_QVL_SGX,
            Outcome.ok(S.CONFIGURATION_AND_SW_HARDENING_NEEDED, "INTEL-SA-00289", "INTEL-SA-00615"),
            id="sgx_quote-ConfigurationAndSWHardeningNeeded",
        ),
        pytest.param(DCAP_QVL_NEAR, Outcome.ok(S.UP_TO_DATE), id="near-UpToDate"),
    ],
)
def test_dcap_qvl_positive_vector(
    row: tuple[str, str, int], expected: Outcome, vectors: Path
) -> None:
    quote, collateral, now = row
    got = ours(read_quote(vectors, quote), _json_collateral(vectors, collateral), now)
    assert got == expected
    assert not got.collateral_expired


def test_uptodate_passes_the_default_policy(vectors: Path) -> None:
    quote, collateral, now = DCAP_QVL_TDX
    verified = verify(read_quote(vectors, quote), _json_collateral(vectors, collateral), now=now)
    assert verified.status is S.UP_TO_DATE
    assert verified.qv_result.name == "SGX_QL_QV_RESULT_OK"
    assert verified.qe_status is S.UP_TO_DATE
    assert verified.supplemental.ppid.hex() == "811dca2a26b952e85bb6448b097ba4fd"
    assert verified.supplemental.fmspc.hex().upper() == "B0C06F000000"


def test_sgx_status_comes_from_the_platform_level(vectors: Path) -> None:
    quote, collateral, now = DCAP_QVL_SGX
    verified = _verified(vectors, quote, _json_collateral(vectors, collateral), now, ALLOW_ALL)
    assert verified.platform_status is S.CONFIGURATION_AND_SW_HARDENING_NEEDED
    assert verified.qe_status is S.UP_TO_DATE
    assert verified.tcb_level.advisory_ids == ("INTEL-SA-00289", "INTEL-SA-00615")
    assert verified.qv_result.name == "SGX_QL_QV_RESULT_CONFIG_AND_SW_HARDENING_NEEDED"
    assert verified.supplemental.pck_ca == "processor"


def test_sgx_status_is_refused_by_the_default_policy(vectors: Path) -> None:
    quote, collateral, now = DCAP_QVL_SGX
    got = ours(
        read_quote(vectors, quote), _json_collateral(vectors, collateral), now, policy=Policy()
    )
    assert got == Outcome.error("policy")


# --- row 4: the v5 sample (TD 1.5) with dcap-qvl's outdated collateral ------------------


def test_v5_sample_is_uptodate_with_module_identity(vectors: Path) -> None:
    collateral = _json_collateral(vectors, OUTDATED_COLLATERAL)
    verified = _verified(vectors, V5_SAMPLE, collateral, 1772323200, ALLOW_ALL)
    body = verified.quote.body
    assert verified.status is S.UP_TO_DATE
    assert verified.advisory_ids == ()
    assert body.tee_tcb_svn[1] == 1  # type: ignore[union-attr]
    module = collateral.tcb_info.module_identity("TDX_01")
    assert module is not None
    assert verified.module_tcb_level in module.tcb_levels
    assert verified.module_status is S.UP_TO_DATE
    assert verified.relaunch_advised is False
    assert "td_relaunch" in verified.checks


def test_v5_sample_meets_its_tdx_level_from_index_2(vectors: Path) -> None:
    # TEE_TCB_SVN[1] = 1: indices 0 and 1 are the module's.  The matched level's TDX
    # components from index 2 are met; this quote happens to meet 0 and 1 as well.
    collateral = _json_collateral(vectors, OUTDATED_COLLATERAL)
    verified = _verified(vectors, V5_SAMPLE, collateral, 1772323200, ALLOW_ALL)
    svn = verified.quote.body.tee_tcb_svn  # type: ignore[union-attr]
    level = verified.tcb_level.tdx_components
    assert level is not None
    assert all(svn[i] >= level[i] for i in range(2, 16))


# --- row 5: dcap-qvl's outdated quote: TCB not supported at any time --------------------


@pytest.mark.parametrize(
    "now",
    [
        pytest.param(1772707803, id="mid"),
        pytest.param(1771412330, id="before_issue"),
        pytest.param(1774003336, id="expired"),
    ],
)
def test_outdated_quote_is_tcb_not_supported(now: int, vectors: Path) -> None:
    collateral = _json_collateral(vectors, OUTDATED_COLLATERAL)
    quote = read_quote(vectors, OUTDATED)
    assert ours(quote, collateral, now) == Outcome.error("tcb_not_supported")
    assert ours(quote, collateral, now, policy=ALLOW_ALL_EXPIRED) == Outcome.error(
        "tcb_not_supported"
    )


# --- row 6: go-tdx-guest SPR E4 quote with the 2023 PCS set -----------------------------

SPR_E4_NOW = _utc(2023, 7, 1, 1)


def test_spr_e4_signatures_valid_but_tcb_not_supported(vectors: Path) -> None:
    collateral = gtg_2023_collateral(vectors)
    with pytest.raises(TcbError) as caught:
        _verified(vectors, SPR_E4, collateral, SPR_E4_NOW, ALLOW_ALL_EXPIRED)
    assert caught.value.code == "tcb_not_supported"
    assert set(ALL_SIGNATURES) <= set(caught.value.checks_passed)
    assert caught.value.intel_error is not None
    assert "SGX_QL_TCB_NOT_SUPPORTED" in caught.value.intel_error


def test_spr_e4_collateral_was_assembled_from_headers(vectors: Path) -> None:
    collateral = gtg_2023_collateral(vectors)
    assert collateral.tcb_info.fmspc.hex() == "50806f000000"
    assert collateral.qe_identity.id == "TD_QE"
    assert len(collateral.tcb_info_issuer_chain) == 2
    assert len(collateral.pck_crl_issuer_chain) == 2
    expected_chain = (vectors / "go-tdx-guest/collateral/TCB-Info-Issuer-Chain.pem").read_text(
        encoding="ascii"
    )
    assert collateral.raw.tcb_info_issuer_chain.strip() == expected_chain.strip()


@pytest.mark.parametrize(
    "now",
    [
        pytest.param(_utc(2023, 6, 18, 8, 42, 58), id="window_start"),
        pytest.param(_utc(2023, 7, 8, 7, 24, 58), id="window_end"),
        pytest.param(_utc(2023, 7, 8, 7, 24, 59), id="qe_identity_expired"),
    ],
)
def test_spr_e4_tcb_not_supported_across_the_window(now: datetime, vectors: Path) -> None:
    # Expiry is not fatal for Intel's QvE: the terminal TCB verdict decides.
    quote = read_quote(vectors, SPR_E4)
    assert ours(quote, gtg_2023_collateral(vectors), now) == Outcome.error("tcb_not_supported")


# --- row 7: COS-113 quote with the teepot PCS responses ---------------------------------

COS_START = _utc(2025, 5, 27, 19, 31, 43)
COS_END = _utc(2025, 6, 26, 19, 22, 46)


@pytest.mark.parametrize(
    "now",
    [
        pytest.param(COS_START, id="window_start"),
        pytest.param(_utc(2025, 6, 11), id="mid"),
        pytest.param(_utc(2025, 6, 26, 19, 22, 45), id="window_end"),
    ],
)
def test_cos_113_is_uptodate(now: datetime, vectors: Path) -> None:
    verified = _verified(vectors, COS_113, teepot_collateral(vectors), now, Policy())
    assert verified.status is S.UP_TO_DATE
    assert verified.advisory_ids == ()
    assert verified.module_status is S.UP_TO_DATE
    assert verified.qe_tcb_level.isvsvn == 4
    assert verified.quote.qe_report.isv_svn == 6
    assert verified.tcb_level.tcb_date == _utc(2024, 3, 13)
    assert verified.supplemental.earliest_expiration_date == COS_END
    assert verified.supplemental.latest_issue_date == COS_START


def test_cos_113_expires_at_the_qe_identity_next_update(vectors: Path) -> None:
    quote = read_quote(vectors, COS_113)
    collateral = teepot_collateral(vectors)
    assert ours(quote, collateral, COS_END) == Outcome.error("collateral_expired")
    relaxed = ours(quote, collateral, COS_END, policy=ALLOW_ALL_EXPIRED)
    assert relaxed == Outcome.ok(S.UP_TO_DATE)
    assert relaxed.collateral_expired


def test_cos_113_before_the_tcb_info_issue_date(vectors: Path) -> None:
    # QVL does not check issueDate; the CRLs and certificates are valid a second earlier.
    got = ours(read_quote(vectors, COS_113), teepot_collateral(vectors), COS_START.timestamp() - 1)
    assert got == Outcome.ok(S.UP_TO_DATE)
    assert not got.collateral_expired


def test_cos_113_uses_the_reissued_tcb_signing_certificate(vectors: Path) -> None:
    collateral = teepot_collateral(vectors)
    signer = collateral.tcb_info_issuer_chain[0]
    assert signer.serial_number == 0x7E3882D5FB55294A40498E458403E91491BDF455
    assert signer.not_valid_before_utc == _utc(2025, 5, 6, 9, 25)
