"""Regression vectors for the bugs found in other Python verifiers, and in ours.

Each peer bug (``reference/python-peers-and-style.md`` section 1) becomes a
named test that mutates a real quote or real collateral (or, for revocation,
uses the synthetic PKI of ``tdxquote.testing``) and asserts the refusal.
"""

from __future__ import annotations

import json
import warnings
from datetime import timedelta
from pathlib import Path

import pytest
from _verify_cases import (
    ALLOW_ALL,
    ALLOW_ALL_EXPIRED,
    PARSE,
    Outcome,
    collateral_from_json,
    dcap_qvl_collateral_json,
    ours,
    read_quote,
)
from cryptography.hazmat.primitives.asymmetric import ec

from tdxquote import parse_quote
from tdxquote._build import build_quote, signed_bytes_for
from tdxquote._quote import Quote
from tdxquote._reports import SgxReport
from tdxquote.collateral import Collateral, TcbStatus
from tdxquote.errors import QuoteParseError
from tdxquote.testing.forge import QuoteForge
from tdxquote.testing.pki import derive_key, public_key_bytes, sign_raw, verify_raw
from tdxquote.verification import QeReportError, Verifier, verify

S = TcbStatus
TDX = ("dcap-qvl/tdx_quote", "tdx_quote_collateral.json", 1751624191)
SGX = ("dcap-qvl/sgx_quote", "sgx_quote_collateral.json", 1751624924)
V5 = ("go-tdx-guest/quotes/quote_v5_sample.dat", "tdx_quote_outdated_collateral.json", 1772323200)
SAMPLE_SGX = "intel-dcap/qvl-sampleData/sgx"


def _header(quote: Quote) -> dict[str, object]:
    return {
        "version": quote.version,
        "qe_svn": quote.qe_svn,
        "pce_svn": quote.pce_svn,
        "qe_vendor_id": quote.qe_vendor_id,
        "user_data": quote.user_data,
        "attestation_key_type": quote.attestation_key_type,
    }


def _rebuild(quote: Quote, *, body: object, key: ec.EllipticCurvePrivateKey | None) -> Quote:
    """``quote`` with another body, signed by ``key`` (None: keep key and signature)."""
    header = _header(quote)
    if key is None:
        signature, attestation_key = quote.signature, quote.attestation_key
    else:
        signature = sign_raw(key, signed_bytes_for(body, **header))  # type: ignore[arg-type]
        attestation_key = public_key_bytes(key)
    return build_quote(
        body=body,  # type: ignore[arg-type]
        signature=signature,
        attestation_key=attestation_key,
        qe_report=quote.qe_report,
        qe_report_signature=quote.qe_report_signature,
        qe_auth_data=quote.qe_auth_data,
        certification_data=quote.certification_data,
        trailing_bytes=quote.trailing_bytes,
        **header,  # type: ignore[arg-type]
    )


# --- forged_attkey_qe_binding (dk-tee-attestation and cvm-attest accepted it) ----------


@pytest.mark.parametrize("row", [TDX, SGX, V5], ids=["tdx_v4", "sgx_v3", "tdx_v5"])
def test_forged_attkey_qe_binding(row: tuple[str, str, int], vectors: Path) -> None:
    path, collateral_name, now = row
    original = parse_quote(read_quote(vectors, path))
    assert _rebuild(original, body=original.body, key=None).to_bytes() == original.to_bytes()

    # The attacker's own key signs a quote with its own measurements; the QE report (still
    # validly signed by the PCK) certifies the original key only.
    attacker = derive_key(b"forged_attkey_qe_binding")
    body = original.body
    if isinstance(body, SgxReport):
        forged_body: object = body._replace(mr_enclave=b"\xaa" * 32)
    else:
        forged_body = body._replace(mr_td=b"\xaa" * 48)
    forged = _rebuild(original, body=forged_body, key=attacker)
    assert verify_raw(attacker.public_key(), forged.signature, forged.signed_bytes)
    assert forged.qe_report_bytes == original.qe_report_bytes

    collateral = collateral_from_json(dcap_qvl_collateral_json(vectors, collateral_name))
    with pytest.raises(QeReportError) as caught:
        Verifier().verify(forged, collateral, now=now, policy=ALLOW_ALL)
    assert caught.value.code == "qe_report_data_mismatch"
    assert "tcb_info_matches" in caught.value.checks_passed
    assert "quote_signature" not in caught.value.checks_passed
    # Only the binding is wrong: the PCK leaf's signature over the QE report still verifies.
    leaf_key = forged.pck_chain[0].public_key()
    assert isinstance(leaf_key, ec.EllipticCurvePublicKey)
    assert verify_raw(leaf_key, forged.qe_report_signature, forged.qe_report_bytes)


