"""Every check of the verification pipeline, made to fail alone on a forged scenario.

A baseline scenario of :mod:`tdxquote.testing.forge` verifies ``UpToDate``; each
case below changes one thing, and the verification must fail with exactly that
check's ``code`` and exception class, having passed every earlier check
(``err.checks_passed``).  The table "to fail check X, do Y" of
``docs/testing.md`` is the recipe book.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

import pytest
from _helpers import TDX_PIPELINE
from cryptography.hazmat.primitives.serialization import Encoding

from tdxquote import parse_quote
from tdxquote._quote import CertificationData
from tdxquote.collateral import TcbStatus
from tdxquote.errors import VerificationError
from tdxquote.testing.forge import QuoteForge, Scenario, qe_report, sgx_report, td_report
from tdxquote.testing.pki import (
    DEFAULT_NEXT_UPDATE,
    DEFAULT_QE_ISVSVN,
    DEFAULT_SGX_COMPONENTS,
    DEFAULT_TEE_TCB_SVN,
    QE_IDENTITY_ATTRIBUTES,
    REFERENCE_TIME,
    SyntheticPki,
    build_crl,
    derive_key,
    isv_tcb_level,
    qe_identity,
    tcb_info,
    tcb_level,
    tdx_module,
    tdx_module_identity,
)
from tdxquote.verification import (
    CertificateChainError,
    CollateralExpiredError,
    CollateralSignatureError,
    CrlError,
    Policy,
    QeIdentityError,
    QeReportError,
    QuoteFormatError,
    QuoteSignatureError,
    RevokedError,
    TcbError,
    TdxModuleError,
    VerifiedCache,
    VerifiedQuote,
    Verifier,
)

T = TypeVar("T")

SGX_PIPELINE = tuple(check for check in TDX_PIPELINE if check != "tdx_module_identity")
TD15_PIPELINE = (*TDX_PIPELINE, "td_relaunch")
# The step a refusal happens in; checks_passed is every step before it.  Errors raised
# after the whole pipeline (by the policy) say "policy".
POLICY = "policy"

SEED = b"test_verify_checks"
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
SECOND = timedelta(seconds=1)


@pytest.fixture(scope="module")
def forge() -> QuoteForge:
    return QuoteForge.create(SEED)


def _verify(scenario: Scenario, policy: Policy | None = None) -> VerifiedQuote:
    verifier = Verifier(trust_root=scenario.trust_root_der)
    return verifier.verify(
        scenario.quote_bytes, scenario.to_collateral(), now=scenario.now, policy=policy
    )


def _pipeline(scenario: Scenario) -> tuple[str, ...]:
    quote = scenario.quote
    if not quote.is_tdx:
        return SGX_PIPELINE
    return TD15_PIPELINE if quote.body_type == 3 else TDX_PIPELINE


def _refused(
    scenario: Scenario,
    cls: type[VerificationError],
    code: str,
    step: str,
    policy: Policy | None = None,
) -> VerificationError:
    with pytest.raises(VerificationError) as caught:
        _verify(scenario, policy)
    error = caught.value
    assert (type(error), error.code) == (cls, code), error.message
    pipeline = _pipeline(scenario)
    passed = pipeline if step == POLICY else pipeline[: pipeline.index(step)]
    assert error.checks_passed == passed
    assert error.intel_error, f"no Intel equivalent for {code}"
    return error


# --- the baseline ------------------------------------------------------------------------

BODIES = {
    "tdx_v4": (lambda: td_report(), None, 4, None),
    "tdx_v5_type2": (lambda: td_report(2), 5, 5, 2),
    "tdx_v5_type3": (lambda: td_report(3), None, 5, 3),
    "sgx_v3": (lambda: sgx_report(), None, 3, None),
}


@pytest.mark.parametrize("ca", ["platform", "processor"])
@pytest.mark.parametrize("kind", list(BODIES))
def test_baseline_verifies_up_to_date(kind: str, ca: str) -> None:
    make_body, version, expected_version, body_type = BODIES[kind]
    forge = QuoteForge.create(SEED, ca=ca)  # type: ignore[arg-type]
    scenario = forge.scenario(forge.quote(make_body(), version=version))
    assert (scenario.quote.version, scenario.quote.body_type) == (expected_version, body_type)
    verified = _verify(scenario)
    assert verified.status is TcbStatus.UP_TO_DATE
    assert verified.qv_result.name == "SGX_QL_QV_RESULT_OK"
    assert verified.checks == _pipeline(scenario)
    assert verified.supplemental.pck_ca == ca
    assert not verified.collateral_expired
    assert not verified.relaunch_advised


def test_a_quote_object_and_its_bytes_verify_alike(forge: QuoteForge) -> None:
    scenario = forge.scenario()
    verifier = Verifier(trust_root=scenario.trust_root_der)
    collateral = scenario.to_collateral()
    from_bytes = verifier.verify(scenario.quote_bytes, collateral, now=scenario.now)
    from_quote = verifier.verify(scenario.quote, collateral, now=scenario.now)
    assert from_bytes.to_dict() == from_quote.to_dict()


# --- one case per refusal ----------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """A scenario that fails one check: ``build(forge)``, then the expected refusal."""

    build: Callable[[QuoteForge], Scenario]
    cls: type[VerificationError]
    code: str
    step: str


def _with_leaf(forge: QuoteForge, **issue: object) -> QuoteForge:
    return forge.replace(leaf=forge.pki.issue_pck(**issue))  # type: ignore[arg-type]


def _with_pki(forge: QuoteForge, **changes: object) -> QuoteForge:
    return forge.replace(pki=forge.pki.replace(**changes))


def _collateral(forge: QuoteForge, **changes: object) -> Scenario:
    scenario = forge.scenario()
    return scenario.replace(collateral=scenario.collateral.replace(**changes))


def _crl_der(issuer_pki: SyntheticPki, which: str, **options: object) -> bytes:
    issuer = issuer_pki.root if which == "root" else issuer_pki.intermediate
    crl = build_crl(
        issuer,
        this_update=REFERENCE_TIME - DAY,
        next_update=REFERENCE_TIME + 29 * DAY,
        **options,  # type: ignore[arg-type]
    )
    return crl.public_bytes(Encoding.DER)


def _bad_crl(which: str, **options: object) -> Callable[[QuoteForge], Scenario]:
    member = "root_ca_crl" if which == "root" else "pck_crl"
    return lambda f: _collateral(f, **{member: _crl_der(f.pki, which, **options)})


def _tdx(body: object, **scenario: object) -> Callable[[QuoteForge], Scenario]:
    return lambda f: f.scenario(f.quote(body), **scenario)  # type: ignore[arg-type]


def _svn(*head: int) -> bytes:
    return bytes(head) + bytes(16 - len(head))


def _with_attestation_key(forge: QuoteForge, key: bytes) -> Scenario:
    # The QE report binds ``key`` and the PCK signs it; the attestation key is outside the
    # signed bytes of the quote and the QE report, so only the key itself is wrong.
    quote = forge.quote(qe_report_data=forge.binding(attestation_key=key))
    data = quote.to_bytes()
    at = data.index(quote.attestation_key)
    return forge.scenario(parse_quote(data[:at] + key + data[at + 64 :]))


OTHER_PKI = SyntheticPki.create(b"another root")
MASKED_OUT_QE_ATTRIBUTE = 0x04  # PROVISIONKEY: the QE identity's mask clears it

CASES: dict[str, Case] = {
    # quote
    "qe_vendor_unknown": Case(
        lambda f: f.scenario(f.quote(qe_vendor_id=bytes(16))),
        QuoteFormatError,
        "qe_vendor_unknown",
        "quote_format",
    ),
    "quote_format-cert_type_3_without_collateral_chain": Case(
        lambda f: f.scenario(f.quote(certification_data=CertificationData(3, bytes(64)))),
        QuoteFormatError,
        "quote_format",
        "quote_format",
    ),
    # PCK chain
    "pck_chain_invalid-two_certificates": Case(
        lambda f: f.scenario(f.quote(pck_chain=[f.leaf.cert, f.pki.intermediate.cert])),
        CertificateChainError,
        "pck_chain_invalid",
        "pck_chain",
    ),
    "pck_chain_invalid-leaf_signed_by_another_ca": Case(
        lambda f: _with_leaf(f, issuer=OTHER_PKI.intermediate).scenario(),
        CertificateChainError,
        "pck_chain_invalid",
        "pck_chain",
    ),
    "pck_chain_invalid-leaf_cn": Case(
        lambda f: _with_leaf(f, cn="Intel SGX PCK Cert").scenario(),
        CertificateChainError,
        "pck_chain_invalid",
        "pck_chain",
    ),
    "pck_chain_invalid-intermediate_cn": Case(
        lambda f: _with_pki(f, intermediate_cn="Intel SGX PCK Platform").scenario(),
        CertificateChainError,
        "pck_chain_invalid",
        "pck_chain",
    ),
    "pck_chain_invalid-root_cn": Case(
        lambda f: _with_pki(f, root_cn="Intel SGX Root").scenario(),
        CertificateChainError,
        "pck_chain_invalid",
        "pck_chain",
    ),
    "pck_chain_untrusted": Case(
        lambda f: f.scenario(trust_root=SyntheticPki.create(b"another root")),
        CertificateChainError,
        "pck_chain_untrusted",
        "pck_chain",
    ),
    # CRLs
    "crl_invalid-pck_crl_signed_by_another_key": Case(
        _bad_crl("pck", signing_key=derive_key(b"not the PCK CA")),
        CrlError,
        "crl_invalid",
        "crls",
    ),
    "crl_invalid-root_crl_signed_by_another_key": Case(
        _bad_crl("root", signing_key=derive_key(b"not the root")),
        CrlError,
        "crl_invalid",
        "crls",
    ),
    "crl_invalid-pck_crl_without_crl_number": Case(
        _bad_crl("pck", crl_number=None), CrlError, "crl_invalid", "crls"
    ),
    "crl_invalid-root_crl_without_crl_number": Case(
        _bad_crl("root", crl_number=None), CrlError, "crl_invalid", "crls"
    ),
    "crl_invalid-pck_crl_without_aki": Case(
        _bad_crl("pck", authority_key_identifier=False), CrlError, "crl_invalid", "crls"
    ),
    "crl_invalid-root_crl_without_aki": Case(
        _bad_crl("root", authority_key_identifier=False), CrlError, "crl_invalid", "crls"
    ),
    "crl_issuer_mismatch-pck_crl_by_the_root": Case(
        lambda f: _collateral(f, pck_crl=f.pki.root_crl_der),
        CrlError,
        "crl_issuer_mismatch",
        "crls",
    ),
    "crl_issuer_mismatch-root_crl_by_the_pck_ca": Case(
        lambda f: _collateral(f, root_ca_crl=f.pki.pck_crl_der),
        CrlError,
        "crl_issuer_mismatch",
        "crls",
    ),
    # revocation
    "pck_revoked": Case(
        lambda f: f.replace(pki=f.pki.with_revoked_pck(f.leaf.serial_number)).scenario(),
        RevokedError,
        "pck_revoked",
        "pck_not_revoked",
    ),
    "intermediate_revoked": Case(
        lambda f: f.replace(pki=f.pki.with_revoked_ca(f.pki.intermediate.serial_number)).scenario(),
        RevokedError,
        "intermediate_revoked",
        "pck_not_revoked",
    ),
    "tcb_signing_revoked": Case(
        lambda f: f.replace(pki=f.pki.with_revoked_ca(f.pki.tcb_signing.serial_number)).scenario(),
        RevokedError,
        "tcb_signing_revoked",
        "tcb_info_signature",
    ),
    # TCB Info and QE identity issuer chains and signatures
    "tcb_signing_chain_invalid-one_certificate": Case(
        lambda f: _collateral(f, tcb_info_issuer_chain=f.pki.tcb_signing.pem.decode()),
        CertificateChainError,
        "tcb_signing_chain_invalid",
        "tcb_info_signature",
    ),
    "tcb_signing_chain_invalid-signing_cn": Case(
        lambda f: _collateral(
            f, tcb_info_issuer_chain=f.pki.replace(tcb_signing_cn="Intel SGX TCB").tcb_signing_chain
        ),
        CertificateChainError,
        "tcb_signing_chain_invalid",
        "tcb_info_signature",
    ),
    "tcb_signing_chain_invalid-another_root": Case(
        lambda f: _collateral(f, tcb_info_issuer_chain=OTHER_PKI.tcb_signing_chain),
        CertificateChainError,
        "tcb_signing_chain_invalid",
        "tcb_info_signature",
    ),
    "qe_identity_chain_invalid-one_certificate": Case(
        lambda f: _collateral(f, qe_identity_issuer_chain=f.pki.tcb_signing.pem.decode()),
        CertificateChainError,
        "qe_identity_chain_invalid",
        "qe_identity_signature",
    ),
    "qe_identity_chain_invalid-signing_cn": Case(
        lambda f: _collateral(
            f,
            qe_identity_issuer_chain=f.pki.replace(
                tcb_signing_cn="Intel SGX TCB"
            ).tcb_signing_chain,
        ),
        CertificateChainError,
        "qe_identity_chain_invalid",
        "qe_identity_signature",
    ),
    "tcb_info_signature_invalid-another_key": Case(
        lambda f: f.scenario(tcb_info=f.pki.sign_tcb_info(tcb_info(), key=derive_key(b"x"))),
        CollateralSignatureError,
        "tcb_info_signature_invalid",
        "tcb_info_signature",
    ),
    "tcb_info_signature_invalid-zero_signature": Case(
        lambda f: f.scenario(tcb_info=f.pki.sign_tcb_info(tcb_info()).with_signature(bytes(64))),
        CollateralSignatureError,
        "tcb_info_signature_invalid",
        "tcb_info_signature",
    ),
    "qe_identity_signature_invalid-another_key": Case(
        lambda f: f.scenario(
            qe_identity=f.pki.sign_qe_identity(qe_identity(), key=derive_key(b"x"))
        ),
        CollateralSignatureError,
        "qe_identity_signature_invalid",
        "qe_identity_signature",
    ),
    "qe_identity_signature_invalid-zero_signature": Case(
        lambda f: f.scenario(
            qe_identity=f.pki.sign_qe_identity(qe_identity()).with_signature(bytes(64))
        ),
        CollateralSignatureError,
        "qe_identity_signature_invalid",
        "qe_identity_signature",
    ),
    # the PCK leaf's SGX extension
    "pck_cert_format-not_a_sequence": Case(
        lambda f: _with_leaf(f, extension=bytes.fromhex("020101")).scenario(),
        CertificateChainError,
        "pck_cert_format",
        "tcb_info_matches",
    ),
    "pck_cert_format-empty_sequence": Case(
        lambda f: _with_leaf(f, extension=bytes.fromhex("3000")).scenario(),
        CertificateChainError,
        "pck_cert_format",
        "tcb_info_matches",
    ),
    # TCB Info against the quote and the PCK
    "tcb_info_mismatch-fmspc": Case(
        lambda f: f.scenario(tcb_info=tcb_info(fmspc="00906ED50000")),
        TcbError,
        "tcb_info_mismatch",
        "tcb_info_matches",
    ),
    "tcb_info_mismatch-pce_id": Case(
        lambda f: f.scenario(tcb_info=tcb_info(pce_id="0100")),
        TcbError,
        "tcb_info_mismatch",
        "tcb_info_matches",
    ),
    "tcb_info_mismatch-sgx_tcb_info_for_tdx": Case(
        lambda f: f.scenario(tcb_info=tcb_info(id="SGX")),
        TcbError,
        "tcb_info_mismatch",
        "tcb_info_matches",
    ),
    "tcb_info_mismatch-tdx_tcb_info_for_sgx": Case(
        lambda f: f.scenario(f.quote(sgx_report()), tcb_info=tcb_info(id="TDX")),
        TcbError,
        "tcb_info_mismatch",
        "tcb_info_matches",
    ),
    # TDX module identity
    "tdx_module_mismatch-mrsignerseam": Case(
        _tdx(td_report(mr_signer_seam=b"\x01" * 48)),
        TdxModuleError,
        "tdx_module_mismatch",
        "tdx_module_identity",
    ),
    "tdx_module_mismatch-mrsignerseam_against_tdx_module": Case(
        _tdx(
            td_report(tee_tcb_svn=_svn(6, 0, 3), mr_signer_seam=b"\x01" * 48),
            tcb_info=tcb_info(tcb_levels=[tcb_level(tdx=_svn(6, 0, 3))]),
        ),
        TdxModuleError,
        "tdx_module_mismatch",
        "tdx_module_identity",
    ),
    "tdx_module_mismatch-seamattributes_nonzero_even_if_equal": Case(
        _tdx(
            td_report(seam_attributes=_svn(1)[:8]),
            tcb_info=tcb_info(
                tdx_module=tdx_module(attributes=_svn(1)[:8]),
                tdx_module_identities=[tdx_module_identity(attributes=_svn(1)[:8])],
            ),
        ),
        TdxModuleError,
        "tdx_module_mismatch",
        "tdx_module_identity",
    ),
    "tdx_module_mismatch-seamattributes_mask_not_applied": Case(
        _tdx(
            td_report(seam_attributes=_svn(1)[:8]),
            tcb_info=tcb_info(
                tdx_module_identities=[tdx_module_identity(attributes_mask=bytes(8))]
            ),
        ),
        TdxModuleError,
        "tdx_module_mismatch",
        "tdx_module_identity",
    ),
    "tdx_module_mismatch-no_TDX_02_identity": Case(
        _tdx(td_report(tee_tcb_svn=_svn(6, 2, 3))),
        TdxModuleError,
        "tdx_module_mismatch",
        "tdx_module_identity",
    ),
    # QE report
    "qe_report_signature_invalid": Case(
        lambda f: f.scenario(f.quote(bad_qe_report_signature=True)),
        QeReportError,
        "qe_report_signature_invalid",
        "qe_report_signature",
    ),
    "qe_report_data_mismatch": Case(
        lambda f: f.scenario(f.quote(bad_qe_report_data=True)),
        QeReportError,
        "qe_report_data_mismatch",
        "qe_report_data",
    ),
    "qe_report_data_mismatch-swapped_attestation_key": Case(
        lambda f: f.scenario(f.quote(swapped_attestation_key=True)),
        QeReportError,
        "qe_report_data_mismatch",
        "qe_report_data",
    ),
    # QE identity
    "qe_identity_version-qe_identity_for_tdx": Case(
        lambda f: f.scenario(qe_identity=qe_identity(id="QE")),
        QeIdentityError,
        "qe_identity_version",
        "qe_identity",
    ),
    "qe_identity_version-td_qe_identity_for_sgx": Case(
        lambda f: f.scenario(f.quote(sgx_report()), qe_identity=qe_identity(id="TD_QE")),
        QeIdentityError,
        "qe_identity_version",
        "qe_identity",
    ),
    "qe_identity_mismatch-mrsigner": Case(
        lambda f: f.scenario(qe_identity=qe_identity(mrsigner=bytes(32))),
        QeIdentityError,
        "qe_identity_mismatch",
        "qe_identity",
    ),
    "qe_identity_mismatch-isvprodid": Case(
        lambda f: f.scenario(qe_identity=qe_identity(isvprodid=9)),
        QeIdentityError,
        "qe_identity_mismatch",
        "qe_identity",
    ),
    "qe_identity_mismatch-masked_attributes": Case(
        # bit 1 (DEBUG) is inside the mask and clear in the QE report
        lambda f: f.scenario(
            qe_identity=qe_identity(
                attributes=bytes([QE_IDENTITY_ATTRIBUTES[0] | 0x02]) + bytes(15)
            )
        ),
        QeIdentityError,
        "qe_identity_mismatch",
        "qe_identity",
    ),
    "qe_identity_mismatch-miscselect": Case(
        lambda f: f.scenario(qe_identity=qe_identity(miscselect=1)),
        QeIdentityError,
        "qe_identity_mismatch",
        "qe_identity",
    ),
    "qe_tcb_not_supported": Case(
        lambda f: f.scenario(
            qe_identity=qe_identity(tcb_levels=[isv_tcb_level(DEFAULT_QE_ISVSVN + 1)])
        ),
        QeIdentityError,
        "qe_tcb_not_supported",
        "tcb_level",
    ),
    "qe_tcb_revoked": Case(
        lambda f: f.scenario(
            qe_identity=qe_identity(
                tcb_levels=[
                    isv_tcb_level(DEFAULT_QE_ISVSVN + 1),
                    isv_tcb_level(DEFAULT_QE_ISVSVN, status="Revoked"),
                ]
            )
        ),
        QeIdentityError,
        "qe_tcb_revoked",
        "tcb_level",
    ),
    # the quote signature
    "attestation_key_invalid-not_on_the_curve": Case(
        lambda f: _with_attestation_key(f, (1).to_bytes(32, "big") * 2),
        QuoteSignatureError,
        "attestation_key_invalid",
        "quote_signature",
    ),
    "attestation_key_invalid-zero": Case(
        lambda f: _with_attestation_key(f, bytes(64)),
        QuoteSignatureError,
        "attestation_key_invalid",
        "quote_signature",
    ),
    "quote_signature_invalid": Case(
        lambda f: f.scenario(f.quote(bad_quote_signature=True)),
        QuoteSignatureError,
        "quote_signature_invalid",
        "quote_signature",
    ),
    # TCB level
    "tcb_not_supported-sgx_components": Case(
        lambda f: _with_leaf(f, sgx_components=(0,) * 16).scenario(),
        TcbError,
        "tcb_not_supported",
        "tcb_level",
    ),
    "tcb_not_supported-one_sgx_component": Case(
        lambda f: _with_leaf(f, sgx_components=(2, *DEFAULT_SGX_COMPONENTS[1:])).scenario(),
        TcbError,
        "tcb_not_supported",
        "tcb_level",
    ),
    "tcb_not_supported-pce_svn": Case(
        lambda f: _with_leaf(f, pce_svn=10).scenario(),
        TcbError,
        "tcb_not_supported",
        "tcb_level",
    ),
    "tcb_not_supported-sgx_quote": Case(
        lambda f: (g := _with_leaf(f, pce_svn=10)).scenario(g.quote(sgx_report())),
        TcbError,
        "tcb_not_supported",
        "tcb_level",
    ),
    "tcb_not_supported-tdx_components": Case(
        _tdx(td_report(tee_tcb_svn=_svn(6, 1, 2))),
        TcbError,
        "tcb_not_supported",
        "tcb_level",
    ),
    "tcb_not_supported-module_identity_level": Case(
        _tdx(td_report(tee_tcb_svn=_svn(5, 1, 3))),
        TcbError,
        "tcb_not_supported",
        "tcb_level",
    ),
    "tcb_revoked-platform": Case(
        lambda f: f.scenario(
            tcb_info=tcb_info(tcb_levels=[tcb_level(tdx=DEFAULT_TEE_TCB_SVN, status="Revoked")])
        ),
        TcbError,
        "tcb_revoked",
        "tcb_level",
    ),
    "tcb_revoked-module": Case(
        lambda f: f.scenario(
            tcb_info=tcb_info(
                tdx_module_identities=[
                    tdx_module_identity(tcb_levels=[isv_tcb_level(6, status="Revoked")])
                ]
            )
        ),
        TcbError,
        "tcb_revoked",
        "tcb_level",
    ),
    "tcb_revoked-sgx_quote": Case(
        lambda f: f.scenario(
            f.quote(sgx_report()),
            tcb_info=tcb_info(id="SGX", tcb_levels=[tcb_level(status="Revoked")]),
        ),
        TcbError,
        "tcb_revoked",
        "tcb_level",
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_one_check_fails(name: str, forge: QuoteForge) -> None:
    case = CASES[name]
    _refused(case.build(forge), case.cls, case.code, case.step)


@pytest.mark.parametrize("kind", list(BODIES))
@pytest.mark.parametrize(
    ("knob", "cls", "code", "step"),
    [
        ("bad_quote_signature", QuoteSignatureError, "quote_signature_invalid", "quote_signature"),
        ("swapped_attestation_key", QeReportError, "qe_report_data_mismatch", "qe_report_data"),
        (
            "bad_qe_report_signature",
            QeReportError,
            "qe_report_signature_invalid",
            "qe_report_signature",
        ),
    ],
)
def test_signature_checks_for_every_body(
    kind: str,
    knob: str,
    cls: type[VerificationError],
    code: str,
    step: str,
    forge: QuoteForge,
) -> None:
    make_body, version, _, _ = BODIES[kind]
    quote = forge.quote(make_body(), version=version, **{knob: True})
    _refused(forge.scenario(quote), cls, code, step)


def test_every_pipeline_code_has_a_case() -> None:
    codes = {case.code for case in CASES.values()} | {"collateral_expired"}
    assert codes == {
        "qe_vendor_unknown",
        "quote_format",
        "pck_chain_invalid",
        "pck_chain_untrusted",
        "crl_invalid",
        "crl_issuer_mismatch",
        "pck_revoked",
        "intermediate_revoked",
        "tcb_signing_revoked",
        "tcb_signing_chain_invalid",
        "qe_identity_chain_invalid",
        "tcb_info_signature_invalid",
        "qe_identity_signature_invalid",
        "collateral_expired",
        "pck_cert_format",
        "tcb_info_mismatch",
        "tdx_module_mismatch",
        "qe_report_signature_invalid",
        "qe_report_data_mismatch",
        "qe_identity_version",
        "qe_identity_mismatch",
        "qe_tcb_not_supported",
        "qe_tcb_revoked",
        "attestation_key_invalid",
        "quote_signature_invalid",
        "tcb_not_supported",
        "tcb_revoked",
    }


# --- what each check does not refuse -----------------------------------------------------


@pytest.mark.parametrize(
    ("name", "passed"),
    [
        ("crl_invalid-pck_crl_without_aki", ("quote_format", "pck_chain")),
        ("pck_revoked", ("quote_format", "pck_chain", "crls")),
        (
            "qe_identity_signature_invalid-zero_signature",
            ("quote_format", "pck_chain", "crls", "pck_not_revoked", "tcb_info_signature"),
        ),
        ("qe_report_data_mismatch", TDX_PIPELINE[: TDX_PIPELINE.index("qe_report_data")]),
    ],
)
def test_checks_passed_names_each_check_that_passed(
    name: str, passed: tuple[str, ...], forge: QuoteForge
) -> None:
    # Regression: checks were recorded in groups, so a failure inside a group dropped the
    # checks of that group that had passed (e.g. a CRL error lost "pck_chain").
    with pytest.raises(VerificationError) as caught:
        _verify(CASES[name].build(forge))
    assert caught.value.checks_passed == passed


def test_cert_type_3_verifies_with_the_collateral_chain(forge: QuoteForge) -> None:
    quote = forge.quote(certification_data=forge.pck_identifier_data(3))
    assert _verify(forge.scenario(quote, pck_certificate_chain=True)).status is TcbStatus.UP_TO_DATE


def test_pck_chain_in_any_order(forge: QuoteForge) -> None:
    chain = [forge.pki.root.cert, forge.leaf.cert, forge.pki.intermediate.cert]
    assert _verify(forge.scenario(forge.quote(pck_chain=chain))).status is TcbStatus.UP_TO_DATE


def test_intel_order_crls_before_revocation(forge: QuoteForge) -> None:
    # Intel's PckCertVerifier verifies both CRLs before looking up the intermediate CA in
    # the root CRL: a revoked intermediate with a broken PCK CRL is a CRL error.
    revoked = forge.replace(pki=forge.pki.with_revoked_ca(forge.pki.intermediate.serial_number))
    scenario = _bad_crl("pck", crl_number=None)(revoked)
    _refused(scenario, CrlError, "crl_invalid", "crls")


def test_module_identity_values_replace_tdx_module(forge: QuoteForge) -> None:
    # TEE_TCB_SVN[1] > 0: MRSIGNERSEAM is compared with the TDX_01 identity, not tdxModule.
    info = tcb_info(tdx_module=tdx_module(mrsigner=b"\x07" * 48))
    assert _verify(forge.scenario(tcb_info=info)).status is TcbStatus.UP_TO_DATE


def test_qe_identity_masks_attributes_and_miscselect(forge: QuoteForge) -> None:
    report = qe_report(
        misc_select=0x10,
        attributes=bytes([0x11 | MASKED_OUT_QE_ATTRIBUTE]) + bytes(7) + b"\xff" + bytes(7),
    )
    identity = qe_identity(miscselect=0, miscselect_mask=0xFFFFFFEF)
    scenario = forge.scenario(forge.quote(qe_report=report), qe_identity=identity)
    assert _verify(scenario).status is TcbStatus.UP_TO_DATE


def test_qe_level_is_the_first_met_in_json_order(forge: QuoteForge) -> None:
    identity = qe_identity(
        tcb_levels=[isv_tcb_level(DEFAULT_QE_ISVSVN + 2), isv_tcb_level(DEFAULT_QE_ISVSVN - 1)]
    )
    verified = _verify(forge.scenario(qe_identity=identity), Policy().allow_statuses(*TcbStatus))
    assert verified.qe_tcb_level.isvsvn == DEFAULT_QE_ISVSVN - 1


def test_expiry_is_not_a_pipeline_failure(forge: QuoteForge) -> None:
    # Intel's QvE treats expiry as non-fatal: a later check still decides the refusal.
    scenario = forge.scenario(
        forge.quote(bad_quote_signature=True), tcb_info=tcb_info(next_update=REFERENCE_TIME - DAY)
    )
    _refused(scenario, QuoteSignatureError, "quote_signature_invalid", "quote_signature")


# --- collateral validity -----------------------------------------------------------------


def _expired_leaf(f: QuoteForge) -> Scenario:
    return _with_leaf(f, not_after=REFERENCE_TIME - SECOND).scenario()


EXPIRED: dict[str, Callable[[QuoteForge], Scenario]] = {
    "leaf_not_after": _expired_leaf,
    "intermediate_not_after": lambda f: _with_pki(
        f, intermediate_not_after=REFERENCE_TIME - HOUR
    ).scenario(),
    "root_not_after": lambda f: _with_pki(f, root_not_after=REFERENCE_TIME - HOUR).scenario(),
    "tcb_signing_not_after": lambda f: _with_pki(
        f, tcb_signing_not_after=REFERENCE_TIME - HOUR
    ).scenario(),
    "pck_crl_next_update": lambda f: _with_pki(
        f, pck_crl_next_update=REFERENCE_TIME - HOUR
    ).scenario(),
    "root_crl_next_update": lambda f: _with_pki(
        f, root_crl_next_update=REFERENCE_TIME - HOUR
    ).scenario(),
    "tcb_info_next_update": lambda f: f.scenario(
        tcb_info=tcb_info(next_update=REFERENCE_TIME - HOUR)
    ),
    "qe_identity_next_update": lambda f: f.scenario(
        qe_identity=qe_identity(next_update=REFERENCE_TIME - HOUR)
    ),
    "leaf_not_before_after_now": lambda f: _with_leaf(
        f, not_before=REFERENCE_TIME + SECOND
    ).scenario(),
    "pck_crl_this_update_after_now": lambda f: _with_pki(
        f, pck_crl_this_update=REFERENCE_TIME + SECOND
    ).scenario(),
    "exactly_at_tcb_info_next_update": lambda f: f.scenario(
        tcb_info=tcb_info(next_update=REFERENCE_TIME)
    ),
    "exactly_at_qe_identity_next_update": lambda f: f.scenario(
        qe_identity=qe_identity(next_update=REFERENCE_TIME)
    ),
    "exactly_at_crl_next_update": lambda f: _with_pki(
        f, root_crl_next_update=REFERENCE_TIME
    ).scenario(),
    "exactly_at_leaf_not_after": lambda f: _with_leaf(f, not_after=REFERENCE_TIME).scenario(),
    "everything_at_the_default_next_update": lambda f: f.scenario(now=DEFAULT_NEXT_UPDATE),
}


@pytest.mark.parametrize("item", list(EXPIRED))
def test_collateral_expired(item: str, forge: QuoteForge) -> None:
    scenario = EXPIRED[item](forge)
    _refused(scenario, CollateralExpiredError, "collateral_expired", POLICY)
    verified = _verify(scenario, Policy().unsafe_allow_expired_collateral())
    assert verified.collateral_expired
    assert verified.supplemental.collateral_expired
    assert verified.status is TcbStatus.UP_TO_DATE


@pytest.mark.parametrize(
    "item",
    [
        "exactly_at_tcb_info_next_update",
        "exactly_at_qe_identity_next_update",
        "exactly_at_crl_next_update",
        "exactly_at_leaf_not_after",
        "everything_at_the_default_next_update",
    ],
)
def test_one_second_before_expiry_is_valid(item: str, forge: QuoteForge) -> None:
    scenario = EXPIRED[item](forge)
    verified = _verify(scenario.replace(now=scenario.now - SECOND))
    assert not verified.collateral_expired


def test_not_before_exactly_now_is_valid(forge: QuoteForge) -> None:
    scenario = _with_leaf(forge, not_before=REFERENCE_TIME).scenario()
    assert not _verify(scenario).collateral_expired


def test_issue_date_in_the_future_is_not_checked(forge: QuoteForge) -> None:
    # QVL does not check TCB Info / QE identity issueDate; it only feeds the supplemental data.
    later = REFERENCE_TIME + DAY
    scenario = forge.scenario(
        tcb_info=tcb_info(issue_date=later), qe_identity=qe_identity(issue_date=later)
    )
    verified = _verify(scenario)
    assert not verified.collateral_expired
    assert verified.supplemental.latest_issue_date == later


def test_earliest_expiration_is_reported(forge: QuoteForge) -> None:
    soon = REFERENCE_TIME + HOUR
    verified = _verify(forge.scenario(qe_identity=qe_identity(next_update=soon)))
    assert verified.supplemental.earliest_expiration_date == soon


# --- the verified-collateral cache -------------------------------------------------------


def test_reused_verifier_gives_the_same_answers(forge: QuoteForge) -> None:
    good = forge.scenario()
    bad = forge.scenario(forge.quote(bad_quote_signature=True))
    verifier = Verifier(trust_root=good.trust_root_der)
    collateral = good.to_collateral()
    first = verifier.verify(good.quote_bytes, collateral, now=good.now)
    stored = len(verifier.cache)
    hits = verifier.cache.hits
    second = verifier.verify(good.quote_bytes, collateral, now=good.now)
    assert second.to_dict() == first.to_dict()
    assert len(verifier.cache) == stored
    assert verifier.cache.hits > hits
    for _ in range(2):
        with pytest.raises(QuoteSignatureError) as caught:
            verifier.verify(bad.quote_bytes, collateral, now=bad.now)
        assert caught.value.checks_passed == TDX_PIPELINE[: TDX_PIPELINE.index("quote_signature")]
    # Expiry is decided per call, never remembered.
    later: datetime = DEFAULT_NEXT_UPDATE
    with pytest.raises(CollateralExpiredError):
        verifier.verify(good.quote_bytes, collateral, now=later)
    assert not verifier.verify(good.quote_bytes, collateral, now=good.now).collateral_expired


class _RecordingCache(VerifiedCache):
    """Records the kind of every result stored."""

    def __init__(self) -> None:
        super().__init__()
        self.stored: list[object] = []

    def put(self, key: tuple[object, ...], value: object) -> None:
        self.stored.append(key[0])
        super().put(key, value)


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("tcb_info_signature_invalid-another_key", "signed"),
        ("qe_identity_signature_invalid-zero_signature", "signed"),
        ("crl_invalid-pck_crl_signed_by_another_key", "crl"),
        ("tcb_signing_chain_invalid-signing_cn", "signing_chain"),
    ],
)
def test_a_failure_is_not_cached(name: str, kind: str, forge: QuoteForge) -> None:
    good = forge.scenario()
    bad = CASES[name].build(forge)
    cache = _RecordingCache()
    verifier = Verifier(trust_root=good.trust_root_der, cache=cache)
    errors = []
    for _ in range(2):
        cache.stored.clear()
        with pytest.raises(VerificationError) as caught:
            verifier.verify(bad.quote_bytes, bad.to_collateral(), now=bad.now)
        errors.append(caught.value)
    assert [error.code for error in errors] == [CASES[name].code] * 2
    assert errors[0] is not errors[1]
    # Second time: the failing check ran again (nothing was stored for it), what succeeded
    # before it is remembered, and no verified collateral, platform or quote was stored.
    assert cache.stored == []
    assert not {"collateral", "platform", "quote"} & set(cache.kinds())
    verified = verifier.verify(good.quote_bytes, good.to_collateral(), now=good.now)
    assert verified.status is TcbStatus.UP_TO_DATE
    assert {"collateral", "platform", "quote", kind} <= set(cache.kinds())
