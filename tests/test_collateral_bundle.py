"""The Collateral bundle: dcap-qvl QuoteCollateralV3 JSON both ways, raw PCS responses."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tdxquote.collateral import (
    Collateral,
    CollateralFormatError,
    EnclaveIdentity,
    RawCollateral,
    TcbInfo,
    load_chain,
)

DCAP_QVL_FILES = [
    "dcap-qvl/tdx_quote_collateral.json",
    "dcap-qvl/sgx_quote_collateral.json",
    "dcap-qvl/tdx_quote_outdated_collateral.json",
    "dcap-qvl/near/quote_collateral.json",
    "dstack/upstream/kms-pr538_tdx_quote_collateral.json",
]
KEYS = [
    "pck_crl_issuer_chain",
    "root_ca_crl",
    "pck_crl",
    "tcb_info_issuer_chain",
    "tcb_info",
    "tcb_info_signature",
    "qe_identity_issuer_chain",
    "qe_identity",
    "qe_identity_signature",
]


def dcap_qvl_text(vectors: Path, name: str = "dcap-qvl/tdx_quote_collateral.json") -> str:
    return (vectors / name).read_text()


def teepot(vectors: Path, name: str) -> dict[str, str]:
    data = json.loads((vectors / "teepot-intel-pcs" / name).read_text())
    assert isinstance(data, dict)
    return data


# --------------------------------------------------------------------------- JSON round trip


@pytest.mark.parametrize("name", DCAP_QVL_FILES)
def test_round_trip_dcap_qvl_json(vectors: Path, name: str) -> None:
    text = (vectors / name).read_text()
    collateral = Collateral.from_json(text)
    written = collateral.to_json()
    assert json.loads(written) == json.loads(text)
    assert list(json.loads(written)) == KEYS
    if text.startswith("{\n  "):
        assert written == text  # dcap-qvl's own pretty form, byte for byte
    again = Collateral.from_json(written)
    assert again == collateral
    assert again.raw == collateral.raw


@pytest.mark.parametrize("name", DCAP_QVL_FILES)
def test_parsed_fields(vectors: Path, name: str) -> None:
    data = json.loads((vectors / name).read_text())
    collateral = Collateral.from_json(data and (vectors / name).read_bytes())
    assert collateral.tcb_info.signed_body == data["tcb_info"].encode()
    assert collateral.tcb_info.signature.hex() == data["tcb_info_signature"]
    assert collateral.qe_identity.signed_body == data["qe_identity"].encode()
    assert collateral.raw.root_ca_crl.hex() == data["root_ca_crl"]
    assert collateral.pck_crl.issuer == collateral.pck_crl_issuer_chain[0].subject
    assert len(collateral.tcb_info_issuer_chain) == 2
    assert collateral.pck_certificate_chain is None
    assert collateral.qe_identity.id in ("QE", "TD_QE")


def test_tdx_collateral_values(vectors: Path) -> None:
    collateral = Collateral.from_json(dcap_qvl_text(vectors))
    assert collateral.tcb_info.fmspc == bytes.fromhex("B0C06F000000")
    assert collateral.tcb_info.id == "TDX"
    assert collateral.qe_identity.id == "TD_QE"
    assert collateral.qe_identity.issue_date == datetime(
        2025, 6, 19, 10, 32, 27, tzinfo=timezone.utc
    )


def test_pck_certificate_chain_round_trip(vectors: Path) -> None:
    pem = (vectors / "go-tdx-guest/derived/cos-113-tdx-quote.pck_chain.pem").read_text()
    data = json.loads(dcap_qvl_text(vectors))
    data["pck_certificate_chain"] = pem
    collateral = Collateral.from_json(json.dumps(data))
    assert collateral.pck_certificate_chain is not None
    assert len(collateral.pck_certificate_chain) == 3
    written = json.loads(collateral.to_json())
    assert written["pck_certificate_chain"] == pem
    data["pck_certificate_chain"] = None
    assert Collateral.from_json(json.dumps(data)).pck_certificate_chain is None


def test_unknown_members_ignored(vectors: Path) -> None:
    data = json.loads(dcap_qvl_text(vectors))
    data["future"] = [1, 2, 3]
    assert Collateral.from_json(json.dumps(data)) == Collateral.from_json(dcap_qvl_text(vectors))


# --------------------------------------------------------------------------- dcap-qvl interop


@pytest.fixture(scope="module")
def dcap_qvl() -> Any:
    return pytest.importorskip("dcap_qvl")


@pytest.mark.parametrize(
    ("quote_name", "collateral_name", "now", "status", "advisories"),
    [
        ("tdx_quote", "tdx_quote_collateral.json", 1751624191, "UpToDate", []),
        (
            "sgx_quote",
            "sgx_quote_collateral.json",
            1751624924,
            "ConfigurationAndSWHardeningNeeded",
            ["INTEL-SA-00289", "INTEL-SA-00615"],
        ),
    ],
)
def test_dcap_qvl_accepts_our_json(
    vectors: Path,
    dcap_qvl: Any,
    quote_name: str,
    collateral_name: str,
    now: int,
    status: str,
    advisories: list[str],
) -> None:
    ours = Collateral.from_json((vectors / "dcap-qvl" / collateral_name).read_text()).to_json()
    theirs = dcap_qvl.QuoteCollateralV3.from_json(ours)
    assert theirs.to_json() == ours
    report = dcap_qvl.verify((vectors / "dcap-qvl" / quote_name).read_bytes(), theirs, now)
    assert report.status == status
    assert sorted(report.advisory_ids) == advisories


def test_we_accept_dcap_qvl_json(vectors: Path, dcap_qvl: Any) -> None:
    theirs = dcap_qvl.QuoteCollateralV3.from_json(dcap_qvl_text(vectors)).to_json()
    assert Collateral.from_json(theirs).to_json() == theirs


def test_dcap_qvl_accepts_pck_certificate_chain_key(vectors: Path, dcap_qvl: Any) -> None:
    quote_bytes = (vectors / "dcap-qvl/tdx_quote").read_bytes()
    data = json.loads(dcap_qvl_text(vectors))
    # dcap-qvl prefers this chain over the quote's own, so it must be the right one.
    data["pck_certificate_chain"] = (
        dcap_qvl.parse_quote(quote_bytes).cert_chain_pem_bytes().decode()
    )
    collateral = Collateral.from_json(json.dumps(data))
    assert collateral.pck_certificate_chain is not None
    assert len(collateral.pck_certificate_chain) == 3
    theirs = dcap_qvl.QuoteCollateralV3.from_json(collateral.to_json())
    assert dcap_qvl.verify(quote_bytes, theirs, 1751624191).status == "UpToDate"
    # ... and it is really used: another platform's chain breaks verification.
    data["pck_certificate_chain"] = (
        vectors / "go-tdx-guest/derived/cos-113-tdx-quote.pck_chain.pem"
    ).read_text()
    wrong = dcap_qvl.QuoteCollateralV3.from_json(Collateral.from_json(json.dumps(data)).to_json())
    with pytest.raises(ValueError, match="qe_report"):
        dcap_qvl.verify(quote_bytes, wrong, 1751624191)


# --------------------------------------------------------------------------- raw PCS responses


def _teepot_collateral(vectors: Path, *, encode_headers: bool) -> Collateral:
    tcb = teepot(vectors, "tdx_tcb_info.json")
    ident = teepot(vectors, "tdx_qe_identity.json")
    crl = teepot(vectors, "pck_crl_platform.json")

    def header(pem: str) -> str:
        return quote(pem, safe="") if encode_headers else pem

    root_crl = json.loads(dcap_qvl_text(vectors))["root_ca_crl"]  # hex, as PCCS serves it
    return Collateral.from_pcs_responses(
        tcb_info=(tcb["tcb_info_json"].encode(), header(tcb["issuer_chain"])),
        qe_identity=(ident["enclave_identity_json"], header(ident["issuer_chain"]).encode()),
        pck_crl=(crl["crl_data"], header(crl["issuer_chain"])),
        root_ca_crl=root_crl,
    )


@pytest.mark.parametrize("encode_headers", [True, False])
def test_from_pcs_responses_teepot(vectors: Path, encode_headers: bool) -> None:
    collateral = _teepot_collateral(vectors, encode_headers=encode_headers)
    tcb = teepot(vectors, "tdx_tcb_info.json")
    assert collateral.tcb_info == TcbInfo.from_response(tcb["tcb_info_json"])
    assert collateral.raw.tcb_info_issuer_chain == tcb["issuer_chain"]
    assert collateral.tcb_info_issuer_chain == load_chain(tcb["issuer_chain"])
    assert collateral.raw.pck_crl[:1] == b"\x30"  # PEM body kept as DER
    assert Collateral.from_json(collateral.to_json()) == collateral


def test_from_pcs_responses_verifies_with_dcap_qvl(vectors: Path, dcap_qvl: Any) -> None:
    collateral = _teepot_collateral(vectors, encode_headers=True)
    theirs = dcap_qvl.QuoteCollateralV3.from_json(collateral.to_json())
    quote_bytes = (vectors / "go-tdx-guest/quotes/cos-113-tdx-quote.dat").read_bytes()
    now = int(datetime(2025, 6, 1, tzinfo=timezone.utc).timestamp())
    assert dcap_qvl.verify(quote_bytes, theirs, now).status == "UpToDate"


def test_from_pcs_responses_go_tdx_guest_2023(vectors: Path) -> None:
    base = vectors / "go-tdx-guest" / "collateral"
    tcb_body = (base / "sample_tcbInfo_response").read_bytes()
    collateral = Collateral.from_pcs_responses(
        tcb_info=(tcb_body, (base / "TCB-Info-Issuer-Chain.header.txt").read_text()),
        qe_identity=(
            (base / "sample_qeIdentity_response").read_bytes(),
            (base / "SGX-Enclave-Identity-Issuer-Chain.header.txt").read_bytes(),
        ),
        pck_crl=(
            (base / "pckcrl").read_bytes(),
            (base / "SGX-PCK-CRL-Issuer-Chain.header.txt").read_text(),
        ),
        root_ca_crl=(base / "rootcrl.der").read_bytes(),
    )
    assert collateral.raw.tcb_info in tcb_body
    assert collateral.raw.pck_crl == (base / "pckcrl").read_bytes()
    assert (
        collateral.raw.qe_identity_issuer_chain
        == (base / "SGX-Enclave-Identity-Issuer-Chain.pem").read_text()
    )
    assert collateral.qe_identity == EnclaveIdentity.from_response(
        (base / "sample_qeIdentity_response").read_bytes()
    )
    assert Collateral.from_json(collateral.to_json()) == collateral


def test_from_pcs_responses_errors_name_the_artifact(vectors: Path) -> None:
    base = vectors / "go-tdx-guest" / "collateral"
    good: dict[str, Any] = {
        "tcb_info": (
            (base / "sample_tcbInfo_response").read_bytes(),
            (base / "TCB-Info-Issuer-Chain.pem").read_text(),
        ),
        "qe_identity": (
            (base / "sample_qeIdentity_response").read_bytes(),
            (base / "SGX-Enclave-Identity-Issuer-Chain.pem").read_text(),
        ),
        "pck_crl": (
            (base / "pckcrl").read_bytes(),
            (base / "SGX-PCK-CRL-Issuer-Chain.pem").read_text(),
        ),
        "root_ca_crl": (base / "rootcrl.der").read_bytes(),
    }
    Collateral.from_pcs_responses(**good)
    cases = [
        (
            "tcb_info",
            (b"{}", good["tcb_info"][1]),
            "tcb_info_format",
            "SGX_QL_TCBINFO_UNSUPPORTED_FORMAT",
        ),
        (
            "tcb_info",
            (good["tcb_info"][0], "x"),
            "issuer_chain_format",
            "SGX_QL_TCBINFO_CHAIN_ERROR",
        ),
        ("qe_identity", (good["tcb_info"][0], good["qe_identity"][1]), "qe_identity_format", None),
        (
            "qe_identity",
            (good["qe_identity"][0], ""),
            "issuer_chain_format",
            "SGX_QL_QEIDENTITY_CHAIN_ERROR",
        ),
        ("pck_crl", (b"crl", good["pck_crl"][1]), "crl_format", "SGX_QL_CRL_UNSUPPORTED_FORMAT"),
        (
            "pck_crl",
            (good["pck_crl"][0], "%"),
            "issuer_chain_format",
            "SGX_QL_PCK_CERT_CHAIN_ERROR",
        ),
        ("root_ca_crl", b"\x30\x00", "crl_format", None),
    ]
    for key, value, code, intel_error in cases:
        with pytest.raises(CollateralFormatError) as info:
            Collateral.from_pcs_responses(**{**good, key: value})
        assert info.value.code == code, key
        if intel_error is not None:
            assert info.value.intel_error == intel_error


# --------------------------------------------------------------------------- JSON strictness


@pytest.mark.parametrize("key", KEYS)
def test_missing_key_rejected(vectors: Path, key: str) -> None:
    data = json.loads(dcap_qvl_text(vectors))
    del data[key]
    with pytest.raises(CollateralFormatError, match=f"collateral.{key}: missing") as info:
        Collateral.from_json(json.dumps(data))
    assert info.value.code == "collateral_format"


@pytest.mark.parametrize(
    ("key", "value", "code"),
    [
        ("root_ca_crl", "30zz", "collateral_format"),
        ("root_ca_crl", "308", "collateral_format"),
        ("root_ca_crl", [48, 130], "collateral_format"),
        ("pck_crl", "", "crl_format"),
        ("pck_crl", "3000", "crl_format"),
        ("tcb_info_signature", "00" * 63, "tcb_info_format"),
        ("tcb_info_signature", "AAEC", "tcb_info_format"),
        ("qe_identity_signature", None, "collateral_format"),
        ("tcb_info", '{"id":"TDX"}', "tcb_info_format"),
        ("tcb_info", {"id": "TDX"}, "collateral_format"),
        ("qe_identity", "{}", "qe_identity_format"),
        ("qe_identity", "\ud800", "collateral_format"),
        ("tcb_info_issuer_chain", "nope", "issuer_chain_format"),
        ("pck_crl_issuer_chain", 7, "collateral_format"),
        ("pck_certificate_chain", "", "issuer_chain_format"),
        ("pck_certificate_chain", 3, "collateral_format"),
    ],
)
def test_bad_member_rejected(vectors: Path, key: str, value: object, code: str) -> None:
    # The bundle's shape fails from_json; a malformed part fails when it is decoded (on first
    # use, by verification, or all at once with decoded()).
    data = json.loads(dcap_qvl_text(vectors))
    data[key] = value
    with pytest.raises(CollateralFormatError) as info:
        Collateral.from_json(json.dumps(data)).decoded()
    assert info.value.code == code


@pytest.mark.parametrize(
    ("key", "value", "code"),
    [
        ("pck_crl", "3000", "crl_format"),
        ("root_ca_crl", "3000", "crl_format"),
        ("tcb_info", '{"id":"TDX"}', "tcb_info_format"),
        ("qe_identity", "{}", "qe_identity_format"),
        ("tcb_info_issuer_chain", "nope", "issuer_chain_format"),
        ("pck_crl_issuer_chain", "nope", "issuer_chain_format"),
    ],
)
def test_a_malformed_part_refuses_verification(
    vectors: Path, key: str, value: str, code: str
) -> None:
    from tdxquote import Verifier

    data = json.loads(dcap_qvl_text(vectors))
    data[key] = value
    collateral = Collateral.from_json(json.dumps(data))  # only the bundle's shape is read
    quote = (vectors / "dcap-qvl/tdx_quote").read_bytes()
    with pytest.raises(CollateralFormatError) as info:
        Verifier().verify(quote, collateral, now=1751624191)
    assert info.value.code == code


@pytest.mark.parametrize("text", ["", "[]", "null", "{", '{"a":1,"a":2}', b"\xff"])
def test_not_a_json_object_rejected(text: str | bytes) -> None:
    with pytest.raises(CollateralFormatError) as info:
        Collateral.from_json(text)
    assert info.value.code == "collateral_format"


def test_swapped_tcb_info_keeps_signature_pairing(vectors: Path) -> None:
    # Exchanging two collaterals' tcb_info parses (format is fine); the
    # signature no longer matches, which verification (not parsing) detects.
    tdx = json.loads(dcap_qvl_text(vectors))
    near = json.loads(dcap_qvl_text(vectors, "dcap-qvl/near/quote_collateral.json"))
    tdx["tcb_info"] = near["tcb_info"]
    collateral = Collateral.from_json(json.dumps(tdx))
    assert collateral.tcb_info.signed_body == near["tcb_info"].encode()
    assert collateral.tcb_info.signature.hex() == tdx["tcb_info_signature"]


def test_bundle_is_frozen(vectors: Path) -> None:
    collateral = Collateral.from_json(dcap_qvl_text(vectors))
    with pytest.raises(dataclasses.FrozenInstanceError):
        collateral.tcb_info = collateral.tcb_info  # type: ignore[misc]
    assert "raw" not in repr(collateral)


def test_raw_collateral_direct(vectors: Path) -> None:
    raw = RawCollateral.from_json(dcap_qvl_text(vectors))
    assert isinstance(raw.tcb_info, bytes)
    assert len(raw.tcb_info_signature) == 64
    assert raw.to_json() == dcap_qvl_text(vectors)
    assert Collateral.from_raw(raw).raw is raw