def test_forged_body_with_the_original_key_fails_the_quote_signature(vectors: Path) -> None:
    path, collateral_name, now = TDX
    original = parse_quote(read_quote(vectors, path))
    tampered = _rebuild(original, body=original.body._replace(mr_td=b"\xaa" * 48), key=None)  # type: ignore[union-attr]
    got = ours(tampered.to_bytes(), dcap_qvl_collateral_json(vectors, collateral_name), now)
    assert got == Outcome.error("quote_signature_invalid")


# --- quote_without_signature_section (cvm-attest returned PASS) ------------------------


@pytest.mark.parametrize("with_length", [False, True], ids=["no_length", "zero_length"])
def test_quote_without_signature_section(with_length: bool, vectors: Path) -> None:
    path, collateral_name, now = TDX
    data = read_quote(vectors, path)
    stripped = data[:632] + (bytes(4) if with_length else b"")
    with pytest.raises(QuoteParseError):
        parse_quote(stripped)
    collateral = collateral_from_json(dcap_qvl_collateral_json(vectors, collateral_name))
    with pytest.raises(QuoteParseError):
        verify(stripped, collateral, now=now, policy=ALLOW_ALL)


def test_signature_section_of_zeros(vectors: Path) -> None:
    # Right size, nothing signed: the zero QE report signature is refused first.
    path, collateral_name, now = TDX
    original = parse_quote(read_quote(vectors, path))
    zeros = build_quote(
        body=original.body,
        signature=bytes(64),
        attestation_key=bytes(64),
        qe_report=original.qe_report,
        qe_report_signature=bytes(64),
        qe_auth_data=original.qe_auth_data,
        certification_data=original.certification_data,
        **_header(original),  # type: ignore[arg-type]
    )
    got = ours(zeros.to_bytes(), dcap_qvl_collateral_json(vectors, collateral_name), now)
    assert got == Outcome.error("qe_report_signature_invalid")


# --- zeroed_tcb_info_signature (intel-sgx-ra returned True) ----------------------------


def _collateral_with(vectors: Path, name: str, **members: str) -> str:
    document = json.loads(dcap_qvl_collateral_json(vectors, name))
    document.update(members)
    return json.dumps(document)


def test_zeroed_tcb_info_signature(vectors: Path) -> None:
    path, collateral_name, now = SGX
    collateral = _collateral_with(vectors, collateral_name, tcb_info_signature="00" * 64)
    got = ours(read_quote(vectors, path), collateral, now)
    assert got == Outcome.error("tcb_info_signature_invalid")


def test_zeroed_tcb_info_signature_with_no_levels(vectors: Path) -> None:
    # intel-sgx-ra also accepted "tcbLevels": [] under the zero signature.
    path, collateral_name, now = SGX
    document = json.loads(dcap_qvl_collateral_json(vectors, collateral_name))
    info = json.loads(document["tcb_info"])
    info["tcbLevels"] = []
    collateral = _collateral_with(
        vectors, collateral_name, tcb_info=json.dumps(info), tcb_info_signature="00" * 64
    )
    assert ours(read_quote(vectors, path), collateral, now) == Outcome.error("tcb_info_format")


