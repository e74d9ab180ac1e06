"""End-to-end RA-TLS verification of forged certificates, each knob breaking one property."""

from __future__ import annotations

import contextlib
import pickle
import warnings
from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from tdxquote import QuoteParseError, VerificationError
from tdxquote._der import encode_octet_string
from tdxquote.ratls import (
    RATLS_ERROR_CODES,
    BindingMismatchError,
    BindingUnavailableError,
    NoAttestationError,
    RaTlsError,
    RaTlsFormatError,
    RtmrMismatchError,
    UnattestedWarning,
    UnsupportedAttestationError,
    VerifiedCertificate,
    certificate_report,
    load_chain,
    parse_certificate,
    read_extensions,
    report_exit_code,
    unsafe_check_simulator_certificate,
    verify_certificate,
)
from tdxquote.testing.ratls import (
    DEFAULT_APP_ID,
    DEFAULT_COMPOSE_HASH,
    DEFAULT_INSTANCE_ID,
    DEFAULT_OS_IMAGE_HASH,
    ForgedCertificate,
    RaTlsForge,
    runtime_events,
    server_certificate,
    server_scenario,
)
from tdxquote.verification import PolicyError, Verifier


@pytest.fixture(scope="module")
def forge() -> RaTlsForge:
    return RaTlsForge.create(b"tdxquote ratls tests")


@pytest.fixture(scope="module")
def made(forge: RaTlsForge) -> ForgedCertificate:
    return forge.certificate()


def _verify(made: ForgedCertificate, **options: object) -> VerifiedCertificate:
    return verify_certificate(made.chain_pem, verifier=made.verifier(), now=made.now, **options)  # type: ignore[arg-type]


def test_a_forged_certificate_verifies_end_to_end(made: ForgedCertificate) -> None:
    verified = _verify(made)
    assert verified.verified_quote.status == "UpToDate"
    assert verified.binding.ok
    assert verified.replayed_rtmrs == (3,)
    assert verified.unreplayable_rtmrs == (0, 1, 2)
    assert verified.checks[:3] == ("ratls_attestation", "ratls_binding", "ratls_rtmr_replay")
    assert "quote_signature" in verified.checks
    assert verified.checks[-1] == "policy"
    assert verified.events.app_id == DEFAULT_APP_ID
    assert verified.events.compose_hash == DEFAULT_COMPOSE_HASH
    assert verified.events.instance_id == DEFAULT_INSTANCE_ID
    assert verified.events.os_image_hash == DEFAULT_OS_IMAGE_HASH
    assert verified.events.key_provider_info is not None
    assert verified.chain_root.subject == made.leaf.subject
    assert verified.body.mr_config_id[:33] == b"\x01" + DEFAULT_COMPOSE_HASH
    assert verified.quote == made.quote


@pytest.mark.parametrize(
    "as_input",
    [
        lambda m: m.chain_pem,
        lambda m: m.chain_pem.decode(),
        lambda m: m.leaf_der,
        lambda m: b"".join(m.chain_der),
        lambda m: m.chain_der,
        lambda m: list(m.chain),
        lambda m: m.leaf,
    ],
    ids=["pem", "pem-text", "der", "der-concatenated", "der-list", "certificates", "certificate"],
)
def test_every_input_form(forge: RaTlsForge, as_input: object) -> None:
    made = forge.certificate(issuer="ca")
    source = as_input(made)  # type: ignore[operator]
    verified = verify_certificate(source, verifier=made.verifier(), now=made.now)
    assert verified.certificate.sha256 == parse_certificate(made.leaf_der).sha256


@pytest.mark.parametrize("issuer", ["self", "ca", "kms"])
def test_chains_are_reported_not_trusted(forge: RaTlsForge, issuer: str) -> None:
    made = forge.certificate(issuer=issuer)  # type: ignore[arg-type]
    verified = _verify(made)
    assert len(verified.certificate.chain) == {"self": 1, "ca": 2, "kms": 3}[issuer]
    assert verified.certificate.chain_links_verify
    # A chain whose links do not verify changes nothing: trust is the attestation's.
    other = RaTlsForge.create(b"another KMS")
    broken = [made.leaf, *other.certificate(issuer="kms").chain[1:]]
    if issuer != "self":
        cert = parse_certificate(broken)
        assert not cert.chain_links_verify
        verify_certificate(broken, verifier=made.verifier(), now=made.now)


