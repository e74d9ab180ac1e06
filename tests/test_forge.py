"""The synthetic PKI and quote forge: what they make must be real, signed and reproducible."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from tdxquote import Quote, QuoteParseError, SgxReport, TdReport15, parse_quote
from tdxquote.pck import SGX_EXTENSION_OID, PckConfiguration, SgxType, parse_pck_extension
from tdxquote.testing.forge import (
    DEFAULT_QE_AUTH_DATA,
    QuoteForge,
    Scenario,
    matching_qe_identity,
    matching_tcb_info,
    qe_report,
    sgx_report,
    td_report,
)
from tdxquote.testing.pki import (
    DEFAULT_FMSPC,
    DEFAULT_SGX_COMPONENTS,
    PCK_CN,
    PLATFORM_CA_CN,
    PROCESSOR_CA_CN,
    REFERENCE_TIME,
    ROOT_CA_CN,
    SYNTHETIC_ORGANIZATION,
    TCB_SIGNING_CN,
    TD_QE_MRSIGNER,
    SyntheticPki,
    build_crl,
    derive_key,
    isv_tcb_level,
    public_key_bytes,
    qe_identity,
    sign_raw,
    tcb_info,
    tcb_level,
    verify_raw,
)

DOCS = Path(__file__).resolve().parent.parent / "docs" / "testing.md"


# --- independent checks (cryptography only, no forge helpers) ------------------------------


def _verifies(public: ec.EllipticCurvePublicKey, signature: bytes, data: bytes) -> bool:
    der = encode_dss_signature(
        int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    )
    try:
        public.verify(der, data, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def _point(raw: bytes) -> ec.EllipticCurvePublicKey:
    return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x04" + raw)


def _leaf_key(quote: Quote) -> ec.EllipticCurvePublicKey:
    key = quote.pck_chain[0].public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    return key


def _properties(quote: Quote, forge: QuoteForge) -> dict[str, bool]:
    """Each property a verifier checks on the quote itself."""
    return {
        "quote_signature": _verifies(
            _point(quote.attestation_key), quote.signature, quote.signed_bytes
        ),
        "qe_report_signature": _verifies(
            _leaf_key(quote), quote.qe_report_signature, quote.qe_report_bytes
        ),
        "binding": quote.qe_report.report_data[:32]
        == hashlib.sha256(quote.attestation_key + quote.qe_auth_data).digest(),
        "carries_forge_key": quote.attestation_key == forge.attestation_public_key,
        "chain_is_forge_chain": quote.pck_chain[0] == forge.leaf.cert,
    }


ALL_GOOD = dict.fromkeys(
    ("quote_signature", "qe_report_signature", "binding", "carries_forge_key"), True
) | {"chain_is_forge_chain": True}


@pytest.fixture(scope="module")
def forge() -> QuoteForge:
    return QuoteForge.create(seed=b"test_forge")


# --- quotes ------------------------------------------------------------------------------

BODIES: list[tuple[str, Any, int | None, int, int | None]] = [
    # id, body factory, version argument, expected version, expected body type
    ("sgx-v3", lambda: sgx_report(report_data=b"hi"), None, 3, None),
    ("sgx-v5", lambda: sgx_report(), 5, 5, 1),
    ("td10-v4", lambda: td_report(2), None, 4, None),
    ("td10-v5", lambda: td_report(2), 5, 5, 2),
    ("td15-v5", lambda: td_report(3), None, 5, 3),
    ("td15ex-v5", lambda: td_report(4, vmid=7), None, 5, 4),
]


@pytest.mark.parametrize(
    ("make_body", "version", "expected_version", "body_type"),
    [case[1:] for case in BODIES],
    ids=[case[0] for case in BODIES],
)
def test_every_version_parses_and_is_signed(
    forge: QuoteForge,
    make_body: Any,
    version: int | None,
    expected_version: int,
    body_type: int | None,
) -> None:
    body = make_body()
    quote = forge.quote(body, version=version)
    again = parse_quote(quote.to_bytes())
    assert again == quote
    assert quote.version == expected_version
    assert quote.body_type == body_type
    assert quote.body == body
    assert quote.is_tdx is not isinstance(body, SgxReport)
    assert quote.qe_auth_data == DEFAULT_QE_AUTH_DATA
    assert quote.qe_report.report_data[32:] == bytes(32)
    assert quote.certification_data.type == 5
    assert quote.certification_data.data.endswith(b"-----\n\x00")
    assert [cert.subject for cert in quote.pck_chain] == [
        forge.leaf.cert.subject,
        forge.pki.intermediate.cert.subject,
        forge.pki.root.cert.subject,
    ]
    assert _properties(quote, forge) == ALL_GOOD
    assert quote.pce_svn == forge.leaf.extension.pce_svn  # type: ignore[union-attr]
    assert quote.qe_svn == quote.qe_report.isv_svn


def test_body_fields_are_chosen(forge: QuoteForge) -> None:
    rtmrs = tuple(bytes([i]) * 48 for i in range(1, 5))
    body = td_report(
        3,
        mr_td=b"\x11" * 48,
        rtmrs=rtmrs,
        report_data=b"\x22" * 64,
        tee_tcb_svn=bytes(range(16)),
        tee_tcb_svn2=bytes(range(16, 32)),
        td_attributes=b"\x01" + bytes(7),
        xfam=b"\x03" + bytes(7),
        mr_signer_seam=b"\x33" * 48,
        seam_attributes=b"\x44" * 8,
    )
    quote = forge.quote(body)
    parsed = quote.body
    assert isinstance(parsed, TdReport15)
    assert parsed.mr_td == b"\x11" * 48
    assert parsed.rtmrs == rtmrs
    assert parsed.report_data == b"\x22" * 64
    assert parsed.tee_tcb_svn2 == bytes(range(16, 32))
    assert parsed.is_debug
    assert parsed.mr_signer_seam == b"\x33" * 48
    assert parsed.seam_attributes == b"\x44" * 8


def test_qe_report_fields_are_chosen(forge: QuoteForge) -> None:
    chosen = qe_report(
        mr_signer=b"\x55" * 32, isv_prod_id=9, isv_svn=3, misc_select=0x10, attributes=bytes(16)
    )
    quote = forge.quote(qe_report=chosen, qe_svn=77, pce_svn=88)
    report = quote.qe_report
    assert (report.mr_signer, report.isv_prod_id, report.isv_svn) == (b"\x55" * 32, 9, 3)
    assert (report.misc_select, report.attributes) == (0x10, bytes(16))
    assert (quote.qe_svn, quote.pce_svn) == (77, 88)
    assert _properties(quote, forge) == ALL_GOOD


def test_default_qe_report_matches_tee(forge: QuoteForge) -> None:
    tdx = forge.quote().qe_report
    sgx = forge.quote(sgx_report()).qe_report
    assert (tdx.mr_signer, tdx.isv_prod_id) == (TD_QE_MRSIGNER, 2)
    assert sgx.isv_prod_id == 1
    assert sgx.mr_signer != TD_QE_MRSIGNER
    assert not tdx.is_debug
    assert tdx.cpu_svn == forge.leaf.extension.cpu_svn  # type: ignore[union-attr]


KNOBS = [
    ("bad_quote_signature", {"quote_signature"}),
    ("bad_qe_report_signature", {"qe_report_signature"}),
    ("bad_qe_report_data", {"binding"}),
    ("swapped_attestation_key", {"binding", "carries_forge_key"}),
]


@pytest.mark.parametrize(("knob", "broken"), KNOBS, ids=[knob for knob, _ in KNOBS])
@pytest.mark.parametrize("body", ["tdx", "sgx"])
def test_each_knob_breaks_exactly_one_property(
    forge: QuoteForge, knob: str, broken: set[str], body: str
) -> None:
    quote = forge.quote(td_report() if body == "tdx" else sgx_report(), **{knob: True})
    expected = {name: name not in broken for name in ALL_GOOD}
    assert _properties(quote, forge) == expected
    # Everything but the broken part is what an unbroken quote has.
    clean = forge.quote(td_report() if body == "tdx" else sgx_report())
    assert quote.body == clean.body
    assert quote.certification_data == clean.certification_data


def test_swapped_key_is_signed_by_the_carried_key(forge: QuoteForge) -> None:
    quote = forge.quote(swapped_attestation_key=True)
    assert quote.attestation_key == public_key_bytes(forge.swapped_attestation_key)
    assert quote.qe_report.report_data == forge.binding()


def test_explicit_qe_report_data_and_auth_data(forge: QuoteForge) -> None:
    auth = b"\x07" * 5
    quote = forge.quote(qe_auth_data=auth)
    assert quote.qe_auth_data == auth
    assert _properties(quote, forge)["binding"]
    assert forge.quote(qe_auth_data=b"").qe_auth_data == b""
    custom = forge.quote(qe_report_data=b"\x09" * 64)
    assert custom.qe_report.report_data == b"\x09" * 64
    assert _properties(custom, forge) == ALL_GOOD | {"binding": False}


def test_chain_knobs(forge: QuoteForge) -> None:
    other = QuoteForge.create(seed=b"another root")
    quote = forge.quote(
        pck_chain=[other.leaf.cert, other.pki.intermediate.cert, other.pki.root.cert]
    )
    assert quote.pck_chain[2] == other.pki.root.cert
    assert not _properties(quote, forge)["qe_report_signature"]
    bare = QuoteForge.create(seed=b"test_forge", nul_terminated_chain=False).quote()
    assert bare.certification_data.data == forge.pck_chain_pem
    assert bare.pck_chain == forge.quote().pck_chain


def test_bad_report_fields_raise() -> None:
    with pytest.raises(ValueError, match="mr_td must be 48 bytes"):
        td_report(mr_td=bytes(47))
    with pytest.raises(ValueError, match="report_data"):
        sgx_report(report_data=bytes(65))
    with pytest.raises(TypeError, match="tee_tcb_svn2"):
        td_report(2, tee_tcb_svn2=bytes(16))
    with pytest.raises(TypeError, match="no field"):
        td_report(3, vmid=1)
    with pytest.raises(ValueError, match="body type"):
        td_report(1)


# --- PKI ---------------------------------------------------------------------------------


def _cn(name: x509.Name) -> str:
    return str(name.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value)


def _ext(cert: x509.Certificate, kind: type[Any]) -> x509.Extension[Any]:
    return cert.extensions.get_extension_for_class(kind)


@pytest.mark.parametrize("ca", ["platform", "processor"])
def test_chain_profile(ca: str) -> None:
    pki = SyntheticPki.create(b"profile", ca=ca)
    leaf = pki.issue_pck()
    root, inter, signing = pki.root.cert, pki.intermediate.cert, pki.tcb_signing.cert
    root.verify_directly_issued_by(root)
    inter.verify_directly_issued_by(root)
    signing.verify_directly_issued_by(root)
    leaf.cert.verify_directly_issued_by(inter)
    with pytest.raises(InvalidSignature):
        leaf.cert.verify_directly_issued_by(SyntheticPki.create(b"x", ca=ca).intermediate.cert)
    assert [_cn(c.subject) for c in (root, inter, signing, leaf.cert)] == [
        ROOT_CA_CN,
        PLATFORM_CA_CN if ca == "platform" else PROCESSOR_CA_CN,
        TCB_SIGNING_CN,
        PCK_CN,
    ]
    for cert in (root, inter, signing, leaf.cert):
        assert cert.subject.rfc4514_string().endswith(
            f"O={SYNTHETIC_ORGANIZATION},CN={_cn(cert.subject)}"
        )
        assert cert.subject.rfc4514_string().startswith("C=US,ST=CA,L=Santa Clara,")
        assert cert.version == x509.Version.v3
        assert _ext(cert, x509.KeyUsage).critical
        assert _ext(cert, x509.BasicConstraints).critical
        assert _ext(cert, x509.CRLDistributionPoints)
        assert cert.signature_algorithm_oid == x509.SignatureAlgorithmOID.ECDSA_WITH_SHA256
    for child, parent in ((root, root), (inter, root), (signing, root), (leaf.cert, inter)):
        aki = _ext(child, x509.AuthorityKeyIdentifier).value.key_identifier
        assert aki == _ext(parent, x509.SubjectKeyIdentifier).value.digest
    assert _ext(root, x509.BasicConstraints).value.path_length == 1
    assert _ext(inter, x509.BasicConstraints).value.path_length == 0
    assert not _ext(signing, x509.BasicConstraints).value.ca
    assert not _ext(leaf.cert, x509.BasicConstraints).value.ca
    assert _ext(inter, x509.KeyUsage).value.crl_sign
    assert _ext(leaf.cert, x509.KeyUsage).value.digital_signature
    assert f"ca={ca}" in str(_ext(leaf.cert, x509.CRLDistributionPoints).value)


def test_pck_extension_round_trip(forge: QuoteForge) -> None:
    pki = SyntheticPki.create(b"ext")
    leaf = pki.issue_pck(
        fmspc="00906ED50000",
        pce_id=b"\x00\x01",
        sgx_components=tuple(range(16)),
        pce_svn=300,
        cpu_svn=b"\xaa" * 16,
        sgx_type=SgxType.SCALABLE_WITH_INTEGRITY,
        ppid=b"\x01" * 16,
        platform_instance_id=b"\x02" * 16,
        configuration=(True, False, None),
    )
    quote = QuoteForge.create(pki=pki, leaf=leaf).quote()
    ext = quote.pck_extension
    assert ext == leaf.extension
    assert ext.fmspc_hex == "00906ED50000"
    assert ext.pce_id == b"\x00\x01"
    assert ext.sgx_components == tuple(range(16))
    assert (ext.pce_svn, ext.cpu_svn) == (300, b"\xaa" * 16)
    assert ext.sgx_type is SgxType.SCALABLE_WITH_INTEGRITY
    assert (ext.ppid, ext.platform_instance_id) == (b"\x01" * 16, b"\x02" * 16)
    assert ext.configuration == PckConfiguration(True, False, None)
    assert ext.ca_type == "platform"
    # The default leaf of a forge and a Processor-CA leaf.
    default = forge.quote().pck_extension
    assert (default.fmspc, default.sgx_components) == (DEFAULT_FMSPC, DEFAULT_SGX_COMPONENTS)
    assert default.cpu_svn == bytes(DEFAULT_SGX_COMPONENTS)
    processor = QuoteForge.create(b"p", ca="processor").quote().pck_extension
    assert processor.ca_type == "processor"
    assert processor.sgx_type is SgxType.STANDARD


def test_raw_extension_override() -> None:
    pki = SyntheticPki.create(b"raw")
    good = pki.issue_pck()
    raw = pki.issue_pck(extension=b"\x30\x00", key_label="raw")
    assert raw.extension is None
    value = raw.cert.extensions.get_extension_for_oid(x509.ObjectIdentifier(SGX_EXTENSION_OID))
    assert value.value.value == b"\x30\x00"
    with pytest.raises(QuoteParseError):
        parse_pck_extension(value.value.value)
    assert good.serial_number != raw.serial_number


def test_crls() -> None:
    pki = SyntheticPki.create(b"crl")
    leaf = pki.issue_pck()
    assert pki.root_crl.is_signature_valid(pki.root.public_key)
    assert pki.pck_crl.is_signature_valid(pki.intermediate.public_key)
    assert not pki.pck_crl.is_signature_valid(pki.root.public_key)
    assert pki.pck_crl.issuer == pki.intermediate.cert.subject
    assert pki.root_crl.issuer == pki.root.cert.subject
    for crl, issuer in ((pki.root_crl, pki.root), (pki.pck_crl, pki.intermediate)):
        assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 1
        aki = crl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
        assert aki.key_identifier == _ext(issuer.cert, x509.SubjectKeyIdentifier).value.digest
        assert crl.last_update_utc < REFERENCE_TIME < crl.next_update_utc  # type: ignore[operator]
        assert len(crl) == 0

    revoked = pki.with_revoked_pck(leaf.serial_number).with_revoked_ca(
        pki.intermediate.serial_number
    )
    assert revoked.pck_crl.get_revoked_certificate_by_serial_number(leaf.serial_number)
    assert revoked.root_crl.get_revoked_certificate_by_serial_number(pki.intermediate.serial_number)
    assert revoked.pck_crl.is_signature_valid(pki.intermediate.public_key)
    # Only the CRLs changed.
    assert revoked.root.der == pki.root.der
    assert revoked.intermediate.der == pki.intermediate.der
    assert revoked.issue_pck().der == leaf.der
    assert revoked.pck_crl_der != pki.pck_crl_der

    later = pki.replace(pck_crl_next_update=REFERENCE_TIME - timedelta(seconds=1))
    assert later.pck_crl.next_update_utc < REFERENCE_TIME  # type: ignore[operator]
    assert later.root_crl_der == pki.root_crl_der


def test_build_crl_knobs() -> None:
    pki = SyntheticPki.create(b"crl")
    bare = build_crl(
        pki.intermediate,
        this_update=REFERENCE_TIME,
        next_update=REFERENCE_TIME + timedelta(days=1),
        crl_number=None,
        authority_key_identifier=False,
        signing_key=pki.root.key,
    )
    assert len(bare.extensions) == 0
    assert not bare.is_signature_valid(pki.intermediate.public_key)


def test_dates_and_names_are_parameters() -> None:
    short = datetime(2025, 1, 1, tzinfo=timezone.utc)
    pki = SyntheticPki.create(b"dates", intermediate_not_after=short, root_cn="Not A Root")
    assert pki.intermediate.cert.not_valid_after_utc == short
    assert pki.root.cert.not_valid_after_utc == pki.tcb_signing.cert.not_valid_after_utc
    assert _cn(pki.root.cert.subject) == "Not A Root"
    leaf = pki.issue_pck(not_after=short, cn="Intel SGX PCK Something")
    assert leaf.cert.not_valid_after_utc == short
    assert _cn(leaf.cert.subject) == "Intel SGX PCK Something"
    with pytest.raises(ValueError, match="timezone"):
        SyntheticPki.create(not_before=datetime(2024, 1, 1))
    with pytest.raises(ValueError, match="ca must be"):
        SyntheticPki.create(ca="other")


def test_keys_and_raw_signatures() -> None:
    key = derive_key(b"k", "label")
    assert derive_key(b"k", "label") is key
    assert public_key_bytes(key) != public_key_bytes(derive_key(b"k", "other"))
    signature = sign_raw(key, b"data")
    assert len(signature) == 64
    assert signature == sign_raw(key, b"data")
    assert _verifies(key.public_key(), signature, b"data")
    assert verify_raw(public_key_bytes(key), signature, b"data")
    assert verify_raw(key, signature, b"data")
    assert not verify_raw(key, signature, b"other")
    assert not verify_raw(bytes(64), signature, b"data")


# --- signed collateral -------------------------------------------------------------------


def test_signed_json_covers_the_exact_slice() -> None:
    pki = SyntheticPki.create(b"json")
    signed = pki.sign_tcb_info(tcb_info())
    text, signature = signed
    assert re.fullmatch(r'\{"tcbInfo":\{.*\},"signature":"[0-9a-f]{128}"\}', text)
    document = json.loads(text)
    assert document["signature"] == signature.hex()
    assert signed.body == json.dumps(document["tcbInfo"], separators=(",", ":"))
    assert text == f'{{"tcbInfo":{signed.body},"signature":"{signature.hex()}"}}'
    public = pki.tcb_signing.cert.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    assert _verifies(public, signature, signed.body.encode())
    # Body text is signed verbatim, whitespace included.
    spaced = pki.sign_qe_identity('{ "id" : "TD_QE" }')
    assert spaced.text.startswith('{"enclaveIdentity":{ "id" : "TD_QE" },"signature":"')
    assert spaced.body == '{ "id" : "TD_QE" }'
    assert _verifies(public, spaced.signature, b'{ "id" : "TD_QE" }')
    assert spaced.value == {"id": "TD_QE"}
    # Another key, another signature; with_signature rewrites the text too.
    other = pki.sign_tcb_info(tcb_info(), key=derive_key(b"other"))
    assert not _verifies(public, other.signature, other.body.encode())
    zero = signed.with_signature(bytes(64))
    assert zero.body == signed.body
    assert zero.text.endswith('"signature":"' + "0" * 128 + '"}')


def test_document_builders() -> None:
    info = tcb_info(
        id="TDX",
        fmspc="b0c06f000000",
        tcb_levels=[
            tcb_level(sgx=[9] * 16, tdx=[9] * 16, status="UpToDate"),
            tcb_level(status="OutOfDate", advisories=["INTEL-SA-00001"]),
        ],
        issue_date="2025-01-01T00:00:00Z",
        tcb_evaluation_data_number=19,
    )
    assert list(info) == [
        "id",
        "version",
        "issueDate",
        "nextUpdate",
        "fmspc",
        "pceId",
        "tcbType",
        "tcbEvaluationDataNumber",
        "tdxModule",
        "tdxModuleIdentities",
        "tcbLevels",
    ]
    assert info["fmspc"] == "B0C06F000000"
    assert info["issueDate"] == "2025-01-01T00:00:00Z"
    assert info["nextUpdate"] == "2025-06-30T00:00:00Z"
    assert info["tcbLevels"][1]["advisoryIDs"] == ["INTEL-SA-00001"]
    assert "advisoryIDs" not in info["tcbLevels"][0]
    assert len(info["tcbLevels"][0]["tcb"]["tdxtcbcomponents"]) == 16
    assert info["tdxModuleIdentities"][0]["id"] == "TDX_01"
    sgx = tcb_info(id="SGX")
    assert "tdxModule" not in sgx
    assert "tdxtcbcomponents" not in sgx["tcbLevels"][0]["tcb"]
    identity = qe_identity(id="QE", miscselect=1, tcb_levels=[isv_tcb_level(8, status="Revoked")])
    assert identity["isvprodid"] == 1
    assert identity["miscselect"] == "01000000"
    assert identity["tcbLevels"] == [
        {"tcb": {"isvsvn": 8}, "tcbDate": "2024-03-13T00:00:00Z", "tcbStatus": "Revoked"}
    ]


def test_collateral_json_has_dcap_qvl_shape(forge: QuoteForge, vectors: Path) -> None:
    real = json.loads((vectors / "dcap-qvl" / "tdx_quote_collateral.json").read_text())
    scenario = forge.scenario(pck_certificate_chain=True)
    ours = json.loads(scenario.collateral_json())
    assert set(ours) == set(real) | {"pck_certificate_chain"}
    assert "pck_certificate_chain" not in json.loads(forge.scenario().collateral_json())
    assert ours["tcb_info"] == scenario.collateral.tcb_info.body
    assert ours["tcb_info_signature"] == scenario.collateral.tcb_info.signature.hex()
    assert bytes.fromhex(ours["pck_crl"]) == forge.pki.pck_crl_der
    assert bytes.fromhex(ours["root_ca_crl"]) == forge.pki.root_crl_der
    assert ours["pck_certificate_chain"] == forge.pck_chain_pem.decode()
    for key in ("pck_crl_issuer_chain", "tcb_info_issuer_chain", "qe_identity_issuer_chain"):
        assert len(x509.load_pem_x509_certificates(ours[key].encode())) == 2
        assert type(ours[key]) is type(real[key])


def test_matching_documents(forge: QuoteForge) -> None:
    pki = SyntheticPki.create(b"match", ca="processor")
    leaf = pki.issue_pck(fmspc="00906ED50000", sgx_components=[1] * 16, pce_svn=2)
    body = td_report(tee_tcb_svn=bytes((2, 3, 4)) + bytes(13), mr_signer_seam=b"\x01" * 48)
    info = matching_tcb_info(leaf.extension, body)  # type: ignore[arg-type]
    assert info["fmspc"] == "00906ED50000"
    assert [c["svn"] for c in info["tcbLevels"][0]["tcb"]["sgxtcbcomponents"]] == [1] * 16
    assert [c["svn"] for c in info["tcbLevels"][0]["tcb"]["tdxtcbcomponents"]][:3] == [2, 3, 4]
    assert info["tdxModuleIdentities"][0]["id"] == "TDX_03"
    assert info["tdxModuleIdentities"][0]["tcbLevels"][0]["tcb"] == {"isvsvn": 2}
    assert info["tdxModule"]["mrsigner"] == "01" * 48
    assert matching_tcb_info(leaf.extension, sgx_report())["id"] == "SGX"  # type: ignore[arg-type]
    report = qe_report(isv_svn=9, mr_signer=b"\x02" * 32)
    identity = matching_qe_identity(report)
    assert identity["mrsigner"] == "02" * 32
    assert identity["attributes"] == "11000000000000000000000000000000"
    assert identity["tcbLevels"][0]["tcb"] == {"isvsvn": 9}


# --- scenarios ---------------------------------------------------------------------------


def test_scenario_defaults(forge: QuoteForge) -> None:
    scenario = forge.scenario()
    assert isinstance(scenario, Scenario)
    assert scenario.now == REFERENCE_TIME
    assert scenario.now_timestamp == int(REFERENCE_TIME.timestamp())
    assert scenario.trust_root_der == forge.pki.trust_root_der
    assert x509.load_pem_x509_certificate(scenario.trust_root_pem) == forge.pki.root.cert
    assert scenario.quote_bytes == forge.quote().to_bytes()
    assert scenario.collateral.tcb_info.value["id"] == "TDX"
    assert scenario.collateral.qe_identity.value["id"] == "TD_QE"
    sgx = forge.scenario(forge.quote(sgx_report()))
    assert sgx.collateral.tcb_info.value["id"] == "SGX"
    assert sgx.collateral.qe_identity.value["id"] == "QE"
    other = SyntheticPki.create(b"elsewhere")
    assert forge.scenario(trust_root=other).trust_root == other.root.cert
    assert scenario.replace(now=REFERENCE_TIME + timedelta(days=400)).now.year == 2026


def test_scenario_to_collateral(forge: QuoteForge) -> None:
    collateral_module = pytest.importorskip("tdxquote.collateral")
    scenario = forge.scenario(pck_certificate_chain=True)
    collateral = scenario.to_collateral()
    assert isinstance(collateral, collateral_module.Collateral)
    assert collateral.tcb_info.fmspc == DEFAULT_FMSPC
    assert collateral.tcb_info.signed_body == scenario.collateral.tcb_info.body.encode()
    assert collateral.pck_crl == forge.pki.pck_crl
    assert collateral.pck_certificate_chain == tuple(forge.quote().pck_chain)
    # The whole PCS responses parse too.
    tcb = collateral_module.TcbInfo.from_response(scenario.collateral.tcb_info.text)
    assert tcb.signed_body == collateral.tcb_info.signed_body
    identity = collateral_module.EnclaveIdentity.from_response(scenario.collateral.qe_identity.text)
    assert identity.signed_body == scenario.collateral.qe_identity.body.encode()


_DIGEST_SNIPPET = """
import hashlib
from tdxquote.testing.forge import QuoteForge, td_report
forge = QuoteForge.create(seed=b"determinism")
scenario = forge.scenario(forge.quote(td_report(3, report_data=b"x")))
print(hashlib.sha256(scenario.quote_bytes + scenario.collateral_json().encode()).hexdigest())
"""


def test_same_seed_same_bytes() -> None:
    def digest() -> str:
        forge = QuoteForge.create(seed=b"determinism")
        scenario = forge.scenario(forge.quote(td_report(3, report_data=b"x")))
        data = scenario.quote_bytes + scenario.collateral_json().encode()
        return hashlib.sha256(data).hexdigest()

    first = digest()
    derive_key.cache_clear()
    assert digest() == first
    # A fresh interpreter (no caches, another hash seed) gives the same bytes.
    fresh = subprocess.run(
        [sys.executable, "-c", _DIGEST_SNIPPET],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONHASHSEED": "12345"},
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert fresh.stdout.strip() == first
    other = QuoteForge.create(seed=b"determinism!")
    assert other.pki.root.der != QuoteForge.create(seed=b"determinism").pki.root.der


# --- an independent verifier agrees ------------------------------------------------------


def _dcap_qvl(scenario: Scenario) -> str:
    dcap_qvl = pytest.importorskip("dcap_qvl")
    collateral = dcap_qvl.QuoteCollateralV3.from_json(scenario.collateral_json())
    try:
        report = dcap_qvl.verify_with_root_ca(
            scenario.quote_bytes, collateral, scenario.trust_root_der, scenario.now_timestamp
        )
    except ValueError as exc:
        return f"error: {exc}"
    return str(report.status)


@pytest.mark.parametrize(
    ("make_body", "version"),
    [(case[1], case[2]) for case in BODIES if case[0] != "sgx-v5"],
    ids=[case[0] for case in BODIES if case[0] != "sgx-v5"],
)
@pytest.mark.parametrize("ca", ["platform", "processor"])
def test_dcap_qvl_accepts_default_scenarios(make_body: Any, version: int | None, ca: str) -> None:
    forge = QuoteForge.create(seed=b"qvl", ca=ca)  # type: ignore[arg-type]
    assert _dcap_qvl(forge.scenario(forge.quote(make_body(), version=version))) == "UpToDate"


def _expired_leaf(forge: QuoteForge) -> Scenario:
    leaf = forge.pki.issue_pck(not_after=REFERENCE_TIME)
    return forge.replace(leaf=leaf).scenario(now=REFERENCE_TIME + timedelta(seconds=1))


def _expired_pck_crl(forge: QuoteForge) -> Scenario:
    return forge.replace(pki=forge.pki.replace(pck_crl_next_update=REFERENCE_TIME)).scenario()


def _revoked_pck(forge: QuoteForge) -> Scenario:
    return forge.replace(pki=forge.pki.with_revoked_pck(forge.leaf.serial_number)).scenario()


def _foreign_tcb_info_signature(forge: QuoteForge) -> Scenario:
    return forge.scenario(tcb_info=forge.pki.sign_tcb_info(tcb_info(), key=derive_key(b"x")))


def _zero_qe_identity_signature(forge: QuoteForge) -> Scenario:
    signed = forge.pki.sign_qe_identity(qe_identity()).with_signature(bytes(64))
    return forge.scenario(qe_identity=signed)


DCAP_QVL_FAILURES: list[tuple[str, Any, str]] = [
    (
        "bad_quote_signature",
        lambda f: f.scenario(f.quote(bad_quote_signature=True)),
        "ISV enclave report signature is invalid",
    ),
    (
        "bad_qe_report_signature",
        lambda f: f.scenario(f.quote(bad_qe_report_signature=True)),
        "Signature is invalid for qe_report",
    ),
    (
        "bad_qe_report_data",
        lambda f: f.scenario(f.quote(bad_qe_report_data=True)),
        "QE report hash mismatch",
    ),
    (
        "swapped_attestation_key",
        lambda f: f.scenario(f.quote(swapped_attestation_key=True)),
        "QE report hash mismatch",
    ),
    ("revoked_pck", _revoked_pck, "CertRevoked"),
    (
        "other_root",
        lambda f: f.scenario(trust_root=SyntheticPki.create(b"other")),
        "InvalidCrlSignatureForPublicKey",
    ),
    ("expired_leaf", _expired_leaf, "CertExpired"),
    ("expired_pck_crl", _expired_pck_crl, "CrlExpired"),
    ("tcb_info_signature", _foreign_tcb_info_signature, "Signature is invalid for tcb_info"),
    ("qe_identity_signature", _zero_qe_identity_signature, "Signature is invalid for qe_identity"),
    ("fmspc", lambda f: f.scenario(tcb_info=tcb_info(fmspc="000000000000")), "Fmspc mismatch"),
    (
        "qe_mrsigner",
        lambda f: f.scenario(qe_identity=qe_identity(mrsigner=bytes(32))),
        "QE MRSIGNER mismatch",
    ),
    (
        "tcb_info_expired",
        lambda f: f.scenario(tcb_info=tcb_info(next_update=REFERENCE_TIME - timedelta(1))),
        "TCBInfo expired",
    ),
]


@pytest.mark.parametrize(
    ("make", "message"),
    [case[1:] for case in DCAP_QVL_FAILURES],
    ids=[case[0] for case in DCAP_QVL_FAILURES],
)
def test_dcap_qvl_rejects_each_broken_scenario(forge: QuoteForge, make: Any, message: str) -> None:
    verdict = _dcap_qvl(make(forge))
    assert verdict.startswith("error:")
    assert message in verdict


def test_dcap_qvl_reads_chosen_statuses(forge: QuoteForge) -> None:
    outdated = tcb_info(
        tcb_levels=[
            tcb_level(sgx=[99] * 16, tdx=[99] * 16),
            tcb_level(tdx=[0] * 16, status="OutOfDate", advisories=["INTEL-SA-00837"]),
        ]
    )
    assert _dcap_qvl(forge.scenario(tcb_info=outdated)) == "OutOfDate"
    pki = SyntheticPki.create(b"odd platform", ca="processor")
    leaf = pki.issue_pck(fmspc="00906ED50000", sgx_components=[1] * 16, pce_svn=2)
    odd = QuoteForge.create(pki=pki, leaf=leaf)
    body = td_report(tee_tcb_svn=bytes((2, 3, 4)) + bytes(13))
    quote = odd.quote(body)
    assert _dcap_qvl(odd.scenario(quote)).startswith("error:")  # not the default platform
    matched = odd.scenario(
        quote,
        tcb_info=matching_tcb_info(leaf.extension, body),  # type: ignore[arg-type]
        qe_identity=matching_qe_identity(quote.qe_report),
    )
    assert _dcap_qvl(matched) == "UpToDate"


@pytest.mark.parametrize(
    ("make_body", "version"),
    [(case[1], case[2]) for case in BODIES if case[0] != "sgx-v5"],
    ids=[case[0] for case in BODIES if case[0] != "sgx-v5"],
)
def test_tdxquote_verifier_accepts_default_scenarios(make_body: Any, version: int | None) -> None:
    verify_module = pytest.importorskip("tdxquote.verification")
    forge = QuoteForge.create(seed=b"own verifier")
    scenario = forge.scenario(forge.quote(make_body(), version=version))
    verified = verify_module.verify(
        scenario.quote_bytes,
        scenario.to_collateral(),
        now=scenario.now,
        trust_root=scenario.trust_root_der,
    )
    assert str(verified.status) == "UpToDate"


# --- the documentation -------------------------------------------------------------------


def test_docs_example_runs() -> None:
    if not DOCS.is_file():
        pytest.skip("docs/testing.md is missing")
    text = DOCS.read_text()
    start = text.index("## Synthetic PKI and quote forge")
    end = text.find("\n## ", start + 1)
    section = text[start : end if end != -1 else len(text)]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    assert blocks, "the section has no python example"
    namespace: dict[str, Any] = {}
    for block in blocks:
        exec(compile(block, str(DOCS), "exec"), namespace)
