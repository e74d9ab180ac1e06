"""The real-world corpus: 250 quotes from 32 public repositories and the collateral found with them.

Read from the shared vectors (``realworld/``, see its ``README.md``), never copied.

* Every quote parses or is refused with ``QuoteParseError`` and nothing else, and what each
  gives is checked against the index (version, TEE) or against the list of known refusals
  below; so do hypothesis mutations of them.
* Every explicit collateral set (``*/collateral/*.v3.json``, ``pooled/set_*.v3.json``) loads or
  is refused with ``CollateralFormatError``, and verifies the quotes it belongs with (same TEE,
  FMSPC and PCK CA) with a verdict or a ``VerificationError``, nothing else.
* dcap-qvl gives a second opinion on every pairing; where Intel's QVL and dcap-qvl differ,
  Intel's semantics are asserted (``_realworld.adjudicate``).
* The explicit cases of the ``SOURCE.md`` files (quote, collateral, upstream times) are
  verified too, and what their upstream tests state is checked.
"""

from __future__ import annotations

import pytest
from _helpers import budget
from _mutations import mutate_bytes
from _no_warnings import no_user_warning
from _realworld import (
    PERMISSIVE,
    Corpus,
    Outcome,
    adjudicate,
    corpus,
    dcap_qvl_verdict,
    latest_not_before,
    load_quote_file,
    verify,
)
from hypothesis import given
from hypothesis import strategies as st

from tdxquote import Collateral, QuoteParseError, parse_quote
from tdxquote._json import quote_to_dict
from tdxquote._quote import Quote
from tdxquote.collateral.pcs import CollateralParameters
from tdxquote.errors import CollateralFormatError, VerificationError
from tdxquote.verification import CertificateChainError, Verifier

CORPUS = corpus()
QUOTE_IDS = [entry["id"] for entry in CORPUS.index] if CORPUS else []
SET_IDS = list(CORPUS.set_ids) if CORPUS else []
CASES = list(CORPUS.cases) if CORPUS else []

# Quotes the parser refuses, with the field it names.
PARSE_REFUSED = {
    # The repository's own negative test: its certification data type is garbage.
    "EspressoSystems__espresso-tee-contracts/incorrect_header_in_quote.2b5f4c31.dat": (
        "certification_data_type"
    ),
}

# Quotes that parse but whose collateral (FMSPC, CA) cannot be known, with the error code.
NO_COLLATERAL_PARAMETERS = {
    # Certification data type 3 (encrypted PPID): no PCK chain in the quote.
    "fortanix__rust-sgx/quote_raw_tcb.2f59d4cb.dat": "quote_format",
    "oasisprotocol__oasis-core/quote_v3_ecdsa_p256_eppid.72a05bf6.dat": "quote_format",
    "automata-network__automata-dcap-attestation/AutomataDcapAttestationTest.t.27d110d1.dat": (
        "quote_format"
    ),
    # README: a Platform CA certificate with two flipped bits (it no longer decodes).
    "Phala-Network__trust-center/phalaCloudKmsVerifier.6f8e92b8.dat": "pck_chain_invalid",
    # Open Enclave's negative test: the leaf's issuer name does not decode.
    "openenclave__openenclave/sgx_cert_ec_bad.der.4e3f9fa7.dat": "pck_chain_invalid",
    # Test quotes whose certification data holds more than PEM blocks.
    "intel__SGX-TDX-DCAP-QuoteVerificationService/qvlTest.1f017227.dat": "pck_chain_invalid",
    "intel__SGX-TDX-DCAP-QuoteVerificationService/verifyAttestationEvidenceTest.c04eb01f.dat": (
        "pck_chain_invalid"
    ),
    "automata-network__automata-dcap-attestation/lib.a15cfbbe.dat": "pck_chain_invalid",
}

# The two known-bad quotes of the README (flipped bits): they must be refused.
FLIPPED_PLATFORM_CA = "Phala-Network__trust-center/phalaCloudKmsVerifier.6f8e92b8.dat"
CHANGED_LEAF_KEY = "h4x3rotab__dstack-teekit/tdxV4Tappd.f185dfdc.dat"

# What upstream tests state for some cases (their SOURCE.md "Cases" tables): status, and the
# advisory IDs reported (a subset of what the upstream test accepts).
UPSTREAM = {
    "zkdcap/sgx_v3": ("SWHardeningNeeded", {"INTEL-SA-00334", "INTEL-SA-00615"}),
    "zkdcap/tdx_v4": ("OutOfDate", None),
    "openenclave/tdx_quote-moduleupdate-seamldr5.dat": ("TDRelaunchAdvised", None),
    "openenclave/tdx_quote_v5": ("OutOfDate", None),
    "libsignal/cdsi": ("SWHardeningNeeded", {"INTEL-SA-00615", "INTEL-SA-00657"}),
    "libsignal/svr2": ("SWHardeningNeeded", {"INTEL-SA-00615", "INTEL-SA-00657"}),
}