def test_zeroed_qe_identity_signature(vectors: Path) -> None:
    path, collateral_name, now = SGX
    collateral = _collateral_with(vectors, collateral_name, qe_identity_signature="00" * 64)
    got = ours(read_quote(vectors, path), collateral, now)
    assert got == Outcome.error("qe_identity_signature_invalid")


# --- expired_collateral (intel-sgx-ra only logged it) ----------------------------------


def test_expired_collateral(vectors: Path) -> None:
    path, collateral_name, _ = SGX
    collateral = collateral_from_json(dcap_qvl_collateral_json(vectors, collateral_name))
    later = collateral.tcb_info.next_update + timedelta(days=1)
    quote = read_quote(vectors, path)
    assert ours(quote, collateral, later) == Outcome.error("collateral_expired")
    relaxed = ours(quote, collateral, later, policy=ALLOW_ALL_EXPIRED)
    assert relaxed == Outcome.ok(
        S.CONFIGURATION_AND_SW_HARDENING_NEEDED, "INTEL-SA-00289", "INTEL-SA-00615"
    )
    assert relaxed.collateral_expired


def test_expired_collateral_is_refused_by_the_default_policy_first(vectors: Path) -> None:
    # Expiry is reported before the status is judged: the caller learns the real reason.
    path, collateral_name, _ = TDX
    collateral = collateral_from_json(dcap_qvl_collateral_json(vectors, collateral_name))
    later = collateral.tcb_info.next_update + timedelta(days=400)
    got = ours(read_quote(vectors, path), collateral, later, policy=Verifier().policy)
    assert got == Outcome.error("collateral_expired")


# --- revoked_pck_leaf (intel-sgx-ra checked the wrong certificates against the CRLs) ---


@pytest.fixture(scope="module")
def forge() -> QuoteForge:
    return QuoteForge.create(seed=b"test_verify_regressions")


def _synthetic(forge: QuoteForge) -> Outcome:
    scenario = forge.scenario()
    return ours(
        scenario.quote_bytes,
        scenario.collateral_json(),
        scenario.now,
        trust_root=scenario.trust_root_der,
    )


def test_synthetic_baseline_verifies(forge: QuoteForge) -> None:
    assert _synthetic(forge) == Outcome.ok(S.UP_TO_DATE)


def test_revoked_pck_leaf(forge: QuoteForge) -> None:
    revoked = forge.replace(pki=forge.pki.with_revoked_pck(forge.leaf.serial_number))
    assert revoked.scenario().quote_bytes == forge.scenario().quote_bytes
    assert _synthetic(revoked) == Outcome.error("pck_revoked")


def test_revoked_pck_ca(forge: QuoteForge) -> None:
    revoked = forge.replace(pki=forge.pki.with_revoked_ca(forge.pki.intermediate.serial_number))
    assert _synthetic(revoked) == Outcome.error("intermediate_revoked")


def test_revoked_tcb_signing_certificate(forge: QuoteForge) -> None:
    revoked = forge.replace(pki=forge.pki.with_revoked_ca(forge.pki.tcb_signing.serial_number))
    assert _synthetic(revoked) == Outcome.error("tcb_signing_revoked")


def test_serials_are_checked_against_the_right_crl(forge: QuoteForge) -> None:
    # intel-sgx-ra's bug: the PCK CA's serial against the PCK CRL, the root's against the
    # root CRL.  Those listings revoke nothing; the leaf is only in the PCK CRL's scope.
    pki = forge.pki
    misplaced = pki.with_revoked_pck(pki.intermediate.serial_number, pki.root.serial_number)
    assert _synthetic(forge.replace(pki=misplaced)) == Outcome.ok(S.UP_TO_DATE)
    leaf_in_root_crl = pki.with_revoked_ca(forge.leaf.serial_number)
    assert _synthetic(forge.replace(pki=leaf_in_root_crl)) == Outcome.ok(S.UP_TO_DATE)


# --- chain_to_another_root -------------------------------------------------------------


def _sample_root(vectors: Path, tee: str = "sgx") -> bytes:
    return (vectors / f"intel-dcap/qvl-sampleData/{tee}/trustedRootCaCert.pem").read_bytes()


