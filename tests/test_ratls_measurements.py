"""dstack's mr_system / mr_aggregated: the rule's branches, and the pins that use them.

The values dstack itself computed are checked against the vectors in
``test_ratls_vectors.py`` (simulator, tdx-lite) and ``test_ratls_upstream_chain.py``
(the guest agent's ``mr_aggregated`` of a real CVM).
"""

from __future__ import annotations

import asyncio
import hashlib

import pytest

from tdxquote.ratls import (
    DcapVerifier,
    VerifyOptions,
    dstack_measurements,
    parse_certificate,
    replay,
    verify_certificate,
)
from tdxquote.testing.ratls import DEFAULT_KEY_PROVIDER, RaTlsForge, runtime_events
from tdxquote.verification import PolicyError

FORGE = RaTlsForge.create(b"tdxquote measurement tests")


def test_the_rule_by_hand() -> None:
    events = runtime_events()
    cert = parse_certificate(FORGE.certificate(events=events).chain_pem)
    body = cert.body
    base = body.mr_td + body.rtmr0 + body.rtmr1 + body.rtmr2
    tail = body.mr_config_id + body.mr_owner + body.mr_owner_config
    assert any(tail), "the forge's MRCONFIGID is dstack's 0x01 || compose-hash"
    measured = dstack_measurements(body, events)
    key_provider = hashlib.sha256(DEFAULT_KEY_PROVIDER).digest()
    assert measured.runtime.mr_key_provider == key_provider
    assert measured.mr_system == hashlib.sha256(base + key_provider).digest()
    assert measured.mr_aggregated == hashlib.sha256(base + body.rtmr3 + tail).digest()
    # Boot-time: no key provider, RTMR3 replayed up to and including boot-mr-done.
    upto = [e.digest for e in events[: [e.event for e in events].index("boot-mr-done") + 1]]
    assert measured.boottime.rtmr3 == replay(upto)
    assert measured.boottime.mr_key_provider == bytes(32)
    assert measured.boottime.mr_system == hashlib.sha256(base + bytes(32)).digest()
    assert measured.boottime.mr_aggregated == (hashlib.sha256(base + replay(upto) + tail).digest())


def test_a_zero_config_tail_is_left_out() -> None:
    events = runtime_events()
    cert = parse_certificate(FORGE.certificate(events=events, mr_config_id=bytes(48)).chain_pem)
    body = cert.body
    assert not any(body.mr_config_id + body.mr_owner + body.mr_owner_config)
    base = body.mr_td + body.rtmr0 + body.rtmr1 + body.rtmr2 + body.rtmr3
    assert cert.mr_aggregated == hashlib.sha256(base).digest()


def test_no_key_provider_event_gives_a_zero_mr_key_provider() -> None:
    events = tuple(e for e in runtime_events() if e.event != "key-provider")
    cert = parse_certificate(FORGE.certificate(events=events).chain_pem)
    assert cert.measurements.runtime.mr_key_provider == bytes(32)


def test_verify_certificate_pins_mr_aggregated() -> None:
    made = FORGE.certificate()
    good = parse_certificate(made.chain_pem).mr_aggregated
    options = {"verifier": made.verifier(), "now": made.now}
    verified = verify_certificate(made.chain_pem, expect_mr_aggregated=[good.hex()], **options)  # type: ignore[arg-type]
    assert verified.checks[-1] == "ratls_mr_aggregated"
    with pytest.raises(PolicyError) as refused:
        verify_certificate(made.chain_pem, expect_mr_aggregated=bytes(32), **options)  # type: ignore[arg-type]
    assert refused.value.rule == "expect_mr_aggregated"
    assert refused.value.checks_passed[-1] == "policy"
    with pytest.raises(ValueError, match="not hex"):
        verify_certificate(made.chain_pem, expect_mr_aggregated="zz", **options)  # type: ignore[arg-type]


def test_teesql_options_and_result_carry_mr_aggregated() -> None:
    made = FORGE.certificate()
    cert = parse_certificate(made.chain_pem)
    verifier = DcapVerifier(made.collateral(), verifier=made.verifier(), now=made.now)

    def run(options: VerifyOptions) -> object:
        return asyncio.run(verifier.verify_cert(made.chain_der, options))

    result = run(VerifyOptions(allowed_mr_aggregated=["0x" + cert.mr_aggregated.hex().upper()]))
    assert result.mr_aggregated == cert.mr_aggregated.hex()  # type: ignore[attr-defined]
    assert result.mr_system == cert.mr_system.hex()  # type: ignore[attr-defined]
    with pytest.raises(PolicyError) as refused:
        run(VerifyOptions(allowed_mr_aggregated=["00" * 32]))
    assert refused.value.rule == "allowed_mr_aggregated"
    # A bare quote has no runtime events: an mr_aggregated allowlist cannot be satisfied.
    with pytest.raises(PolicyError, match="needs the certificate"):
        asyncio.run(
            verifier.verify(
                made.quote.to_bytes(),
                VerifyOptions(require_key_binding=False, allowed_mr_aggregated=["00" * 32]),
            )
        )