@pytest.fixture(scope="module")
def real() -> Corpus:
    if CORPUS is None:
        pytest.skip("the real-world corpus is not in the shared vectors")
    return CORPUS


@pytest.fixture(scope="module")
def verifier() -> Verifier:
    """One verifier for the module: chains and CRLs are verified once per exact bytes."""
    return Verifier(policy=PERMISSIVE)


# --- quotes ----------------------------------------------------------------------------------


def test_the_corpus_is_what_its_readme_says(real: Corpus) -> None:
    assert len(real.index) == 250
    assert len({entry["repo"] for entry in real.index}) == 32
    assert len(real.set_ids) >= 90


@pytest.mark.parametrize("quote_id", QUOTE_IDS)
def test_every_quote_parses_or_is_a_parse_error(real: Corpus, quote_id: str) -> None:
    entry = real.entries[quote_id]
    parsed = real.parsed[quote_id]
    if quote_id in PARSE_REFUSED:
        assert isinstance(parsed, QuoteParseError)
        assert parsed.field == PARSE_REFUSED[quote_id]
        return
    assert isinstance(parsed, Quote), parsed
    assert parsed.version == entry["version"]
    assert parsed.tee_type == int(entry["tee_type"], 16)
    # Every lazily decoded part (body, PCK chain, extension) through the JSON view: a
    # certificate that cannot be read is reported, never raised.
    fields = quote_to_dict(parsed)
    assert fields["version"] == entry["version"]
    refusal = NO_COLLATERAL_PARAMETERS.get(quote_id)
    if refusal is not None:
        with pytest.raises(VerificationError) as caught:
            CollateralParameters.from_quote(parsed)
        assert caught.value.code == refusal
        return
    params = CollateralParameters.from_quote(parsed)
    assert params.tee == ("tdx" if parsed.is_tdx else "sgx")
    assert fields["pck_error"] is None


def test_a_real_quote_whose_pck_issuer_does_not_decode_is_refused_cleanly(real: Corpus) -> None:
    # Open Enclave's sgx_cert_ec_bad: the name no longer raises ValueError from the chain.
    quote = real.parsed["openenclave__openenclave/sgx_cert_ec_bad.der.4e3f9fa7.dat"]
    assert isinstance(quote, Quote)
    with pytest.raises(QuoteParseError, match="the issuer does not decode"):
        quote.pck_chain  # noqa: B018
    with pytest.raises(CertificateChainError, match="the issuer does not decode"):
        CollateralParameters.from_quote(quote)


@budget(150)
@given(data=st.data())
def test_mutated_real_quotes_give_only_documented_errors(
    real: Corpus, verifier: Verifier, data: st.DataObject
) -> None:
    quote_id = data.draw(st.sampled_from(QUOTE_IDS))
    mutated = mutate_bytes(real.quote_bytes(quote_id), data.draw)
    with no_user_warning():
        _check_mutated_quote(real, verifier, mutated)


def _check_mutated_quote(real: Corpus, verifier: Verifier, mutated: bytes) -> None:
    try:
        quote = parse_quote(mutated)
    except QuoteParseError:
        return
    quote_to_dict(quote)
    try:
        params = CollateralParameters.from_quote(quote)
    except VerificationError:
        return
    for collateral_set in real.sets.values():
        if collateral_set.parameters == params and collateral_set.collateral is not None:
            verify(verifier, quote, collateral_set.collateral, collateral_set.mid_time)
            return


# --- collateral -------------------------------------------------------------------------------


@pytest.mark.parametrize("set_id", SET_IDS)
def test_every_collateral_set_loads(real: Corpus, set_id: str) -> None:
    collateral_set = real.sets[set_id]
    if collateral_set.collateral is None:
        assert isinstance(collateral_set.error, CollateralFormatError)
        return
    again = Collateral.from_json(collateral_set.collateral.to_json())
    assert again.tcb_info.fmspc == collateral_set.collateral.tcb_info.fmspc
    assert collateral_set.parameters is not None