def test_legacy_form_replays_every_register(forge: RaTlsForge) -> None:
    made = forge.certificate(form="1.1-legacy")
    verified = _verify(made)
    assert verified.certificate.format == "1.1-legacy"
    assert verified.replayed_rtmrs == (0, 1, 2, 3)
    assert read_extensions(made.leaf).attestation is None


def test_both_forms_prefer_the_attestation_extension(forge: RaTlsForge) -> None:
    made = forge.certificate(form="both")
    assert _verify(made).certificate.format == "1.8-v0"


def test_unstripped_v0_log_replays_every_register(forge: RaTlsForge) -> None:
    assert _verify(forge.certificate(strip_log=False)).replayed_rtmrs == (0, 1, 2, 3)


def test_td15_body(forge: RaTlsForge) -> None:
    verified = _verify(forge.certificate(body_type=3))
    assert verified.quote.version == 5


def test_binding_another_key_is_refused(forge: RaTlsForge) -> None:
    made = forge.certificate(bind_key=forge.leaf_key("someone else"))
    cert = parse_certificate(made.chain_pem)
    assert not cert.binding.quote_ok
    assert not cert.binding.envelope_ok
    with pytest.raises(BindingMismatchError) as info:
        _verify(made)
    assert info.value.code == "ratls_binding_mismatch"
    assert info.value.expected == cert.binding.expected
    assert info.value.checks_passed == ("ratls_attestation",)


def test_envelope_report_data_must_bind_too(forge: RaTlsForge) -> None:
    made = forge.certificate(envelope_report_data=bytes(64))
    cert = parse_certificate(made.chain_pem)
    assert cert.binding.quote_ok
    assert not cert.binding.envelope_ok
    with pytest.raises(BindingMismatchError, match="attestation's report data"):
        _verify(made)


def test_a_broken_rtmr3_is_refused(forge: RaTlsForge) -> None:
    with pytest.raises(RtmrMismatchError) as info:
        _verify(forge.certificate(break_rtmr=3))
    assert info.value.index == 3
    assert info.value.checks_passed == ("ratls_attestation", "ratls_binding")


def test_a_broken_boot_rtmr_is_caught_only_with_a_full_log(forge: RaTlsForge) -> None:
    stripped = _verify(forge.certificate(break_rtmr=1))
    assert stripped.unreplayable_rtmrs == (0, 1, 2)
    with pytest.raises(RtmrMismatchError) as info:
        _verify(forge.certificate(break_rtmr=1, strip_log=False))
    assert info.value.index == 1


def test_dcap_failures_keep_their_code_after_the_ratls_checks(forge: RaTlsForge) -> None:
    made = forge.certificate(quote_options={"bad_quote_signature": True})
    with pytest.raises(VerificationError) as info:
        _verify(made)
    assert info.value.code == "quote_signature_invalid"
    assert info.value.checks_passed[:3] == (
        "ratls_attestation",
        "ratls_binding",
        "ratls_rtmr_replay",
    )
    good = forge.certificate()
    late = good.now + timedelta(days=3650)
    with pytest.raises(VerificationError) as expired:
        verify_certificate(good.chain_pem, verifier=good.verifier(), now=late)
    assert expired.value.code == "collateral_expired"


def test_policy_applies_to_the_quote(made: ForgedCertificate) -> None:
    from tdxquote import Policy

    with pytest.raises(PolicyError):
        _verify(made, policy=Policy().expect_mr_td(bytes(48)))
    _verify(made, policy=Policy().expect_mr_td(made.quote.body.mr_td))


def test_debug_tds_are_refused_by_default(forge: RaTlsForge) -> None:
    made = forge.certificate(td_attributes=bytes.fromhex("0100001000000000"))
    with pytest.raises(PolicyError, match="debug"):
        _verify(made)


