"""Differential tests against dcap-qvl 0.7.0 (skipped when ``dcap_qvl`` is not installed).

1. Every distinct real quote of the corpus x every real collateral set x four
   times (window start, middle, last second, first expired second): tdxquote
   and dcap-qvl must agree (status and advisory IDs in order, or dcap-qvl's
   error mapped to tdxquote's code), or the pair must be one of the documented
   differences of :data:`~_verify_cases.DIFFERENCES`, recognised by a precise
   rule (:func:`_explain`).
2. The installed dcap-qvl still gives every verdict recorded in
   ``dcap-qvl/expected.json`` and in the extra cases of
   ``test_verify_dcap_qvl_cases.py``.
3. Synthetic scenarios (``tdxquote.testing.forge``, verified by both with the
   synthetic root) for rules real data does not reach: the index-2 rule,
   Intel's status convergence and the TD relaunch check (dcap-qvl 0.7.0 agrees
   on all three), and dcap-qvl's own rules that QVL lacks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
from _quote_files import QUOTE_FILES, unique_quotes
from _verify_cases import (
    ALLOW_ALL_EXPIRED,
    DIFFERENCES,
    SAME_REFUSAL,
    Outcome,
    collateral_from_json,
    dcap_qvl_collateral_json,
    dcap_qvl_outcome,
    gtg_2023_collateral,
    ours,
    run_dcap_qvl,
    teepot_collateral,
    validity,
)
from conftest import shared_vectors_dir, vector_cases

from tdxquote.collateral import Collateral, TcbStatus
from tdxquote.testing.forge import QuoteForge, td_report
from tdxquote.testing.pki import (
    DEFAULT_QE_ISVSVN,
    isv_tcb_level,
    qe_identity,
    tcb_info,
    tcb_level,
    tdx_module,
    tdx_module_identity,
)

dcap_qvl: Any = pytest.importorskip("dcap_qvl")

S = TcbStatus

COLLATERALS = ("tdx", "sgx", "near", "tdx_outdated", "gtg_2023", "teepot")
TIMES = ("start", "mid", "last_second", "expired")

# (tdxquote's first failure, dcap-qvl's first failure) that differ only by the order of
# checks (DIFFERENCES["check_order"]).
CHECK_ORDER = frozenset(
    {
        # The QvE checks the PCK chain against the PCK CRL before any TCB Info / QE identity.
        ("crl_issuer_mismatch", "qe_identity_version"),
        # ... after taking the PCK chain from the quote (type 1: none; DER, not PEM: invalid).
        ("quote_format", "qe_identity_version"),
        ("pck_chain_invalid", "qe_identity_version"),
        # QVL matches the TCB Info (4.1.2.4.9-10) before the QE identity and the quote
        # signature; dcap-qvl checks the FMSPC last.
        ("tcb_info_mismatch", "qe_identity_version"),
        ("tcb_info_mismatch", "quote_signature_invalid"),
    }
)


def _collateral(vectors: Path, name: str) -> Collateral:
    if name == "gtg_2023":
        return gtg_2023_collateral(vectors)
    if name == "teepot":
        return teepot_collateral(vectors)
    file = {
        "tdx": "tdx_quote_collateral.json",
        "sgx": "sgx_quote_collateral.json",
        "near": "near/quote_collateral.json",
        "tdx_outdated": "tdx_quote_outdated_collateral.json",
    }[name]
    return collateral_from_json(dcap_qvl_collateral_json(vectors, file))


def _times(collateral: Collateral) -> dict[str, int]:
    window = validity(collateral)
    start, end = window.issued, window.end
    return {"start": start, "mid": (start + end) // 2, "last_second": end - 1, "expired": end}


@dataclass(frozen=True)
class Run:
    """One differential run: both verdicts and the difference that explains them, if any."""

    mine: Outcome
    theirs: Outcome
    difference: str | None
    relaxed: Outcome | None = None


def _explain(mine: Outcome, theirs: Outcome, now: int, collateral: Collateral) -> str | None:
    if theirs.verified and mine.code == "collateral_expired":
        next_updates = {
            int(collateral.tcb_info.next_update.timestamp()),
            int(collateral.qe_identity.next_update.timestamp()),
        }
        if now in next_updates:
            return "expiry_at_next_update"
    if theirs.code == "collateral_expired" and mine.code not in (None, "collateral_expired"):
        return "expiry_not_fatal"
    if (mine.code, theirs.code) in CHECK_ORDER:
        return "check_order"
    return None


@lru_cache(maxsize=1)
def _matrix(vectors: Path) -> dict[str, Run]:
    runs: dict[str, Run] = {}
    quotes = unique_quotes(vectors)
    for name in COLLATERALS:
        collateral = _collateral(vectors, name)
        text = collateral.to_json()
        for quote, entry in quotes.items():
            for label, now in _times(collateral).items():
                mine = ours(quote, collateral, now)
                theirs = run_dcap_qvl(dcap_qvl, quote, text, now)
                difference = None if mine == theirs else _explain(mine, theirs, now, collateral)
                relaxed = None
                if difference == "expiry_at_next_update":
                    relaxed = ours(quote, collateral, now, policy=ALLOW_ALL_EXPIRED)
                runs[f"{entry.id}+{name}@{label}"] = Run(mine, theirs, difference, relaxed)
    return runs


def _matrix_ids() -> list[str]:
    root = shared_vectors_dir()
    if root is None:
        return []
    entries = {entry.id for entry in unique_quotes(root).values()}
    ordered = [entry.id for entry in QUOTE_FILES if entry.id in entries]
    return [f"{q}+{c}@{t}" for c in COLLATERALS for q in ordered for t in TIMES]


@pytest.mark.parametrize("run_id", vector_cases(_matrix_ids()))
def test_real_quote_matrix(run_id: str, vectors: Path) -> None:
    run = _matrix(vectors)[run_id]
    if run.mine == run.theirs:
        return
    assert run.difference is not None, f"tdxquote: {run.mine}; dcap-qvl: {run.theirs}"
    if run.relaxed is not None:
        assert run.relaxed == run.theirs
        assert run.relaxed.collateral_expired


def test_real_quote_matrix_coverage(vectors: Path) -> None:
    runs = _matrix(vectors).values()
    agreeing = [run for run in runs if run.mine == run.theirs]
    verified = [run for run in agreeing if run.mine.verified]
    assert len(verified) >= 12, "the positive vectors must verify in both"
    assert len(agreeing) >= 150
    used = {run.difference for run in runs} - {None}
    assert used <= set(DIFFERENCES)
    assert {"expiry_at_next_update", "expiry_not_fatal", "check_order"} <= used


def test_positive_vectors_agree_on_status_and_advisories(vectors: Path) -> None:
    runs = _matrix(vectors)
    expected = {
        "dcap-qvl/tdx_quote+tdx@mid": Outcome.ok(S.UP_TO_DATE),
        "dcap-qvl/sgx_quote+sgx@mid": Outcome.ok(
            S.CONFIGURATION_AND_SW_HARDENING_NEEDED, "INTEL-SA-00289", "INTEL-SA-00615"
        ),
        "dcap-qvl/near/quote_hex.txt+near@mid": Outcome.ok(S.UP_TO_DATE),
        "go-tdx-guest/quotes/quote_v5_sample.dat+tdx_outdated@mid": Outcome.ok(S.UP_TO_DATE),
        "go-tdx-guest/quotes/cos-113-tdx-quote.dat+teepot@mid": Outcome.ok(S.UP_TO_DATE),
        "go-tdx-guest/quotes/tdx_prod_quote_SPR_E4.dat+gtg_2023@mid": Outcome.error(
            "tcb_not_supported"
        ),
    }
    for run_id, outcome in expected.items():
        assert runs[run_id].mine == outcome, run_id
        assert runs[run_id].theirs == outcome, run_id


# --- the recorded dcap-qvl verdicts still hold ------------------------------------------


def _recorded() -> list[dict[str, Any]]:
    root = shared_vectors_dir()
    if root is None:
        return []
    cases: list[dict[str, Any]] = json.loads(
        (root / "dcap-qvl" / "expected.json").read_text(encoding="utf-8")
    )["cases"]
    return cases


def test_installed_dcap_qvl_reproduces_expected_json(vectors: Path) -> None:
    from _verify_cases import dcap_qvl_quote, mutate

    assert dcap_qvl.__version__ == "0.7.0"
    for case in _recorded():
        quote = dcap_qvl_quote(vectors, case["quote"])
        if "mutation" in case:
            quote = mutate(quote, case["mutation"])
        text = dcap_qvl_collateral_json(vectors, case["collateral"])
        collateral = dcap_qvl.QuoteCollateralV3.from_json(text)
        if not case["ok"]:
            with pytest.raises(ValueError, match=r"^Verification failed: ") as caught:
                dcap_qvl.verify(quote, collateral, case["now"])
            assert str(caught.value) == case["error_full"]
            continue
        report = dcap_qvl.verify(quote, collateral, case["now"])
        assert (report.status, list(report.advisory_ids)) == (
            case["status"],
            case["advisory_ids"],
        )


def test_installed_dcap_qvl_reproduces_the_extra_cases(vectors: Path) -> None:
    from test_verify_dcap_qvl_cases import EXTRA_CASES

    assert EXTRA_CASES
    for case in EXTRA_CASES:
        theirs = run_dcap_qvl(
            dcap_qvl, case.quote_bytes(vectors), case.collateral_json(vectors), case.now
        )
        assert theirs == case.dcap_qvl, case.id


# --- synthetic scenarios for what real data does not reach -----------------------------


def _svn(*head: int) -> bytes:
    return bytes(head) + bytes(16 - len(head))


def _module(*levels: dict[str, Any]) -> dict[str, Any]:
    return {"tdx_module_identities": [tdx_module_identity(tcb_levels=list(levels))]}


def _levels(*levels: dict[str, Any]) -> dict[str, Any]:
    return {"tcb_levels": list(levels)}


@dataclass(frozen=True)
class Synthetic:
    """A forged quote with its own collateral: tdxquote's (Intel's) and dcap-qvl's verdicts.

    ``body``, ``tcb_info`` and ``qe_identity`` are keyword arguments of
    ``td_report`` and of the ``tdxquote.testing.pki`` builders; ``forge``
    changes the forge (e.g. its QE authentication data).
    """

    name: str
    intel: Outcome
    dcap_qvl: Outcome
    difference: str | None = None
    body: dict[str, Any] = field(default_factory=dict)
    tcb_info: dict[str, Any] = field(default_factory=dict)
    qe_identity: dict[str, Any] = field(default_factory=dict)
    forge: dict[str, Any] = field(default_factory=dict)


def _same(outcome: Outcome) -> tuple[Outcome, Outcome]:
    return outcome, outcome


UP_TO_DATE = Outcome.ok(S.UP_TO_DATE)
ADVISORIES = ("INTEL-SA-1", "INTEL-SA-2", "INTEL-SA-3", "INTEL-SA-4")

SYNTHETIC = (
    Synthetic("baseline", *_same(UP_TO_DATE)),
    # Advisories: platform level, then module level, then QE level, without duplicates.
    Synthetic(
        "advisory_order",
        *_same(Outcome.ok(S.SW_HARDENING_NEEDED, *ADVISORIES)),
        tcb_info={
            **_levels(
                tcb_level(tdx=_svn(6, 1, 3), status="SWHardeningNeeded", advisories=ADVISORIES[:2])
            ),
            **_module(isv_tcb_level(6, advisories=["INTEL-SA-3", "INTEL-SA-1"])),
        },
        qe_identity=_levels(
            isv_tcb_level(DEFAULT_QE_ISVSVN, advisories=["INTEL-SA-2", "INTEL-SA-4"])
        ),
    ),
    Synthetic(
        "revoked_platform",
        *_same(Outcome.error("tcb_revoked")),
        tcb_info=_levels(tcb_level(tdx=_svn(6, 1, 3), status="Revoked")),
    ),
    Synthetic(
        "revoked_qe",
        Outcome.error("qe_tcb_revoked"),
        Outcome.error("tcb_revoked"),
        qe_identity=_levels(isv_tcb_level(DEFAULT_QE_ISVSVN, status="Revoked")),
    ),
    # The index-2 rule: the level wants TEE_TCB_SVN[0] >= 6, the TD's module SVN is 4 but
    # its module version (index 1) is 1, so the module identity judges it.
    Synthetic(
        "index_2_rule",
        *_same(UP_TO_DATE),
        body={"tee_tcb_svn": _svn(4, 1, 3)},
        tcb_info={**_levels(tcb_level(tdx=_svn(6, 1, 3))), **_module(isv_tcb_level(4))},
    ),
    Synthetic(
        "index_2_rule_off_without_module_version",
        *_same(Outcome.error("tcb_not_supported")),
        body={"tee_tcb_svn": _svn(4, 0, 3)},
        tcb_info=_levels(tcb_level(tdx=_svn(6, 0, 3))),
    ),
    Synthetic(
        "qe_convergence",
        *_same(Outcome.ok(S.OUT_OF_DATE_CONFIGURATION_NEEDED)),
        tcb_info=_levels(tcb_level(tdx=_svn(6, 1, 3), status="ConfigurationNeeded")),
        qe_identity=_levels(isv_tcb_level(DEFAULT_QE_ISVSVN, status="OutOfDate")),
    ),
    Synthetic(
        "module_convergence",
        *_same(Outcome.ok(S.OUT_OF_DATE_CONFIGURATION_NEEDED)),
        tcb_info={
            **_levels(tcb_level(tdx=_svn(6, 1, 3), status="ConfigurationNeeded")),
            **_module(isv_tcb_level(6, status="OutOfDate")),
        },
    ),
    Synthetic(
        "td_relaunch",
        *_same(Outcome.ok(S.TD_RELAUNCH_ADVISED)),
        body={"body_type": 3, "tee_tcb_svn": _svn(4, 1, 3), "tee_tcb_svn2": _svn(6, 1, 3)},
        tcb_info={
            **_levels(tcb_level(tdx=_svn(0, 0, 3))),
            **_module(isv_tcb_level(6), isv_tcb_level(4, status="OutOfDate")),
        },
    ),
    Synthetic(
        "seam_attributes_set",
        *_same(Outcome.error("tdx_module_mismatch")),
        body={"seam_attributes": bytes((1,)) + bytes(7)},
        tcb_info={"tdx_module": tdx_module(attributes_mask=bytes(8))},
    ),
    Synthetic(
        "debug_td",
        *_same(Outcome.error("policy")),
        body={"td_attributes": bytes.fromhex("0100001000000000")},
    ),
    Synthetic(
        "qe_auth_data_16_bytes",
        UP_TO_DATE,
        dcap_qvl_outcome(ok=False, error="Invalid QE auth data length"),
        "qe_auth_data_length",
        forge={"qe_auth_data": bytes(range(16))},
    ),
    Synthetic(
        "sept_ve_disable_off",
        UP_TO_DATE,
        dcap_qvl_outcome(ok=False, error="SEPT_VE_DISABLE is not enabled"),
        "td_attribute_policy",
        body={"td_attributes": bytes(8)},
    ),
    Synthetic(
        "mr_service_td_set",
        UP_TO_DATE,
        dcap_qvl_outcome(ok=False, error="Invalid MR service TD"),
        "td_attribute_policy",
        body={"body_type": 3, "mr_service_td": b"\x01" * 48},
    ),
    Synthetic(
        "qe_identity_version_3",
        Outcome.error("qe_identity_format"),
        UP_TO_DATE,
        "qe_identity_v3",
        qe_identity={"version": 3},
    ),
)


@pytest.fixture(scope="module")
def forge() -> QuoteForge:
    return QuoteForge.create(seed=b"test_verify_differential")


def _synthetic_id(case: Synthetic) -> str:
    return case.name if case.difference is None else f"{case.name}-intel:{case.difference}"


@pytest.mark.parametrize("case", [pytest.param(c, id=_synthetic_id(c)) for c in SYNTHETIC])
def test_synthetic_scenario(case: Synthetic, forge: QuoteForge) -> None:
    maker = forge.replace(**case.forge) if case.forge else forge
    options = dict(case.body)
    quote = maker.quote(td_report(options.pop("body_type", 2), **options))
    scenario = maker.scenario(
        quote, tcb_info=tcb_info(**case.tcb_info), qe_identity=qe_identity(**case.qe_identity)
    )
    text = scenario.collateral_json()
    now = scenario.now_timestamp
    root = scenario.trust_root_der
    mine = ours(scenario.quote_bytes, text, now, trust_root=root)
    theirs = run_dcap_qvl(dcap_qvl, scenario.quote_bytes, text, now, root)
    assert theirs == case.dcap_qvl
    assert mine == case.intel
    if case.difference is None:
        assert mine == theirs or (mine.code, theirs.code) in SAME_REFUSAL
    else:
        assert mine != theirs
        assert case.difference in DIFFERENCES


def test_synthetic_time_is_pinned(forge: QuoteForge) -> None:
    assert forge.scenario().now == datetime.fromisoformat("2025-06-01T00:00:00+00:00")