@pytest.mark.parametrize("set_id", SET_IDS)
def test_every_collateral_set_verifies_its_quotes(
    real: Corpus, verifier: Verifier, set_id: str
) -> None:
    """Each pairing gives a verdict or a refusal, and dcap-qvl agrees as Intel's QVL would."""
    dcap_qvl = pytest.importorskip("dcap_qvl")
    del dcap_qvl
    collateral_set = real.sets[set_id]
    collateral = collateral_set.collateral
    if collateral is None:
        pytest.skip(f"{set_id} does not load")
    quotes = real.quotes_for(collateral_set)
    assert quotes, f"{set_id} belongs with no quote of the corpus"
    now = collateral_set.mid_time
    disagreements = []
    for quote_id in quotes:
        quote = real.parsed[quote_id]
        assert isinstance(quote, Quote)
        ours = verify(verifier, quote, collateral, now)
        data = real.quote_bytes(quote_id)
        # Intel's QvE verifies a type-5 quote with its own PCK chain, whatever the collateral
        # carries; dcap-qvl would use the collateral's, so it is given the set without it.
        theirs = dcap_qvl_verdict(data, collateral_set.text_without_pck_chain, now)
        problem = adjudicate(quote, collateral, now, ours, theirs)
        if problem is None and theirs.error and "CertNotValidYet" in theirs.error:
            # Ask both again once the quote's PCK certificates are valid, if dcap-qvl will.
            later = latest_not_before(quote)
            theirs = dcap_qvl_verdict(data, collateral_set.text_without_pck_chain, later)
            problem = adjudicate(
                quote, collateral, later, verify(verifier, quote, collateral, later), theirs
            )
        if problem is not None:
            disagreements.append(f"{quote_id} at {now}: {problem}")
    assert not disagreements, "\n".join(disagreements)


def test_the_collateral_pck_chain_does_not_replace_the_quotes_own(
    real: Corpus, verifier: Verifier
) -> None:
    """Intel's QvE verifies a type-5 quote with the chain it carries (near/mpc sets carry one)."""
    with_chain = [s for s in real.sets.values() if '"pck_certificate_chain"' in s.text]
    assert with_chain
    compared = 0
    for collateral_set in with_chain:
        assert collateral_set.collateral is not None
        assert collateral_set.collateral.pck_certificate_chain is not None
        stripped = Collateral.from_json(collateral_set.text_without_pck_chain)
        for quote_id in real.quotes_for(collateral_set):
            quote = real.parsed[quote_id]
            assert isinstance(quote, Quote)
            now = collateral_set.mid_time
            as_given = verify(verifier, quote, collateral_set.collateral, now)
            own = verify(verifier, quote, stripped, now)
            assert (as_given.status, as_given.advisories) == (own.status, own.advisories)
            assert (as_given.error is None) == (own.error is None)
            compared += 1
    assert compared > 0


def test_the_two_known_bad_quotes_are_refused(real: Corpus, verifier: Verifier) -> None:
    flipped = real.parsed[FLIPPED_PLATFORM_CA]
    assert isinstance(flipped, Quote)
    with pytest.raises(CertificateChainError):
        CollateralParameters.from_quote(flipped)
    tdx_sets = [
        s
        for s in real.sets.values()
        if s.collateral is not None and s.parameters is not None and s.parameters.tee == "tdx"
    ]
    for collateral_set in tdx_sets:
        assert collateral_set.collateral is not None
        outcome = verify(verifier, flipped, collateral_set.collateral, collateral_set.mid_time)
        assert isinstance(outcome.error, CertificateChainError), collateral_set.id

    changed = real.parsed[CHANGED_LEAF_KEY]
    assert isinstance(changed, Quote)
    paired = [s for s in real.sets.values() if CHANGED_LEAF_KEY in real.quotes_for(s)]
    assert paired
    for collateral_set in paired:
        assert collateral_set.collateral is not None
        outcome = verify(verifier, changed, collateral_set.collateral, collateral_set.mid_time)
        assert outcome.error is not None, collateral_set.id
        assert outcome.error.code == "pck_chain_invalid"


# --- the SOURCE.md cases ------------------------------------------------------------------------


@pytest.mark.parametrize("case_index", range(len(CASES)), ids=[c.name for c in CASES])
def test_source_cases(real: Corpus, verifier: Verifier, case_index: int) -> None:
    case = CASES[case_index]
    collateral_set = real.sets[case.collateral_id]
    assert collateral_set.collateral is not None
    data = load_quote_file(case.quote_path)
    quote = parse_quote(data)
    outcomes: list[Outcome] = []
    for now in case.times:
        ours = verify(verifier, quote, collateral_set.collateral, now)
        outcomes.append(ours)
        try:
            theirs = dcap_qvl_verdict(data, collateral_set.text_without_pck_chain, now)
        except ImportError:
            continue
        problem = adjudicate(quote, collateral_set.collateral, now, ours, theirs)
        assert problem is None, f"{case.name} at {now}: {problem}"
    expected = UPSTREAM.get(case.name)
    if expected is not None:
        status, advisories = expected
        for ours in outcomes:
            assert ours.status == status, (case.name, ours.error)
            if advisories is not None:
                assert ours.advisories <= advisories


def test_source_cases_were_found(real: Corpus) -> None:
    names = {case.name for case in real.cases}
    assert set(UPSTREAM) <= names
    assert len(real.cases) >= 40
