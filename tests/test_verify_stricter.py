"""Stricter than Intel's QVL where genuine quotes lose nothing (issue 9 §3).

* A certificate that issues others (the PCK Platform / Processor CA, the root of
  the PCK chain and of the TCB Signing chains) must carry BasicConstraints CA=true
  and KeyUsage keyCertSign: dcap-qvl refuses an end-entity used as a CA, Intel's
  QVL does not check.  Code ``ca_constraints_invalid``.
* The upper 32 bytes of the QE report's REPORTDATA must be zero (go-tdx-guest);
  Intel compares only the first 32.  Code ``qe_report_data_not_zero``.

Each case fails on the code before these rules (it verified ``UpToDate``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import pytest
from _helpers import TDX_PIPELINE
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from tdxquote.collateral import TcbStatus
from tdxquote.errors import VerificationError
from tdxquote.testing.forge import QuoteForge, Scenario
from tdxquote.testing.pki import CertifiedKey, SyntheticPki
from tdxquote.verification import CertificateChainError, QeReportError, Verifier

SEED = b"test_verify_stricter"


def _ca_like(
    *,
    subject: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name,
    issuer_key: ec.EllipticCurvePrivateKey,
    serial: int,
    basic_ca: bool | None,
    key_cert_sign: bool | None,
    template: x509.Certificate,
) -> x509.Certificate:
    """A certificate like ``template`` (dates), with the CA extensions as asked (None: absent)."""
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(template.not_valid_before_utc)
        .not_valid_after(template.not_valid_after_utc)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if key_cert_sign is not None:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=not key_cert_sign,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=key_cert_sign,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    if basic_ca is not None:
        builder = builder.add_extension(
            x509.BasicConstraints(ca=basic_ca, path_length=0 if basic_ca else None), critical=True
        )
    return builder.sign(issuer_key, hashes.SHA256(), ecdsa_deterministic=True)


@dataclass(frozen=True, kw_only=True)
class _Pki(SyntheticPki):
    """A synthetic PKI whose intermediate (or root) has the CA extensions given."""

    intermediate_ca: bool | None = True
    intermediate_cert_sign: bool | None = True
    root_ca: bool | None = True
    root_cert_sign: bool | None = True

    @cached_property
    def root(self) -> CertifiedKey:
        default = SyntheticPki.root.func(self)  # type: ignore[attr-defined]
        if self.root_ca and self.root_cert_sign:
            return default  # type: ignore[no-any-return]
        name = default.cert.subject
        cert = _ca_like(
            subject=name,
            key=default.key,
            issuer=name,
            issuer_key=default.key,
            serial=default.cert.serial_number,
            basic_ca=self.root_ca,
            key_cert_sign=self.root_cert_sign,
            template=default.cert,
        )
        return CertifiedKey(cert, default.key)

    @cached_property
    def intermediate(self) -> CertifiedKey:
        default = SyntheticPki.intermediate.func(self)  # type: ignore[attr-defined]
        if self.intermediate_ca and self.intermediate_cert_sign:
            return default  # type: ignore[no-any-return]
        cert = _ca_like(
            subject=default.cert.subject,
            key=default.key,
            issuer=self.root.cert.subject,
            issuer_key=self.root.key,
            serial=default.cert.serial_number,
            basic_ca=self.intermediate_ca,
            key_cert_sign=self.intermediate_cert_sign,
            template=default.cert,
        )
        return CertifiedKey(cert, default.key)


def _scenario(**constraints: bool | None) -> Scenario:
    return QuoteForge.create(SEED, pki=_Pki(seed=SEED, **constraints)).scenario()


def _verify(scenario: Scenario) -> object:
    verifier = Verifier(trust_root=scenario.trust_root_der)
    return verifier.verify(scenario.quote_bytes, scenario.to_collateral(), now=scenario.now)


def _refused(scenario: Scenario, step: str) -> VerificationError:
    with pytest.raises(VerificationError) as caught:
        _verify(scenario)
    error = caught.value
    assert error.checks_passed == TDX_PIPELINE[: TDX_PIPELINE.index(step)]
    return error


def test_the_default_pki_meets_the_ca_rules() -> None:
    verified = _verify(_scenario())
    assert verified.status is TcbStatus.UP_TO_DATE  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "constraints",
    [
        {"intermediate_ca": False},
        {"intermediate_ca": None},
        {"intermediate_cert_sign": False},
        {"intermediate_cert_sign": None},
        {"root_ca": False},
        {"root_cert_sign": None},
    ],
    ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()),
)
def test_ca_certificate_without_ca_constraints_is_refused(constraints: dict[str, bool]) -> None:
    error = _refused(_scenario(**constraints), "pck_chain")
    assert isinstance(error, CertificateChainError)
    assert error.code == "ca_constraints_invalid"
    assert error.intel_error
    assert "stricter" in error.intel_error


def test_signing_chain_root_without_ca_constraints_is_refused() -> None:
    # The TCB Signing chain's root has the trusted key and a valid self-signature, but is not
    # marked as a CA: only that chain is refused, at the TCB Info signature step.
    forge = QuoteForge.create(SEED)
    root = forge.pki.root
    not_a_ca = _ca_like(
        subject=root.cert.subject,
        key=root.key,
        issuer=root.cert.subject,
        issuer_key=root.key,
        serial=root.cert.serial_number + 1,
        basic_ca=False,
        key_cert_sign=False,
        template=root.cert,
    )
    chain = (forge.pki.tcb_signing.pem + CertifiedKey(not_a_ca, root.key).pem).decode()
    scenario = forge.scenario()
    scenario = scenario.replace(collateral=scenario.collateral.replace(tcb_info_issuer_chain=chain))
    error = _refused(scenario, "tcb_info_signature")
    assert (type(error), error.code) == (CertificateChainError, "ca_constraints_invalid")


def test_leaf_is_not_required_to_be_a_ca() -> None:
    # The rule is for issuers: the PCK leaf and the TCB Signing certificate are end entities.
    forge = QuoteForge.create(SEED)
    leaf_bc = forge.leaf.cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert leaf_bc.value.ca is False
    assert _verify(forge.scenario()).status is TcbStatus.UP_TO_DATE  # type: ignore[attr-defined]


@pytest.mark.parametrize("index", [32, 47, 63])
def test_qe_report_data_upper_half_must_be_zero(index: int) -> None:
    forge = QuoteForge.create(SEED)
    binding = bytearray(forge.binding())
    binding[index] = 1
    error = _refused(forge.scenario(forge.quote(qe_report_data=bytes(binding))), "qe_report_data")
    assert (type(error), error.code) == (QeReportError, "qe_report_data_not_zero")


def test_qe_report_data_lower_half_mismatch_keeps_its_code() -> None:
    # Both halves wrong: the binding (Intel's check) is reported first.
    forge = QuoteForge.create(SEED)
    binding = bytearray(forge.binding())
    binding[0] ^= 1
    binding[40] = 1
    error = _refused(forge.scenario(forge.quote(qe_report_data=bytes(binding))), "qe_report_data")
    assert error.code == "qe_report_data_mismatch"


def test_real_qe_reports_have_a_zero_upper_half(vectors: object) -> None:
    # Every real quote of the shared vectors that verifies keeps verifying: see
    # test_verify_golden.py; here the property itself, on the real dcap-qvl TDX quote.
    from pathlib import Path

    from tdxquote import parse_quote

    assert isinstance(vectors, Path)
    quote = parse_quote((vectors / "dcap-qvl" / "tdx_quote").read_bytes())
    assert quote.qe_report.report_data[32:] == bytes(32)