def test_event_pins(made: ForgedCertificate) -> None:
    verified = _verify(
        made, expect_events={"compose-hash": [DEFAULT_COMPOSE_HASH.hex()], "app-id": DEFAULT_APP_ID}
    )
    assert verified.checks[-1] == "ratls_event_pins"
    with pytest.raises(PolicyError) as info:
        _verify(made, expect_events={"compose-hash": "00" * 32})
    assert info.value.rule == "expect_event:compose-hash"
    with pytest.raises(PolicyError, match="no 'gpu-policy-hash'"):
        _verify(made, expect_events={"gpu-policy-hash": "00"})
    with pytest.raises(ValueError, match="not hex"):
        _verify(made, expect_events={"app-id": "xyz"})


def test_application_events_cannot_satisfy_pins(forge: RaTlsForge) -> None:
    events = runtime_events(application=[("compose-hash", b"\xaa" * 32)])
    made = forge.certificate(events=events)
    with pytest.raises(PolicyError):
        _verify(made, expect_events={"compose-hash": b"\xaa" * 32})
    assert _verify(made).events.application_events[0].event == "compose-hash"


def test_simulator_mode_checks_binding_and_replay_but_warns(forge: RaTlsForge) -> None:
    made = forge.certificate(quote_options={"bad_quote_signature": True})
    with pytest.warns(UnattestedWarning, match="NOT attested"):
        cert = unsafe_check_simulator_certificate(made.chain_pem)
    assert cert.binding.ok
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnattestedWarning)
        with pytest.raises(BindingMismatchError):
            unsafe_check_simulator_certificate(
                forge.certificate(bind_key=forge.leaf_key("x")).chain_pem
            )
        with pytest.raises(PolicyError):
            unsafe_check_simulator_certificate(made.chain_pem, expect_events={"app-id": "00" * 20})


def test_verify_needs_collateral(made: ForgedCertificate) -> None:
    with pytest.raises(TypeError, match="collateral"):
        verify_certificate(made.chain_pem, now=made.now)
    with pytest.raises(TypeError, match="trust_root"):
        verify_certificate(made.chain_pem, now=made.now, verifier=made.verifier(), trust_root=b"x")
    verify_certificate(
        made.chain_pem,
        now=made.now,
        collateral=made.collateral(),
        trust_root=made.scenario.trust_root_der,
    )


def test_certificates_without_attestation(forge: RaTlsForge, made: ForgedCertificate) -> None:
    plain = forge.certificate(issuer="ca").chain[1]  # the CA certificate
    with pytest.raises(NoAttestationError):
        parse_certificate(plain)
    quote_only = _with_extension(
        made, "1.3.6.1.4.1.62397.1.1", encode_octet_string(made.quote.to_bytes())
    )
    with pytest.raises(NoAttestationError, match="without its event log"):
        parse_certificate(quote_only)


def test_malformed_inputs_raise_parse_errors(made: ForgedCertificate) -> None:
    for bad in (
        b"",
        b"hello",
        b"\x30\x03\x02\x01",
        b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        [],
        [b"\x30\x00"],
    ):
        with pytest.raises(QuoteParseError):
            parse_certificate(bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        load_chain([42])  # type: ignore[list-item]


def _with_extension(made: ForgedCertificate, oid: str, value: bytes) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(made.leaf.subject)
        .issuer_name(made.leaf.subject)
        .public_key(made.key.public_key())
        .serial_number(7)
        .not_valid_before(made.leaf.not_valid_before_utc)
        .not_valid_after(made.leaf.not_valid_after_utc)
        .add_extension(
            x509.UnrecognizedExtension(x509.ObjectIdentifier(oid), value), critical=False
        )
    )
    assert isinstance(made.key, ec.EllipticCurvePrivateKey)
    return builder.sign(made.key, hashes.SHA256())


def test_extension_values_must_be_wrapped_octet_strings(made: ForgedCertificate) -> None:
    unwrapped = _with_extension(made, "1.3.6.1.4.1.62397.1.8", made.attestation or b"")
    with pytest.raises(RaTlsFormatError, match="OCTET STRING") as info:
        parse_certificate(unwrapped)
    assert info.value.field == "1.3.6.1.4.1.62397.1.8"
    odd = _with_extension(made, "1.3.6.1.4.1.62397.1.7", b"\x04\x00")
    assert read_extensions(odd).unknown == ("1.3.6.1.4.1.62397.1.7",)


