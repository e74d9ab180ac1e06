"""ItaVerifier, IntelApiVerifier and CompositeVerifier on RA-TLS certificates, on loopback."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from tdxquote.errors import ItaClaimsError, ItaTokenError, VerifiersDisagreeError
from tdxquote.ita import (
    API_KEY_ENV,
    ITA_EU_API_URL,
    ITA_EU_PORTAL_URL,
    ITA_US_API_URL,
    ITA_US_PORTAL_URL,
    CompositeVerifier,
    IntelApiVerifier,
    ItaClient,
    ItaVerifier,
)
from tdxquote.ita._verifiers import _check_token_binding
from tdxquote.ratls import (
    BindingMismatchError,
    BindingUnavailableError,
    DcapVerifier,
    RtmrMismatchError,
    VerificationResult,
    VerifyOptions,
)
from tdxquote.testing.ita import ItaServer, TokenOptions
from tdxquote.testing.ratls import ForgedCertificate, RaTlsForge
from tdxquote.verification import PolicyError

DEBUG_ATTRIBUTES = bytes.fromhex("0100001000000000")


@pytest.fixture(scope="module")
def forge() -> RaTlsForge:
    return RaTlsForge.create(b"ita verifier tests")


@pytest.fixture(scope="module")
def made(forge: RaTlsForge) -> ForgedCertificate:
    return forge.certificate(issuer="kms")


@pytest.fixture
def server(made: ForgedCertificate) -> Iterator[ItaServer]:
    with ItaServer(now=made.now, verifier=made.verifier()) as running:
        yield running


def ita(server: ItaServer) -> ItaVerifier:
    return ItaVerifier(server.config(), now=server.now + timedelta(seconds=2))


def dcap(made: ForgedCertificate) -> DcapVerifier:
    return DcapVerifier(verifier=made.verifier(), now=made.now)


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


# --- the TeeSQL interface ----------------------------------------------------------------------


def test_verify_cert_checks_binding_log_and_ita(server: ItaServer, made: ForgedCertificate) -> None:
    result = run(ita(server).verify_cert(made.leaf_der))
    assert isinstance(result, VerificationResult)
    assert result.mr_td == made.quote.body.mr_td.hex()
    assert result.rtmr3 == made.quote.body.rtmr3.hex()
    assert result.tcb_status == "UpToDate"
    assert result.key_binding is True
    assert result.attested is True
    assert result.compose_hash is not None
    assert server.count("/appraisal/v2/attest") == 1


def test_verify_with_certificate_bytes_is_verify_cert(
    server: ItaServer, made: ForgedCertificate
) -> None:
    assert run(ita(server).verify(made.leaf_der, VerifyOptions())).key_binding is True


def test_a_bare_quote_is_refused_by_default(server: ItaServer, made: ForgedCertificate) -> None:
    with pytest.raises(BindingUnavailableError):
        run(ita(server).verify(made.quote.to_bytes()))
    assert server.requests == []
    options = VerifyOptions(require_key_binding=False)
    result = run(ita(server).verify(made.quote.to_bytes(), options))
    assert result.key_binding is False
    assert result.tcb_status == "UpToDate"


def test_verify_with_pubkey_binds_the_certificate(
    server: ItaServer, forge: RaTlsForge, made: ForgedCertificate
) -> None:
    result = run(ita(server).verify_with_pubkey(made.quote.to_bytes(), None, made.leaf_der))
    assert result.key_binding is True
    other = forge.certificate(forge.leaf_key("another key"))
    with pytest.raises(BindingMismatchError):
        run(ita(server).verify_with_pubkey(made.quote.to_bytes(), None, other.leaf_der))
    assert server.count("/appraisal/") == 1  # the mismatch never reached ITA


def test_an_unbound_certificate_is_refused_before_ita(server: ItaServer, forge: RaTlsForge) -> None:
    unbound = forge.certificate(bind_key=forge.leaf_key("someone else"))
    with pytest.raises(BindingMismatchError):
        run(ita(server).verify_cert(unbound.leaf_der))
    assert server.requests == []


def test_a_broken_event_log_is_refused_before_ita(server: ItaServer, forge: RaTlsForge) -> None:
    broken = forge.certificate(break_rtmr=3)
    with pytest.raises(RtmrMismatchError):
        run(ita(server).verify_cert(broken.leaf_der))
    assert server.requests == []


def test_the_tokens_report_data_must_bind_the_key(
    server: ItaServer, made: ForgedCertificate
) -> None:
    with ItaClient(server.config()) as client:
        verified = client.appraise(made.quote, now=server.now + timedelta(seconds=1))
    _check_token_binding(verified, made.quote.body.report_data)
    with pytest.raises(BindingMismatchError):
        _check_token_binding(verified, bytes(64))


def test_a_token_disagreeing_with_the_certificates_quote_is_refused(
    server: ItaServer, made: ForgedCertificate
) -> None:
    server.token_options = TokenOptions(claims={"tdx_report_data": "00" * 64})
    with pytest.raises(ItaClaimsError) as caught:
        run(ita(server).verify_cert(made.leaf_der))
    assert caught.value.claim == "tdx_report_data"


# --- the options, as DcapVerifier applies them --------------------------------------------------


@pytest.mark.parametrize(
    ("options", "rule"),
    [
        (VerifyOptions(allowed_mr_td=["00" * 48]), "allowed_mr_td"),
        (VerifyOptions(allowed_tcb_statuses=["OutOfDate"]), "accepted_statuses"),
        (VerifyOptions(expect_events={"compose-hash": "11" * 32}), "expect_event:compose-hash"),
    ],
)
def test_options_refuse_as_with_dcap(
    server: ItaServer, made: ForgedCertificate, options: VerifyOptions, rule: str
) -> None:
    for backend in (ita(server), dcap(made)):
        with pytest.raises(PolicyError) as caught:
            run(backend.verify_cert(made.leaf_der, options))
        assert caught.value.rule == rule


def test_teesql_statuses_are_accepted_by_default(
    server: ItaServer, made: ForgedCertificate
) -> None:
    server.verifier = None
    server.token_options = TokenOptions(tcb_status="SWHardeningNeeded")
    assert run(ita(server).verify_cert(made.leaf_der)).tcb_status == "SWHardeningNeeded"
    server.token_options = TokenOptions(tcb_status="OutOfDate")
    with pytest.raises(PolicyError):
        run(ita(server).verify_cert(made.leaf_der))


def test_a_debug_td_needs_allow_debug_mode(forge: RaTlsForge) -> None:
    debug = forge.certificate(td_attributes=DEBUG_ATTRIBUTES)
    with ItaServer(now=debug.now) as server:
        with pytest.raises(PolicyError) as caught:
            run(ita(server).verify_cert(debug.leaf_der))
        assert caught.value.rule == "debug"
        result = run(ita(server).verify_cert(debug.leaf_der, VerifyOptions(allow_debug_mode=True)))
    assert result.is_debug_mode is True


def test_both_backends_give_the_same_result(server: ItaServer, made: ForgedCertificate) -> None:
    options = VerifyOptions(
        allowed_mr_td=["0x" + made.quote.body.mr_td.hex().upper()],
        expect_events={"compose-hash": made.runtime_events[2].payload.hex()},
    )
    assert made.runtime_events[2].event == "compose-hash"
    from_ita = run(ita(server).verify_cert(made.leaf_der, options))
    from_dcap = run(dcap(made).verify_cert(made.leaf_der, options))
    assert from_ita == from_dcap


def test_teesql_options_objects_are_read_too(server: ItaServer, made: ForgedCertificate) -> None:
    class TeeSqlOptions:  # ra_tls_verify's, with only its two attributes
        def __init__(self) -> None:
            self.allowed_mr_td = ["ff" * 48]
            self.allow_debug_mode = False

    with pytest.raises(PolicyError):
        run(ita(server).verify_cert(made.leaf_der, TeeSqlOptions()))


# --- CompositeVerifier --------------------------------------------------------------------------


def test_a_composite_of_dcap_and_ita_agrees(server: ItaServer, made: ForgedCertificate) -> None:
    both = CompositeVerifier(dcap(made), ita(server))
    result = run(both.verify_cert(made.leaf_der))
    assert result == run(dcap(made).verify_cert(made.leaf_der))


def test_a_composite_reports_the_worst_status(server: ItaServer, made: ForgedCertificate) -> None:
    server.verifier = None
    server.token_options = TokenOptions(
        tcb_status="SWHardeningNeeded", advisory_ids=("INTEL-SA-00615",)
    )
    result = run(CompositeVerifier(dcap(made), ita(server)).verify_cert(made.leaf_der))
    assert result.tcb_status == "SWHardeningNeeded"
    assert result.advisory_ids == ("INTEL-SA-00615",)
    strict = CompositeVerifier(dcap(made), ita(server), require_same_status=True)
    with pytest.raises(VerifiersDisagreeError) as caught:
        run(strict.verify_cert(made.leaf_der))
    assert caught.value.field == "tcb_status"
    assert caught.value.values == ("UpToDate", "SWHardeningNeeded")


def test_a_composite_raises_the_first_refusal(server: ItaServer, made: ForgedCertificate) -> None:
    server.revoke_leaf()
    with pytest.raises(ItaTokenError) as caught:
        run(CompositeVerifier(dcap(made), ita(server)).verify_cert(made.leaf_der))
    assert caught.value.code == "ita_certificate_revoked"


class Lying:
    """A backend that accepts with a changed result."""

    def __init__(self, inner: DcapVerifier, **changes: Any) -> None:
        self.inner, self.changes = inner, changes

    async def verify(self, quote: bytes, options: Any = None) -> VerificationResult:
        return dataclasses.replace(await self.inner.verify(quote, options), **self.changes)

    async def verify_with_pubkey(
        self, quote: bytes, options: Any, cert_der: bytes
    ) -> VerificationResult:
        result = await self.inner.verify_with_pubkey(quote, options, cert_der)
        return dataclasses.replace(result, **self.changes)

    async def verify_cert(self, cert: Any, options: Any = None) -> VerificationResult:
        return dataclasses.replace(await self.inner.verify_cert(cert, options), **self.changes)


@pytest.mark.parametrize(
    ("field", "value"),
    [("mr_td", "00" * 48), ("rtmr2", "11" * 48), ("report_data", ""), ("attested", False)],
)
def test_a_composite_refuses_disagreement(made: ForgedCertificate, field: str, value: Any) -> None:
    both = CompositeVerifier(dcap(made), Lying(dcap(made), **{field: value}))
    with pytest.raises(VerifiersDisagreeError) as caught:
        run(both.verify(made.leaf_der))
    assert caught.value.field == field


def test_a_composite_needs_two_backends(made: ForgedCertificate) -> None:
    with pytest.raises(ValueError, match="two"):
        CompositeVerifier(dcap(made))


# --- IntelApiVerifier ---------------------------------------------------------------------------


def test_intel_api_verifier_defaults_are_teesqls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(API_KEY_ENV, "from-the-environment")
    us = IntelApiVerifier()
    assert (us.config.api_url, us.config.portal_url) == (ITA_US_API_URL, ITA_US_PORTAL_URL)
    assert us.config.api_key == "from-the-environment"
    assert us.config.token_signing_alg == "PS384"
    eu = IntelApiVerifier(api_key="given", region="eu")
    assert (eu.config.api_url, eu.config.portal_url) == (ITA_EU_API_URL, ITA_EU_PORTAL_URL)
    assert eu.config.api_key == "given"
    known = IntelApiVerifier(base_url=ITA_EU_API_URL + "/")
    assert known.config.portal_url == ITA_EU_PORTAL_URL


def test_intel_api_verifier_refuses_guesses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(API_KEY_ENV, raising=False)
    with pytest.raises(ValueError, match=API_KEY_ENV):
        IntelApiVerifier()
    with pytest.raises(ValueError, match="portal_url"):
        IntelApiVerifier(api_key="k", base_url="https://ita.example")
    with pytest.raises(ValueError, match="region"):
        IntelApiVerifier(api_key="k", region="apac")


def test_intel_api_verifier_on_the_local_server(server: ItaServer, made: ForgedCertificate) -> None:
    verifier = IntelApiVerifier(
        api_key=server.api_key,
        base_url=server.api_url,
        portal_url=server.portal_url,
        root_spki_sha256=server.pki.root_spki_sha256.hex(),
        now=server.now + timedelta(seconds=1),
    )
    result = run(verifier.verify(made.leaf_der, VerifyOptions()))
    assert result.mr_td == made.quote.body.mr_td.hex()
    assert all(r.header("x-api-key") is None for r in server.requests if r.role == "portal")


def test_one_verifier_serves_several_event_loops(
    server: ItaServer, made: ForgedCertificate
) -> None:
    verifier = ita(server)
    assert run(verifier.verify_cert(made.leaf_der)) == run(verifier.verify_cert(made.leaf_der))
    assert server.count("/certs") == 1  # the key cache outlives each loop