@pytest.mark.parametrize("tee", ["sgx", "tdx"])
def test_chain_to_another_root_real_quote(tee: str, vectors: Path) -> None:
    # Intel's names, the intel-dcap test key: the real quote's chain is not rooted there.
    path, collateral_name, now = TDX
    got = ours(
        read_quote(vectors, path),
        dcap_qvl_collateral_json(vectors, collateral_name),
        now,
        trust_root=_sample_root(vectors, tee),
    )
    assert got == Outcome.error("pck_chain_untrusted")


def _intel_sample_sgx_collateral(vectors: Path) -> Collateral:
    folder = vectors / SAMPLE_SGX
    sign_chain = (folder / "tcbSignChain.pem").read_text(encoding="ascii")
    pck_sign_chain = (folder / "pckSignChain.pem").read_text(encoding="ascii")
    return Collateral.from_pcs_responses(
        tcb_info=((folder / "tcbInfo.json").read_bytes(), sign_chain),
        qe_identity=((folder / "qeIdentity.json").read_bytes(), sign_chain),
        pck_crl=((folder / "intermediateCaCrl.der").read_bytes(), pck_sign_chain),
        root_ca_crl=(folder / "rootCaCrl.der").read_bytes(),
        pck_certificate_chain=(folder / "pckCert.pem").read_text(encoding="ascii") + pck_sign_chain,
    )


SAMPLE_NOW = 1590969600  # 2020-06-01, inside every validity window of the sample set


def test_chain_to_another_root_intel_sample_set(vectors: Path) -> None:
    quote = (vectors / SAMPLE_SGX / "quote.dat").read_bytes()
    collateral = _intel_sample_sgx_collateral(vectors)
    assert ours(quote, collateral, SAMPLE_NOW) == Outcome.error("pck_chain_untrusted")
    # Control: against its own (test) root the sample set verifies.
    trusted = ours(quote, collateral, SAMPLE_NOW, trust_root=_sample_root(vectors))
    assert trusted == Outcome.ok(S.UP_TO_DATE)


def test_chain_to_another_root_synthetic_pki(forge: QuoteForge) -> None:
    scenario = forge.scenario()
    got = ours(scenario.quote_bytes, scenario.collateral_json(), scenario.now)
    assert got == Outcome.error("pck_chain_untrusted")


def test_tcb_signing_chain_to_another_root(vectors: Path) -> None:
    path, collateral_name, now = TDX
    foreign = (vectors / SAMPLE_SGX / "tcbSignChain.pem").read_text(encoding="ascii")
    collateral = _collateral_with(vectors, collateral_name, tcb_info_issuer_chain=foreign)
    got = ours(read_quote(vectors, path), collateral, now)
    assert got == Outcome.error("tcb_signing_chain_invalid")


# --- our own bugs ----------------------------------------------------------------------


def test_issue_date_in_the_future_is_not_expiry(vectors: Path) -> None:
    # Bug: the verifier flagged TCB Info / QE identity issueDate > now as expired
    # collateral; Intel's QVL never checks issueDate (docs/verification.md agrees).
    path, collateral_name, _ = TDX
    collateral = collateral_from_json(dcap_qvl_collateral_json(vectors, collateral_name))
    before = collateral.qe_identity.issue_date - timedelta(seconds=1)
    got = ours(read_quote(vectors, path), collateral, before, policy=Verifier().policy)
    assert got == Outcome.ok(S.UP_TO_DATE)
    assert not got.collateral_expired
    verified = verify(read_quote(vectors, path), collateral, now=before)
    assert verified.supplemental.latest_issue_date == collateral.qe_identity.issue_date


def test_crl_not_yet_issued_is_still_flagged(vectors: Path) -> None:
    # ... while a CRL's thisUpdate after now still is (QVL: CRL_EXPIRED).
    path, collateral_name, _ = TDX
    collateral = collateral_from_json(dcap_qvl_collateral_json(vectors, collateral_name))
    before = collateral.pck_crl.last_update_utc - timedelta(seconds=1)
    assert ours(read_quote(vectors, path), collateral, before) == Outcome.error(
        "collateral_expired"
    )