@pytest.mark.parametrize(
    "key",
    [
        lambda: ec.generate_private_key(ec.SECP384R1()),
        lambda: ed25519.Ed25519PrivateKey.generate(),
        lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
    ],
    ids=["p384", "ed25519", "rsa"],
)
def test_server_certificate_for_any_key(key: object) -> None:
    private = key()  # type: ignore[operator]
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    cert_pem, key_pem = server_certificate(pem, issuer="ca")
    chain = load_chain(cert_pem)
    loaded = serialization.load_pem_private_key(key_pem, password=None)
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    assert chain[0].public_key().public_bytes(
        serialization.Encoding.DER, spki
    ) == loaded.public_key().public_bytes(serialization.Encoding.DER, spki)
    scenario = server_scenario()
    verifier = Verifier(trust_root=scenario.trust_root_der, collateral=scenario.to_collateral())
    verify_certificate(cert_pem, verifier=verifier, now=scenario.now)


def test_server_certificate_is_deterministic() -> None:
    assert server_certificate() == server_certificate()


def test_error_codes_are_registered_and_pickle() -> None:
    classes = [
        BindingMismatchError,
        BindingUnavailableError,
        NoAttestationError,
        RtmrMismatchError,
        UnsupportedAttestationError,
    ]
    for cls in classes:
        assert issubclass(cls, RaTlsError)
        assert cls.code in RATLS_ERROR_CODES
    errors: list[RaTlsError] = [
        BindingMismatchError(
            "m", expected=b"\x01", quote_report_data=b"\x02", envelope_report_data=b"\x03"
        ),
        RtmrMismatchError("m", index=2, quoted=b"\x01", replayed=b"\x02"),
        UnsupportedAttestationError("m", found="V1 msgpack"),
        NoAttestationError("m"),
        BindingUnavailableError("m"),
    ]
    for error in errors:
        again = pickle.loads(pickle.dumps(error))
        assert type(again) is type(error)
        assert again.to_dict() == error.to_dict()
        assert error.to_dict()["code"] == error.code
    parse = RaTlsFormatError("r", offset=3, field="f")
    assert pickle.loads(pickle.dumps(parse)).offset == 3


def test_report_of_a_verified_certificate(made: ForgedCertificate) -> None:
    report = certificate_report(made.chain_der, verifier=made.verifier(), now=made.now)
    assert report_exit_code(report) == 0
    assert report["verdict"]["ok"]
    assert report["verdict"]["attested"]
    assert report["verdict"]["status"] == "UpToDate"
    assert report["format"] == "1.8-v0"
    assert report["report_data_binding"] is True
    assert report["rtmr_replay"] == {"rtmr0": None, "rtmr1": None, "rtmr2": None, "rtmr3": True}
    assert report["app_id"] == DEFAULT_APP_ID.hex()
    assert report["sha256"] == parse_certificate(made.leaf_der).sha256
    no_collateral = certificate_report(made.chain_der, now=made.now)
    assert no_collateral["verdict"]["error"]["code"] == "no_collateral"
    assert report_exit_code(no_collateral) == 2
    with pytest.raises(TypeError):
        certificate_report(made.chain_der, unsafe_simulator=True, collateral=made.collateral())


# --- hostile extension payloads ----------------------------------------------------------------

_OIDS = (
    "1.3.6.1.4.1.62397.1.1",
    "1.3.6.1.4.1.62397.1.2",
    "1.3.6.1.4.1.62397.1.4",
    "1.3.6.1.4.1.62397.1.8",
)


@settings(max_examples=150 if settings.default.max_examples < 10_000 else None)
@given(
    oid=st.sampled_from(_OIDS),
    payload=st.one_of(
        st.binary(max_size=120),
        st.binary(max_size=120).map(lambda b: b"\x00\x00" + b),
        st.builds(lambda q, b: q + b, st.just(b"\x00\x00\x49\x4e"), st.binary(max_size=60)),
    ),
    wrap=st.booleans(),
)
def test_hostile_extension_payloads_raise_only_tdxquote_errors(
    made: ForgedCertificate, oid: str, payload: bytes, wrap: bool
) -> None:
    value = encode_octet_string(payload) if wrap else payload
    cert = _with_extension(made, oid, value)
    with contextlib.suppress(QuoteParseError, RaTlsError):
        parse_certificate(cert)
    report = certificate_report(cert, unsafe_simulator=True)
    assert report_exit_code(report) in (1, 2)
