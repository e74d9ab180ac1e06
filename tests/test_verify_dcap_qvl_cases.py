"""Every verdict of ``dcap-qvl/expected.json`` (dcap-qvl 0.7.0), plus collateral mutations.

For each case tdxquote must give dcap-qvl's verdict (status and advisory IDs in
order, or the error code :data:`~_verify_cases.DCAP_QVL_ERRORS` maps dcap-qvl's
text to), except where Intel's QVL and dcap-qvl disagree: there the test
asserts Intel's answer and its id ends in ``-intel:<difference>`` (see
:data:`~_verify_cases.DIFFERENCES`).

Intel's answer for the boundary-time cases follows from two facts: the verdict
of the pairing when nothing has expired (:data:`PAIRINGS`), and when Intel's
QvE flags the collateral (:class:`~_verify_cases.Validity`).  Flagged
collateral is refused by the default policy (``collateral_expired``); with
``Policy().unsafe_allow_expired_collateral()`` the verdict is the pairing's,
with ``collateral_expired=True``, as the QvE returns it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from _verify_cases import (
    ALLOW_ALL_EXPIRED,
    DIFFERENCES,
    NO_EQUIVALENT,
    PARSE,
    Outcome,
    code_for_dcap_qvl_error,
    collateral_from_json,
    dcap_qvl_collateral_json,
    dcap_qvl_outcome,
    dcap_qvl_quote,
    mutate,
    ours,
    validity,
)
from conftest import shared_vectors_dir, vector_cases

from tdxquote.collateral import TcbStatus

S = TcbStatus

# Intel's verdict for each (quote, collateral) pairing of expected.json while no
# collateral has expired.
PAIRINGS: dict[tuple[str, str], Outcome] = {
    ("tdx_quote", "tdx_quote_collateral.json"): Outcome.ok(S.UP_TO_DATE),
    ("sgx_quote", "sgx_quote_collateral.json"): Outcome.ok(
        S.CONFIGURATION_AND_SW_HARDENING_NEEDED, "INTEL-SA-00289", "INTEL-SA-00615"
    ),
    ("near/quote_hex.txt", "near/quote_collateral.json"): Outcome.ok(S.UP_TO_DATE),
    # The PCK's SGX component 7 is 3; every level needs 5.
    ("tdx_quote_outdated", "tdx_quote_outdated_collateral.json"): Outcome.error(
        "tcb_not_supported"
    ),
    ("tdx-quote.hex", "tdx_quote_collateral.json"): Outcome.error("tcb_not_supported"),
    ("quote-from-tappd.hex", "tdx_quote_collateral.json"): Outcome.error("tcb_not_supported"),
    # The QvE checks the PCK chain against the PCK CRL first: the SGX set's CRL is the
    # Processor CA's, the TDX PCK's issuer the Platform CA (and the reverse).
    ("tdx_quote", "sgx_quote_collateral.json"): Outcome.error("crl_issuer_mismatch"),
    ("sgx_quote", "tdx_quote_collateral.json"): Outcome.error("crl_issuer_mismatch"),
    # The FMSPCs differ (20A06F000000 vs B0C06F000000); the PCK is not yet valid, which QVL
    # does not check.
    ("near/quote_hex.txt", "tdx_quote_collateral.json"): Outcome.error("tcb_info_mismatch"),
}

# Quote mutations where QVL refuses what dcap-qvl accepts.
MUTATION_DIFFERENCES: dict[str, tuple[Outcome, str]] = {
    "outer_cert_type_5": (Outcome.error(PARSE), "outer_cert_type"),
}

# (tdxquote's first failure, dcap-qvl's) explained by the order of checks.
CHECK_ORDER_PAIRS = frozenset({("crl_issuer_mismatch", "qe_identity_version")})


@dataclass(frozen=True)
class Case:
    """One verdict to check: tdxquote must give ``expected`` (Intel's answer)."""

    id: str
    quote: str
    collateral: str
    now: int
    dcap_qvl: Outcome
    expected: Outcome
    unsafe: Outcome | None = None
    difference: str | None = None
    mutation: dict[str, Any] | None = None
    quote_change: Callable[[bytes], bytes] | None = None
    collateral_change: Callable[[dict[str, Any]], None] | None = None

    def quote_bytes(self, vectors: Path) -> bytes:
        data = dcap_qvl_quote(vectors, self.quote)
        if self.mutation is not None:
            data = mutate(data, self.mutation)
        if self.quote_change is not None:
            data = self.quote_change(data)
        return data

    def collateral_json(self, vectors: Path) -> str:
        text = dcap_qvl_collateral_json(vectors, self.collateral)
        if self.collateral_change is None:
            return text
        document = json.loads(text)
        self.collateral_change(document)
        return json.dumps(document)


def _difference(expected: Outcome, theirs: Outcome, named: str | None) -> str | None:
    if expected == theirs:
        return None
    if named is not None:
        return named
    if theirs.code == NO_EQUIVALENT and "issue date is in the future" in theirs.detail:
        return "issue_date_unchecked"
    if theirs.verified and expected.code == "collateral_expired":
        return "expiry_at_next_update"
    if theirs.code == "collateral_expired":
        return "expiry_not_fatal"
    if (expected.code, theirs.code) in CHECK_ORDER_PAIRS:
        return "check_order"
    raise AssertionError(f"unexplained difference: Intel {expected}, dcap-qvl {theirs}")


def _short(name: str) -> str:
    return (
        name.removesuffix(".json")
        .removesuffix("_collateral")
        .replace("_quote", "")
        .replace("/quote", "")
    )


def _expected_case(raw: dict[str, Any], vectors: Path) -> Case:
    pairing = (raw["quote"], raw["collateral"])
    theirs = dcap_qvl_outcome(
        ok=raw["ok"],
        status=raw.get("status", ""),
        advisory_ids=raw.get("advisory_ids", ()),
        error=raw.get("error_full", ""),
    )
    verdict = PAIRINGS[pairing]
    unsafe = None
    named = None
    mutation = raw.get("mutation")
    if mutation is not None:
        expected, named = MUTATION_DIFFERENCES.get(raw["mutation_name"], (theirs, None))
    elif not verdict.verified:
        expected = verdict
    else:
        collateral = collateral_from_json(dcap_qvl_collateral_json(vectors, raw["collateral"]))
        window = validity(collateral, dcap_qvl_quote(vectors, raw["quote"]))
        expected = verdict
        if not window.intel_valid_at(raw["now"]):
            expected, unsafe = Outcome.error("collateral_expired"), verdict
    difference = _difference(expected, theirs, named)
    name = f"{raw['quote']}+{_short(raw['collateral'])}@{raw['time_label']}"
    if mutation is not None:
        name += f"/{raw['mutation_name']}"
    if difference is not None:
        name += f"-intel:{difference}"
    return Case(
        id=name,
        quote=raw["quote"],
        collateral=raw["collateral"],
        now=raw["now"],
        dcap_qvl=theirs,
        expected=expected,
        unsafe=unsafe,
        difference=difference,
        mutation=mutation,
    )


def _raw_cases() -> list[dict[str, Any]]:
    root = shared_vectors_dir()
    if root is None:
        return []
    cases: list[dict[str, Any]] = json.loads(
        (root / "dcap-qvl" / "expected.json").read_text(encoding="utf-8")
    )["cases"]
    return cases


def _cases() -> list[Case]:
    root = shared_vectors_dir()
    if root is None:
        return []
    return [_expected_case(raw, root) for raw in _raw_cases()]


# --- cases beyond expected.json ---------------------------------------------------------
# dcap-qvl's verdicts below were read from dcap-qvl 0.7.0 (the reference's malformed-input
# table); test_verify_differential.py re-checks each against the installed dcap-qvl.

TDX_MID = 1751624191


def _set_u16(offset: int, value: int) -> Callable[[bytes], bytes]:
    return lambda data: mutate(data, {"op": "set_u16le", "offset": offset, "value": value})


def _grow_signed_data_size(data: bytes) -> bytes:
    # tdx_quote: 70 zero bytes follow the signature data, so one more byte still fits.
    size = int.from_bytes(data[632:636], "little")
    return data[:632] + (size + 1).to_bytes(4, "little") + data[636:]


def _break_pem_header(data: bytes) -> bytes:
    at = data.index(b"-----BEGIN CERTIFICATE-----") + len(b"-----BEGI")
    return data[:at] + b"M" + data[at + 1 :]


def _flip_hex(key: str, index: int) -> Callable[[dict[str, Any]], None]:
    def change(document: dict[str, Any]) -> None:
        raw = bytearray.fromhex(document[key])
        raw[index] ^= 1
        document[key] = raw.hex()

    return change


def _set(key: str, value: Callable[[dict[str, Any]], Any]) -> Callable[[dict[str, Any]], None]:
    def change(document: dict[str, Any]) -> None:
        document[key] = value(document)

    return change


def _first_pem(key: str) -> Callable[[dict[str, Any]], None]:
    marker = "-----END CERTIFICATE-----"
    return _set(key, lambda doc: doc[key][: doc[key].index(marker) + len(marker)] + "\n")


def _from(name: str, *keys: str) -> Callable[[dict[str, Any]], None]:
    # Take members from another real collateral file: still Intel-signed, other content.
    def change(document: dict[str, Any]) -> None:
        root = shared_vectors_dir()
        assert root is not None
        other = json.loads(dcap_qvl_collateral_json(root, name))
        for key in keys:
            document[key] = other[key]

    return change


@dataclass(frozen=True)
class Extra:
    """A case of ours on tdx_quote + its collateral at mid-window, with dcap-qvl's verdict."""

    name: str
    dcap_qvl: Outcome
    expected: Outcome
    difference: str | None = None
    quote_change: Callable[[bytes], bytes] | None = None
    collateral_change: Callable[[dict[str, Any]], None] | None = None


def _qvl(text: str) -> Outcome:
    return dcap_qvl_outcome(ok=False, error=text)


UP_TO_DATE = Outcome.ok(S.UP_TO_DATE)

EXTRAS: tuple[Extra, ...] = (
    # --- quote bytes
    Extra(
        "auth_len_plus_1",
        UP_TO_DATE,
        Outcome.error(PARSE),
        "auth_data_trailing_bytes",
        quote_change=_grow_signed_data_size,
    ),
    Extra(
        "outer_cert_type_7", UP_TO_DATE, Outcome.error(PARSE), "outer_cert_type", _set_u16(764, 7)
    ),
    Extra(
        "v4_relabelled_v3",
        _qvl("Failed to decode quote\n\nCaused by:\n    Invalid TEE type"),
        Outcome.error(PARSE),
        quote_change=_set_u16(0, 3),
    ),
    Extra(
        "pem_header_broken",
        _qvl("Failed to verify certificate chain\n\nCaused by:\n    CaUsedAsEndEntity"),
        Outcome.error("pck_chain_invalid"),
        quote_change=_break_pem_header,
    ),
    # --- collateral
    Extra(
        "tcb_info_whitespace",
        _qvl("Signature is invalid for tcb_info in quote_collateral"),
        Outcome.error("tcb_info_signature_invalid"),
        collateral_change=_set("tcb_info", lambda d: d["tcb_info"].replace('{"id"', '{ "id"', 1)),
    ),
    Extra(
        "tcb_info_reserialised",
        _qvl("Signature is invalid for tcb_info in quote_collateral"),
        Outcome.error("tcb_info_signature_invalid"),
        collateral_change=_set("tcb_info", lambda d: json.dumps(json.loads(d["tcb_info"]))),
    ),
    Extra(
        "tcb_info_signature_flipped",
        _qvl("Signature is invalid for tcb_info in quote_collateral"),
        Outcome.error("tcb_info_signature_invalid"),
        collateral_change=_flip_hex("tcb_info_signature", 0),
    ),
    Extra(
        "qe_identity_signature_flipped",
        _qvl("Signature is invalid for qe_identity in quote_collateral"),
        Outcome.error("qe_identity_signature_invalid"),
        collateral_change=_flip_hex("qe_identity_signature", 0),
    ),
    Extra(
        "pck_crl_signature_flipped",
        _qvl(
            "Failed to verify certificate chain\n\nCaused by:\n    InvalidCrlSignatureForPublicKey"
        ),
        Outcome.error("crl_invalid"),
        collateral_change=_flip_hex("pck_crl", -1),
    ),
    Extra(
        "root_ca_crl_signature_flipped",
        _qvl("Failed to parse root CA CRL\n\nCaused by:\n    InvalidCrlSignatureForPublicKey"),
        Outcome.error("crl_invalid"),
        collateral_change=_flip_hex("root_ca_crl", -1),
    ),
    Extra(
        "root_ca_crl_truncated",
        _qvl("Failed to parse root CA CRL\n\nCaused by:\n    TrailingData(CertRevocationList)"),
        Outcome.error("crl_format"),
        collateral_change=_set("root_ca_crl", lambda d: d["root_ca_crl"][:-20]),
    ),
    Extra(
        "tcb_info_issuer_chain_empty",
        _qvl("Certificate chain is too short for TCB Info"),
        Outcome.error("issuer_chain_format"),
        collateral_change=_set("tcb_info_issuer_chain", lambda d: ""),
    ),
    Extra(
        "tcb_info_issuer_chain_leaf_only",
        UP_TO_DATE,
        Outcome.error("tcb_signing_chain_invalid"),
        "signing_chain_leaf_only",
        collateral_change=_first_pem("tcb_info_issuer_chain"),
    ),
    Extra(
        "qe_identity_issuer_chain_leaf_only",
        UP_TO_DATE,
        Outcome.error("qe_identity_chain_invalid"),
        "signing_chain_leaf_only",
        collateral_change=_first_pem("qe_identity_issuer_chain"),
    ),
    Extra(
        "pck_crl_issuer_chain_empty",
        UP_TO_DATE,
        Outcome.error("issuer_chain_format"),
        "empty_pck_crl_issuer_chain",
        collateral_change=_set("pck_crl_issuer_chain", lambda d: ""),
    ),
    Extra(
        "pck_crl_of_processor_ca",
        _qvl("Failed to verify certificate chain\n\nCaused by:\n    UnknownRevocationStatus"),
        Outcome.error("crl_issuer_mismatch"),
        collateral_change=_from("sgx_quote_collateral.json", "pck_crl"),
    ),
    Extra(
        "tcb_info_of_sgx_platform",
        _qvl("Fmspc mismatch"),
        Outcome.error("tcb_info_mismatch"),
        collateral_change=_from("sgx_quote_collateral.json", "tcb_info", "tcb_info_signature"),
    ),
    Extra(
        "tcb_info_issued_later",
        _qvl("TCBInfo issue date is in the future"),
        Outcome.error("tcb_info_mismatch"),
        "issue_date_unchecked",
        collateral_change=_from("near/quote_collateral.json", "tcb_info", "tcb_info_signature"),
    ),
    Extra(
        "qe_identity_of_sgx_qe",
        _qvl(
            "Unsupported QE Identity id/version for the quote TEE type: QE version 2 "
            "(expected TD_QE version [2, 3])"
        ),
        Outcome.error("qe_identity_version"),
        collateral_change=_from(
            "sgx_quote_collateral.json", "qe_identity", "qe_identity_signature"
        ),
    ),
)


def _extra_cases() -> list[Case]:
    cases = []
    for extra in EXTRAS:
        difference = _difference(extra.expected, extra.dcap_qvl, extra.difference)
        suffix = "" if difference is None else f"-intel:{difference}"
        cases.append(
            Case(
                id=f"tdx_quote+tdx@mid/{extra.name}{suffix}",
                quote="tdx_quote",
                collateral="tdx_quote_collateral.json",
                now=TDX_MID,
                dcap_qvl=extra.dcap_qvl,
                expected=extra.expected,
                difference=difference,
                quote_change=extra.quote_change,
                collateral_change=extra.collateral_change,
            )
        )
    return cases


CASES = _cases()
EXTRA_CASES = _extra_cases()


def _params(cases: list[Case]) -> list[Any]:
    return vector_cases(cases, [case.id for case in cases])


def _check(case: Case, vectors: Path) -> None:
    quote = case.quote_bytes(vectors)
    collateral = case.collateral_json(vectors)
    got = ours(quote, collateral, case.now)
    assert got == case.expected, (
        f"tdxquote: {got}; expected (Intel): {case.expected}; dcap-qvl: {case.dcap_qvl}"
    )
    if got.verified:
        assert not got.collateral_expired
    if case.unsafe is not None:
        relaxed = ours(quote, collateral, case.now, policy=ALLOW_ALL_EXPIRED)
        assert relaxed == case.unsafe, f"unsafe_allow_expired_collateral gave {relaxed}"
        assert relaxed.collateral_expired


@pytest.mark.parametrize("case", _params(CASES))
def test_expected_json_case(case: Case, vectors: Path) -> None:
    _check(case, vectors)


@pytest.mark.parametrize("case", _params(EXTRA_CASES))
def test_extra_case(case: Case, vectors: Path) -> None:
    _check(case, vectors)


# --- the table itself -------------------------------------------------------------------


def test_expected_json_is_complete(vectors: Path) -> None:
    raw = _raw_cases()
    assert len(raw) >= 140
    assert len(CASES) == len(raw)
    assert {(case["quote"], case["collateral"]) for case in raw} == set(PAIRINGS)
    assert {case.id for case in CASES}.__len__() == len(CASES), "case ids must be unique"


def test_every_dcap_qvl_error_text_is_mapped(vectors: Path) -> None:
    for raw in _raw_cases():
        if not raw["ok"]:
            code_for_dcap_qvl_error(raw["error_full"])  # raises when unmapped


def test_every_difference_is_documented_and_exercised(vectors: Path) -> None:
    used = {case.difference for case in CASES + EXTRA_CASES} - {None}
    assert used <= set(DIFFERENCES)
    assert used >= {
        "issue_date_unchecked",
        "expiry_at_next_update",
        "expiry_not_fatal",
        "check_order",
        "outer_cert_type",
        "auth_data_trailing_bytes",
        "signing_chain_leaf_only",
        "empty_pck_crl_issuer_chain",
    }


def test_agreement_where_no_difference_is_named(vectors: Path) -> None:
    agreeing = [case for case in CASES + EXTRA_CASES if case.difference is None]
    assert len(agreeing) > 100
    assert all(case.expected == case.dcap_qvl for case in agreeing)


def test_valid_pairings_match_dcap_qvl_mid_window(vectors: Path) -> None:
    mids = {
        (raw["quote"], raw["collateral"]): raw
        for raw in _raw_cases()
        if raw["time_label"] == "mid" and "mutation" not in raw and raw["ok"]
    }
    assert len(mids) == 3
    for pairing, raw in mids.items():
        assert PAIRINGS[pairing] == Outcome.ok(raw["status"], *raw["advisory_ids"])


# --- the boundary facts the time cases rest on ------------------------------------------


def _time(label: str, quote: str, collateral: str) -> int:
    for raw in _raw_cases():
        if (raw["time_label"], raw["quote"], raw["collateral"]) == (label, quote, collateral):
            return int(raw["now"])
    raise LookupError(label)


def test_issue_minus_1_is_before_an_issue_date_only(vectors: Path) -> None:
    # dcap-qvl refuses these times for a TCB Info / QE identity issueDate in the future;
    # no CRL or certificate starts after them, so for QVL nothing is wrong.
    for quote, collateral in (
        ("tdx_quote", "tdx_quote_collateral.json"),
        ("sgx_quote", "sgx_quote_collateral.json"),
        ("near/quote_hex.txt", "near/quote_collateral.json"),
    ):
        now = _time("issue_minus_1", quote, collateral)
        parsed = collateral_from_json(dcap_qvl_collateral_json(vectors, collateral))
        window = validity(parsed, dcap_qvl_quote(vectors, quote))
        assert now == window.issued - 1
        assert window.checked_start <= now
        assert window.intel_valid_at(now)


def test_sgx_window_end_is_the_qe_identity_next_update(vectors: Path) -> None:
    # dcap-qvl accepts now == nextUpdate; Intel's QvE counts it as expired.
    now = _time("window_end", "sgx_quote", "sgx_quote_collateral.json")
    parsed = collateral_from_json(dcap_qvl_collateral_json(vectors, "sgx_quote_collateral.json"))
    assert int(parsed.qe_identity.next_update.timestamp()) == now
    assert validity(parsed).end == now


def test_tdx_window_end_is_one_second_before_the_crl_next_update(vectors: Path) -> None:
    now = _time("window_end", "tdx_quote", "tdx_quote_collateral.json")
    parsed = collateral_from_json(dcap_qvl_collateral_json(vectors, "tdx_quote_collateral.json"))
    next_update = parsed.pck_crl.next_update_utc
    assert next_update is not None
    assert int(next_update.timestamp()) == now + 1
