"""The TeeSQL verifier interface: ``await verifier.verify(quote, VerifyOptions(...))``."""

from __future__ import annotations

import asyncio
import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tdxquote import Collateral, Quote
from tdxquote.ratls import (
    BindingMismatchError,
    BindingUnavailableError,
    DcapVerifier,
    RtmrMismatchError,
    UnattestedWarning,
    VerificationResult,
    VerifyOptions,
    extract_attested_certificate,
    extract_tdx_quote,
)
from tdxquote.testing.ratls import (
    DEFAULT_APP_ID,
    DEFAULT_COMPOSE_HASH,
    ForgedCertificate,
    RaTlsForge,
)
from tdxquote.verification import PolicyError, Verifier

KMS_NOW = 1750400000


@pytest.fixture(scope="module")
def forge() -> RaTlsForge:
    return RaTlsForge.create(b"tdxquote teesql tests")


@pytest.fixture(scope="module")
def made(forge: RaTlsForge) -> ForgedCertificate:
    return forge.certificate(issuer="kms")


def _verifier(made: ForgedCertificate, **options: Any) -> DcapVerifier:
    return DcapVerifier(
        made.collateral(), trust_root=made.scenario.trust_root_der, now=made.now, **options
    )


def _run(coroutine: Any) -> VerificationResult:
    return asyncio.run(coroutine)  # type: ignore[no-any-return]


def test_verify_a_certificate_returns_teesqls_fields(made: ForgedCertificate) -> None:
    result = _run(_verifier(made).verify(made.leaf_der, VerifyOptions()))
    body = made.quote.body
    assert result.mr_td == body.mr_td.hex()
    assert [result.rtmr0, result.rtmr1, result.rtmr2, result.rtmr3] == [r.hex() for r in body.rtmrs]  # type: ignore[union-attr]
    assert result.tcb_status == "UpToDate"
    assert result.is_debug_mode is False
    assert result.key_binding
    assert result.attested
    assert result.app_id == DEFAULT_APP_ID.hex()
    assert result.compose_hash == DEFAULT_COMPOSE_HASH.hex()
    assert result.report_data == body.report_data.hex()
    assert _run(_verifier(made).verify_cert(made.chain_der)) == result


def test_a_bare_quote_is_refused_unless_binding_is_waived(made: ForgedCertificate) -> None:
    verifier = _verifier(made)
    with pytest.raises(BindingUnavailableError) as info:
        _run(verifier.verify(made.quote.to_bytes(), VerifyOptions()))
    assert info.value.code == "ratls_binding_unavailable"
    result = _run(verifier.verify(made.quote.to_bytes(), VerifyOptions(require_key_binding=False)))
    assert result.key_binding is False
    assert result.app_id is None
    assert result.tcb_status == "UpToDate"


def test_verify_with_pubkey_checks_the_binding(forge: RaTlsForge, made: ForgedCertificate) -> None:
    verifier = _verifier(made)
    result = _run(
        verifier.verify_with_pubkey(made.quote.to_bytes(), VerifyOptions(), made.leaf_der)
    )
    assert result.key_binding
    other = forge.certificate(issuer="ca", key=forge.leaf_key("another server"))
    with pytest.raises(BindingMismatchError):
        _run(verifier.verify_with_pubkey(made.quote.to_bytes(), VerifyOptions(), other.leaf_der))


def test_policy_order_and_options(forge: RaTlsForge, made: ForgedCertificate) -> None:
    verifier = _verifier(made)
    mr_td = made.quote.body.mr_td.hex()
    allowed = VerifyOptions(allowed_mr_td=["0x" + mr_td.upper()])
    assert _run(verifier.verify(made.leaf_der, allowed)).mr_td == mr_td
    with pytest.raises(PolicyError) as mrtd:
        _run(verifier.verify(made.leaf_der, VerifyOptions(allowed_mr_td=["00" * 48])))
    assert mrtd.value.rule == "allowed_mr_td"
    debug = forge.certificate(td_attributes=bytes.fromhex("0100001000000000"))
    # Debug is checked first, before the MRTD allowlist (TeeSQL's order).
    with pytest.raises(PolicyError) as info:
        _run(_verifier(debug).verify(debug.leaf_der, VerifyOptions(allowed_mr_td=["00" * 48])))
    assert info.value.rule == "debug"
    assert _run(
        _verifier(debug).verify(debug.leaf_der, VerifyOptions(allow_debug_mode=True))
    ).is_debug_mode
    with pytest.raises(PolicyError) as status:
        _run(
            verifier.verify(
                made.leaf_der, VerifyOptions(allowed_tcb_statuses=["SWHardeningNeeded"])
            )
        )
    assert status.value.rule == "accepted_statuses"
    pinned = VerifyOptions(expect_events={"compose-hash": [DEFAULT_COMPOSE_HASH.hex()]})
    assert _run(verifier.verify(made.leaf_der, pinned)).compose_hash == DEFAULT_COMPOSE_HASH.hex()
    with pytest.raises(PolicyError):
        _run(verifier.verify(made.leaf_der, VerifyOptions(expect_events={"app-id": "00" * 20})))