def test_pck_crl_issuer_chain_dates_count(vectors: Path) -> None:
    # Bug: the verifier ignored pck_crl_issuer_chain when dating the collateral; Intel's
    # QvE takes its certificates' notBefore / notAfter into the issue and expiration dates.
    # Here it holds the 2018 TCB Signing certificate, expired 2025-05-21.
    path, collateral_name, now = TDX
    expired_chain = (vectors / "go-tdx-guest/collateral/TCB-Info-Issuer-Chain.pem").read_text(
        encoding="ascii"
    )
    collateral = _collateral_with(vectors, collateral_name, pck_crl_issuer_chain=expired_chain)
    quote = read_quote(vectors, path)
    assert ours(quote, collateral, now) == Outcome.error("collateral_expired")
    relaxed = ours(quote, collateral, now, policy=ALLOW_ALL_EXPIRED)
    assert relaxed == Outcome.ok(S.UP_TO_DATE)
    assert relaxed.collateral_expired
    verified = Verifier(policy=ALLOW_ALL_EXPIRED).verify(
        quote, Collateral.from_json(collateral), now=now
    )
    signer_2018 = Collateral.from_json(collateral).pck_crl_issuer_chain[0]
    assert verified.supplemental.earliest_expiration_date == signer_2018.not_valid_after_utc


def _pck_chain_byte_variants(data: bytes) -> list[bytes]:
    start = data.index(b"-----BEGIN CERTIFICATE-----")
    end = data.rindex(b"-----END CERTIFICATE-----")
    variants = []
    for offset in range(start, end, 5):
        if data[offset] in b"\n-":
            continue
        for replacement in (ord("A"), data[offset] ^ 2):
            if replacement != data[offset]:
                variants.append(data[:offset] + bytes([replacement]) + data[offset + 1 :])
    return variants


def test_malformed_pck_chain_certificates_are_chain_errors(vectors: Path) -> None:
    # Bug: a PCK certificate whose names, key or version decode badly (cryptography decodes
    # them lazily) escaped as ValueError, KeyError, TypeError, UnsupportedAlgorithm or
    # InvalidVersion.  Every base64 change must give a chain error (or, rarely, verify:
    # never).
    path, collateral_name, now = TDX
    collateral = collateral_from_json(dcap_qvl_collateral_json(vectors, collateral_name))
    verifier = Verifier(policy=ALLOW_ALL)
    codes = set()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cryptography warns about odd name attributes
        for variant in _pck_chain_byte_variants(read_quote(vectors, path)):
            try:
                verifier.verify(variant, collateral, now=now)
            except QuoteParseError:
                codes.add(PARSE)
            except Exception as exc:
                codes.add(getattr(exc, "code", type(exc).__name__))
            else:
                codes.add("verified")
    assert codes <= {"pck_chain_invalid", "pck_chain_untrusted", "pck_cert_format"}, codes


@pytest.mark.parametrize(
    ("offset", "replacement"),
    [
        pytest.param(1302, 0x42, id="invalid_x509_version-InvalidVersion"),
        pytest.param(1364, 0x43, id="issuer_attribute_oid-KeyError"),
        pytest.param(1369, 0x43, id="issuer_name_der-ValueError"),
        pytest.param(1458, 0x50, id="dcap_qvl_xor_pem_base64_byte-ValueError"),
        pytest.param(1498, 0x41, id="issuer_attribute_type-TypeError"),
        pytest.param(4417, 0x41, id="root_key_algorithm-UnsupportedAlgorithm"),
    ],
)
def test_specific_malformed_pck_certificates(offset: int, replacement: int, vectors: Path) -> None:
    path, collateral_name, now = TDX
    data = bytearray(read_quote(vectors, path))
    data[offset] = replacement
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = ours(bytes(data), dcap_qvl_collateral_json(vectors, collateral_name), now)
    assert got == Outcome.error("pck_chain_invalid")
