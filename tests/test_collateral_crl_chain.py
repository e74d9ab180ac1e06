"""CRL and issuer-chain loading: every real form, URL-decoding, strictness."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from urllib.parse import quote, unquote_plus

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from tdxquote.collateral import CollateralFormatError, load_chain, load_crl
from tdxquote.collateral._chain import chain_pem_text
from tdxquote.collateral._crl import crl_der

ROOT_SHA256 = "44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3"


def teepot(vectors: Path, name: str) -> dict[str, str]:
    data = json.loads((vectors / "teepot-intel-pcs" / name).read_text())
    assert isinstance(data, dict)
    return data


def crl_signed_by(crl: x509.CertificateRevocationList, chain: tuple[x509.Certificate, ...]) -> bool:
    for cert in chain:
        key = cert.public_key()
        if cert.subject == crl.issuer and isinstance(key, ec.EllipticCurvePublicKey):
            return crl.is_signature_valid(key)
    return False


def common_name(cert: x509.Certificate) -> str:
    value = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
    assert isinstance(value, str)
    return value


# --------------------------------------------------------------------------- CRLs


def test_go_tdx_guest_der_crls(vectors: Path) -> None:
    base = vectors / "go-tdx-guest" / "collateral"
    pck = load_crl((base / "pckcrl").read_bytes())
    assert len(list(pck)) == 44
    assert "PCK Platform CA" in pck.issuer.rfc4514_string()
    chain = load_chain((base / "SGX-PCK-CRL-Issuer-Chain.header.txt").read_text())
    assert crl_signed_by(pck, chain)
    root = load_crl((base / "rootcrl.der").read_bytes())
    assert len(list(root)) == 0
    assert crl_signed_by(root, chain)


@pytest.mark.parametrize("name", ["pck_crl_platform.json", "pck_crl_processor.json"])
def test_teepot_pem_crls(vectors: Path, name: str) -> None:
    data = teepot(vectors, name)
    crl = load_crl(data["crl_data"])
    assert crl == load_crl(data["crl_data"].encode())
    assert crl_signed_by(crl, load_chain(data["issuer_chain"]))
    assert crl.next_update_utc is not None


def test_teepot_processor_crl_pem_and_der_agree(vectors: Path) -> None:
    pem = load_crl(teepot(vectors, "pck_crl_processor.json")["crl_data"])
    der = base64.b64decode(teepot(vectors, "pck_crl_processor_der.json")["crl_data_base64"])
    from_der = load_crl(der)
    assert from_der.public_bytes(Encoding.DER) == der
    assert "Processor CA" in from_der.issuer.rfc4514_string()
    assert pem.issuer == from_der.issuer


@pytest.mark.parametrize("name", ["tdx_quote_collateral.json", "sgx_quote_collateral.json"])
def test_dcap_qvl_hex_crls(vectors: Path, name: str) -> None:
    data = json.loads((vectors / "dcap-qvl" / name).read_text())
    root = load_crl(data["root_ca_crl"])
    pck = load_crl(data["pck_crl"])
    assert root.public_bytes(Encoding.DER) == bytes.fromhex(data["root_ca_crl"])
    assert crl_signed_by(root, load_chain(data["pck_crl_issuer_chain"]))
    assert crl_signed_by(pck, load_chain(data["pck_crl_issuer_chain"]))
    # PCCS /rootcacrl serves the hex text, maybe upper case and with a newline.
    assert load_crl((data["root_ca_crl"].upper() + "\n").encode()) == root


@pytest.mark.parametrize("tee", ["sgx", "tdx"])
def test_intel_sample_crls(vectors: Path, tee: str) -> None:
    base = vectors / "intel-dcap" / "qvl-sampleData" / tee
    for name in ("rootCaCrl", "intermediateCaCrl"):
        der = load_crl((base / f"{name}.der").read_bytes())
        pem_path = base / f"{name}.pem"
        if pem_path.exists():
            assert load_crl(pem_path.read_text()) == der


def test_crl_der_detection_returns_der(vectors: Path) -> None:
    der = (vectors / "go-tdx-guest" / "collateral" / "rootcrl.der").read_bytes()
    pem = (
        "-----BEGIN X509 CRL-----\n" + base64.encodebytes(der).decode() + "-----END X509 CRL-----\n"
    )
    assert crl_der(der) == der
    assert crl_der(pem) == der
    assert crl_der(pem.encode()) == der
    assert crl_der(der.hex()) == der
    assert crl_der(der.hex().encode()) == der


@pytest.mark.parametrize(
    "bad",
    [
        b"",
        "",
        b"\x30\x03\x02\x01\x01",
        b"not a crl",
        "abc",
        "30820",
        b"\xff\xfe\x00",
        "-----BEGIN X509 CRL-----\n!!!!\n-----END X509 CRL-----\n",
        "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n",
        "-----BEGIN X509 CRL-----\nMAA=\n-----END X509 CRL-----\n",
        "-----BEGIN X509 CRL-----\n\n-----END X509 CRL-----\n",
        12,
    ],
)
def test_crl_garbage_rejected(bad: object) -> None:
    with pytest.raises(CollateralFormatError) as info:
        load_crl(bad)  # type: ignore[arg-type]
    assert info.value.code == "crl_format"
    assert info.value.intel_error == "SGX_QL_CRL_UNSUPPORTED_FORMAT"


def test_crl_structural_damage_rejected(vectors: Path) -> None:
    der = (vectors / "go-tdx-guest" / "collateral" / "rootcrl.der").read_bytes()
    pem = (
        "-----BEGIN X509 CRL-----\n" + base64.encodebytes(der).decode() + "-----END X509 CRL-----\n"
    )
    bad_inputs: list[bytes | str] = [
        der + b"\x00",
        der[:-1],
        der.hex() + "0",
        der.hex() + " 00",
        pem + pem,
        pem + "trailing words",
        "junk\n" + pem,
        pem.replace("X509 CRL-----\n", "X509 CRL-----\n\x0b", 1),
    ]
    for bad in bad_inputs:
        with pytest.raises(CollateralFormatError):
            load_crl(bad)


def test_crl_with_damaged_name_is_a_format_error(vectors: Path) -> None:
    # Found by hypothesis: cryptography raises KeyError (not ValueError) here.
    der = bytearray((vectors / "go-tdx-guest" / "collateral" / "pckcrl").read_bytes())
    der[70:71] = b"\x00"
    with pytest.raises(CollateralFormatError, match="malformed DER") as info:
        load_crl(bytes(der))
    assert info.value.code == "crl_format"


# --------------------------------------------------------------------------- chains


HEADERS = ["SGX-PCK-CRL-Issuer-Chain", "TCB-Info-Issuer-Chain", "SGX-Enclave-Identity-Issuer-Chain"]


@pytest.mark.parametrize("name", HEADERS)
def test_go_tdx_guest_headers_decode_to_the_pem_files(vectors: Path, name: str) -> None:
    base = vectors / "go-tdx-guest" / "collateral"
    header = (base / f"{name}.header.txt").read_text()
    pem = (base / f"{name}.pem").read_text()
    assert "%2B" in header
    assert chain_pem_text(header) == pem
    chain = load_chain(header)
    assert chain == load_chain(pem)
    assert len(chain) == 2
    assert chain[1].fingerprint(hashes.SHA256()).hex() == ROOT_SHA256
    assert "Root CA" in common_name(chain[1])


def test_teepot_and_dcap_qvl_chains(vectors: Path) -> None:
    for path in sorted((vectors / "teepot-intel-pcs").glob("*.json")):
        data = json.loads(path.read_text())
        if isinstance(data, dict) and "issuer_chain" in data:
            chain = load_chain(data["issuer_chain"])
            assert len(chain) == 2, path.name
    for path in sorted((vectors / "dcap-qvl").glob("*collateral.json")):
        data = json.loads(path.read_text())
        for key in ("pck_crl_issuer_chain", "tcb_info_issuer_chain", "qe_identity_issuer_chain"):
            assert len(load_chain(data[key])) == 2


def test_reissued_tcb_signing_certificate_same_serial(vectors: Path) -> None:
    old = load_chain((vectors / "go-tdx-guest/collateral/TCB-Info-Issuer-Chain.pem").read_text())
    new = load_chain(teepot(vectors, "tdx_tcb_info.json")["issuer_chain"])
    assert old[0].serial_number == new[0].serial_number
    assert old[0] != new[0]


@pytest.mark.parametrize(
    "name",
    [
        "sgx/pckSignChain.pem",
        "sgx/tcbSignChain.pem",
        "tdx/tcbSignChain.pem",
        "tdx/pckSignChain.pem",
    ],
)
def test_intel_sample_chains(vectors: Path, name: str) -> None:
    assert len(load_chain((vectors / "intel-dcap/qvl-sampleData" / name).read_bytes())) >= 2


def test_url_decoding_keeps_literal_plus_and_decodes_percent_2b(vectors: Path) -> None:
    pem = (vectors / "go-tdx-guest/collateral/TCB-Info-Issuer-Chain.pem").read_text()
    assert "+" in pem
    fully_encoded = quote(pem, safe="")
    plus_literal = quote(pem, safe="+")
    assert "%2B" in fully_encoded
    assert "+" in plus_literal
    assert "%2B" not in plus_literal
    assert chain_pem_text(fully_encoded) == pem
    assert chain_pem_text(plus_literal) == pem
    assert load_chain(fully_encoded) == load_chain(plus_literal) == load_chain(pem)
    # unquote_plus would have turned the literal '+' into a space.
    assert unquote_plus(plus_literal) != pem


def test_url_decoding_of_synthetic_text() -> None:
    assert chain_pem_text("a%2Bb+c%20d") == "a+b+c d"
    assert chain_pem_text(b"a%2Bb+c") == "a+b+c"
    assert chain_pem_text("no percent+here") == "no percent+here"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda pem: "", "no PEM CERTIFICATE block"),
        (lambda pem: "   \n", "no PEM CERTIFICATE block"),
        (lambda pem: pem + "garbage", "outside PEM blocks"),
        (lambda pem: "garbage" + pem, "outside PEM blocks"),
        (lambda pem: pem.replace("-----\n", "-----\nxx\n", 1) + "", "bad DER|malformed|base64"),
        (lambda pem: pem.replace("CERTIFICATE", "PRIVATE KEY"), "expected CERTIFICATE"),
        (
            lambda pem: pem.replace("-----END CERTIFICATE-----", "-----END CRL-----", 1),
            "expected CERTIFICATE",
        ),
        (lambda pem: pem.replace("\n", "\n!", 2), "bad base64"),
        (lambda pem: "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n", "malformed"),
        (lambda pem: "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n", "empty"),
        (lambda pem: quote(quote(pem, safe=""), safe=""), "outside PEM blocks|no PEM"),
        (lambda pem: pem.replace("M", "%FF", 1), "invalid UTF-8"),
    ],
)
def test_chain_garbage_rejected(vectors: Path, mutate: object, message: str) -> None:
    pem = (vectors / "go-tdx-guest/collateral/TCB-Info-Issuer-Chain.pem").read_text()
    assert callable(mutate)
    with pytest.raises(CollateralFormatError, match=message) as info:
        load_chain(mutate(pem))
    assert info.value.code == "issuer_chain_format"


@pytest.mark.parametrize("bad", [b"\xff-----BEGIN", 3, None])
def test_chain_wrong_input_rejected(bad: object) -> None:
    with pytest.raises(CollateralFormatError):
        load_chain(bad)  # type: ignore[arg-type]