def test_foreign_options_objects_are_read_by_attribute(made: ForgedCertificate) -> None:
    # psycopg-ra-tls passes ra_tls_verify.VerifyOptions(): only the two TeeSQL fields.
    options = SimpleNamespace(allowed_mr_td=[], allow_debug_mode=False)
    assert _run(_verifier(made).verify(made.leaf_der, options)).key_binding
    assert _run(_verifier(made).verify(made.leaf_der, None)).key_binding


def test_refusals_from_the_certificate(forge: RaTlsForge) -> None:
    broken = forge.certificate(break_rtmr=3)
    with pytest.raises(RtmrMismatchError):
        _run(_verifier(broken).verify(broken.leaf_der))


def test_collateral_sources(made: ForgedCertificate) -> None:
    seen: list[Quote] = []

    def fetch(quote: Quote) -> Collateral:
        seen.append(quote)
        return made.collateral()

    async def fetch_async(quote: Quote) -> Collateral:
        return made.collateral()

    root = made.scenario.trust_root_der
    for source in (fetch, fetch_async):
        verifier = DcapVerifier(source, trust_root=root, now=lambda: made.now)
        assert _run(verifier.verify(made.leaf_der)).tcb_status == "UpToDate"
    assert seen
    assert seen[0] == made.quote
    own = DcapVerifier(
        verifier=Verifier(trust_root=root, collateral=made.collateral()), now=made.now
    )
    assert _run(own.verify(made.leaf_der)).attested
    with pytest.raises(TypeError, match="collateral"):
        _run(DcapVerifier(now=made.now).verify(made.leaf_der))
    with pytest.raises(TypeError, match="trust_root"):
        DcapVerifier(verifier=Verifier(), trust_root=root)


def test_simulator_mode_attests_nothing(forge: RaTlsForge) -> None:
    made = forge.certificate(quote_options={"bad_quote_signature": True})
    verifier = DcapVerifier(unsafe_simulator=True)
    with pytest.warns(UnattestedWarning):
        result = _run(verifier.verify(made.leaf_der, VerifyOptions()))
    assert result.attested is False
    assert result.tcb_status == "Unattested"
    assert result.key_binding
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnattestedWarning)
        with pytest.raises(BindingMismatchError):
            _run(verifier.verify(forge.certificate(bind_key=forge.leaf_key("x")).leaf_der))


def test_extractors(forge: RaTlsForge, made: ForgedCertificate) -> None:
    assert extract_tdx_quote(made.leaf_der) == made.quote.to_bytes()
    assert (
        extract_tdx_quote(forge.certificate(form="1.1-legacy").leaf_der)
        == forge.certificate(form="1.1-legacy").quote.to_bytes()
    )
    assert extract_attested_certificate(made.leaf_der) == made.leaf_der
    assert extract_tdx_quote(made.chain_der[1]) is None
    assert extract_attested_certificate(made.chain_der[1]) is None


def test_kms_pr538_quote_verifies_offline(vectors: Path) -> None:
    folder = vectors / "dstack/upstream"
    quote = (folder / "kms-pr538_tdx_quote.bin").read_bytes()
    collateral = Collateral.from_json((folder / "kms-pr538_tdx_quote_collateral.json").read_text())
    verifier = DcapVerifier()
    with pytest.raises(BindingUnavailableError):
        verifier.verify_with_collateral(quote, collateral, KMS_NOW, VerifyOptions())
    result = verifier.verify_with_collateral(
        quote, collateral, KMS_NOW, VerifyOptions(require_key_binding=False)
    )
    assert result.mr_td.startswith("91eb2b44")
    assert result.mr_td.endswith("18b7")
    assert result.tcb_status == "UpToDate"
    assert result.is_debug_mode is False
    assert result.advisory_ids == ()
    assert result.attested
    assert not result.key_binding


def test_psycopg_forwarder_flow_with_the_certificate_extractor(made: ForgedCertificate) -> None:
    # What psycopg-ra-tls's forwarder does once extract_tdx_quote is replaced (docs/ra-tls.md).
    extracted = extract_attested_certificate(made.leaf_der)
    assert extracted is not None
    options = SimpleNamespace(allowed_mr_td=[], allow_debug_mode=False)
    result = _run(_verifier(made).verify(extracted, options))
    assert result.key_binding
    assert result.compose_hash == DEFAULT_COMPOSE_HASH.hex()
