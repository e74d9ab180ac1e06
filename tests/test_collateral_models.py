"""TCB Info and Enclave Identity models: real vectors, exact signed bytes, strictness."""

from __future__ import annotations

import copy
import json
import pickle
import random
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from tdxquote.collateral import (
    CollateralFormatError,
    EnclaveIdentity,
    TcbInfo,
    TcbStatus,
    load_chain,
)
from tdxquote.collateral._json_slice import value_span
from tdxquote.errors import VerificationError

# --------------------------------------------------------------------------- helpers

DELETE = object()


def signing_cert(chain: tuple[x509.Certificate, ...]) -> x509.Certificate:
    """The TCB Signing certificate of an issuer chain, whatever the order."""
    for cert in chain:
        if "TCB Signing" in cert.subject.rfc4514_string():
            return cert
    raise AssertionError("no TCB Signing certificate in chain")


def signature_valid(cert: x509.Certificate, body: bytes, signature: bytes) -> bool:
    der = encode_dss_signature(
        int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    )
    key = cert.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    try:
        key.verify(der, body, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def teepot(vectors: Path, name: str) -> dict[str, str]:
    data = json.loads((vectors / "teepot-intel-pcs" / name).read_text())
    assert isinstance(data, dict)
    return data


def compact(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


def level(
    sgx: list[int], pce: int, tdx: list[int] | None, status: str, date: str = "2024-03-13"
) -> dict[str, Any]:
    tcb: dict[str, Any] = {"sgxtcbcomponents": [{"svn": s} for s in sgx], "pcesvn": pce}
    if tdx is not None:
        tcb["tdxtcbcomponents"] = [{"svn": s} for s in tdx]
    return {"tcb": tcb, "tcbDate": f"{date}T00:00:00Z", "tcbStatus": status}


def comps(*head: int) -> list[int]:
    return list(head) + [0] * (16 - len(head))


def tdx_info() -> dict[str, Any]:
    """A small synthetic TDX TCB Info v3 value that parses."""
    return {
        "id": "TDX",
        "version": 3,
        "issueDate": "2025-05-27T19:31:43Z",
        "nextUpdate": "2025-06-26T19:31:43Z",
        "fmspc": "00806F050000",
        "pceId": "0000",
        "tcbType": 0,
        "tcbEvaluationDataNumber": 17,
        "tdxModule": {"mrsigner": "00" * 48, "attributes": "00" * 8, "attributesMask": "FF" * 8},
        "tdxModuleIdentities": [
            {
                "id": "TDX_01",
                "mrsigner": "00" * 48,
                "attributes": "00" * 8,
                "attributesMask": "FF" * 8,
                "tcbLevels": [
                    {
                        "tcb": {"isvsvn": 2},
                        "tcbDate": "2023-08-09T00:00:00Z",
                        "tcbStatus": "OutOfDate",
                    },
                    {
                        "tcb": {"isvsvn": 4},
                        "tcbDate": "2024-03-13T00:00:00Z",
                        "tcbStatus": "UpToDate",
                    },
                ],
            }
        ],
        "tcbLevels": [
            level(comps(7, 7, 2, 2, 3, 1, 0, 3), 11, comps(4, 1, 3), "UpToDate"),
            level(comps(7, 7, 2, 2, 3, 1, 0, 3), 11, comps(2, 1, 3), "OutOfDate", "2023-08-09"),
            level(comps(7, 7, 2, 2, 3, 1, 0, 3), 5, comps(4, 1, 3), "OutOfDate", "2018-01-04"),
            level(comps(6, 6, 2, 2, 3, 1, 0, 3), 11, comps(4, 1, 3), "Revoked", "2018-01-04"),
        ],
    }


def sgx_info() -> dict[str, Any]:
    info = tdx_info()
    info["id"] = "SGX"
    del info["tdxModule"], info["tdxModuleIdentities"]
    for lvl in info["tcbLevels"]:
        del lvl["tcb"]["tdxtcbcomponents"]
    info["tcbLevels"] = info["tcbLevels"][1:]
    return info


def identity() -> dict[str, Any]:
    return {
        "id": "TD_QE",
        "version": 2,
        "issueDate": "2025-05-27T19:05:27Z",
        "nextUpdate": "2025-06-26T19:05:27Z",
        "tcbEvaluationDataNumber": 17,
        "miscselect": "01000000",
        "miscselectMask": "FFFFFFFF",
        "attributes": "11000000000000000000000000000000",
        "attributesMask": "FBFFFFFFFFFFFFFF0000000000000000",
        "mrsigner": "DC9E2A7C6F948F17474E34A7FC43ED030F7C1563F1BABDDF6340C82E0E54A8C5",
        "isvprodid": 2,
        "tcbLevels": [
            {"tcb": {"isvsvn": 4}, "tcbDate": "2024-03-13T00:00:00Z", "tcbStatus": "UpToDate"},
            {
                "tcb": {"isvsvn": 6},
                "tcbDate": "2021-11-10T00:00:00Z",
                "tcbStatus": "OutOfDate",
                "advisoryIDs": ["INTEL-SA-00615"],
            },
        ],
    }


def mutated(doc: dict[str, Any], path: tuple[str | int, ...], value: object) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    parent: Any = doc
    for step in path[:-1]:
        parent = parent[step]
    if value is DELETE:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return doc


def parse_info(value: object) -> TcbInfo:
    return TcbInfo.from_signed_body(compact(value), bytes(64))


def parse_identity(value: object) -> EnclaveIdentity:
    return EnclaveIdentity.from_signed_body(compact(value), bytes(64))


# --------------------------------------------------------------------------- real vectors

TEEPOT_TCB = [
    "tdx_tcb_info.json",
    "tdx_tcb_info_00806F050000.json",
    "tdx_tcb_info_eval17.json",
    "sgx_tcb_info_00906ED50000.json",
    "sgx_tcb_info_alt.json",
    "sgx_tcb_info_early.json",
    "sgx_tcb_info_v3.json",
]
TEEPOT_IDENTITY = [
    "tdx_qe_identity.json",
    "sgx_qe_identity.json",
    "sgx_qe_identity_v3.json",
    "sgx_qve_identity.json",
]


@pytest.mark.parametrize("name", TEEPOT_TCB)
def test_teepot_tcb_info_parses_and_signature_covers_signed_body(vectors: Path, name: str) -> None:
    data = teepot(vectors, name)
    info = TcbInfo.from_response(data["tcb_info_json"])
    cert = signing_cert(load_chain(data["issuer_chain"]))
    assert signature_valid(cert, info.signed_body, info.signature)
    assert info.issue_date.tzinfo is not None
    assert info.tcb_levels
    if name.startswith("tdx"):
        assert (info.id, info.version, info.fmspc.hex()) == ("TDX", 3, "00806f050000")
        assert info.tdx_module is not None
        assert [m.id for m in info.tdx_module_identities] == ["TDX_03", "TDX_01"]
        assert all(lvl.tdx_components is not None for lvl in info.tcb_levels)
    else:
        assert (info.id, info.fmspc.hex()) == ("SGX", "00906ed50000")
        assert info.tdx_module is None
        assert info.tdx_module_identities == ()
        assert all(lvl.tdx_components is None for lvl in info.tcb_levels)


def test_teepot_tdx_tcb_info_values(vectors: Path) -> None:
    info = TcbInfo.from_response(teepot(vectors, "tdx_tcb_info.json")["tcb_info_json"])
    assert info.issue_date == datetime(2025, 5, 27, 19, 31, 43, tzinfo=timezone.utc)
    assert info.next_update == datetime(2025, 6, 26, 19, 31, 43, tzinfo=timezone.utc)
    assert info.pce_id == b"\x00\x00"
    assert (info.tcb_type, info.tcb_evaluation_data_number) == (0, 17)
    assert info.tdx_module is not None
    assert info.tdx_module.mrsigner == bytes(48)
    assert info.tdx_module.attributes_mask == b"\xff" * 8
    module = info.module_identity("tdx_01")
    assert module is not None
    assert [(lvl.isvsvn, lvl.tcb_status) for lvl in module.tcb_levels] == [
        (4, TcbStatus.UP_TO_DATE),
        (2, TcbStatus.OUT_OF_DATE),
    ]
    assert info.module_identity("TDX_02") is None
    top = info.tcb_levels[0]
    assert top.sgx_components[:8] == (7, 7, 2, 2, 3, 1, 0, 3)
    assert top.tcb_status is TcbStatus.UP_TO_DATE
    assert top.tcb_date == datetime(2024, 3, 13, tzinfo=timezone.utc)


def test_teepot_sgx_v2_tcb_info(vectors: Path) -> None:
    info = TcbInfo.from_response(teepot(vectors, "sgx_tcb_info_v3.json")["tcb_info_json"])
    assert (info.id, info.version) == ("SGX", 2)
    assert info.tcb_levels[0].sgx_components[:7] == (21, 21, 2, 4, 1, 128, 14)
    assert info.tcb_levels[0].pce_svn == 13


@pytest.mark.parametrize("name", TEEPOT_IDENTITY)
def test_teepot_identity_parses_and_signature_covers_signed_body(vectors: Path, name: str) -> None:
    data = teepot(vectors, name)
    ident = EnclaveIdentity.from_response(data["enclave_identity_json"])
    assert signature_valid(
        signing_cert(load_chain(data["issuer_chain"])), ident.signed_body, ident.signature
    )
    assert ident.version == 2
    assert ident.miscselect == 0
    assert ident.miscselect_mask == 0xFFFFFFFF
    assert ident.attributes_mask == bytes.fromhex("FBFFFFFFFFFFFFFF0000000000000000")


def test_teepot_td_qe_identity_values(vectors: Path) -> None:
    ident = EnclaveIdentity.from_response(
        teepot(vectors, "tdx_qe_identity.json")["enclave_identity_json"]
    )
    assert ident.id == "TD_QE"
    assert ident.isvprodid == 2
    assert ident.mrsigner.hex().upper() == (
        "DC9E2A7C6F948F17474E34A7FC43ED030F7C1563F1BABDDF6340C82E0E54A8C5"
    )
    assert ident.attributes == bytes.fromhex("11000000000000000000000000000000")
    assert [(lvl.isvsvn, lvl.tcb_status) for lvl in ident.tcb_levels] == [(4, TcbStatus.UP_TO_DATE)]


def test_sgx_qe_identity_levels_keep_json_order_and_advisories(vectors: Path) -> None:
    ident = EnclaveIdentity.from_response(
        teepot(vectors, "sgx_qe_identity.json")["enclave_identity_json"]
    )
    assert [lvl.isvsvn for lvl in ident.tcb_levels] == [8, 6, 5, 4, 2, 1]
    assert ident.tcb_levels[1].advisory_ids == ("INTEL-SA-00615",)
    assert ident.tcb_levels[0].advisory_ids == ()


def test_qae_identity_is_rejected_but_its_body_slice_is_exact(vectors: Path) -> None:
    # PCS serves QAE, Intel's QVL accepts only QE / QVE / TD_QE.
    data = teepot(vectors, "sgx_qae_identity.json")
    with pytest.raises(CollateralFormatError, match="QAE") as info:
        EnclaveIdentity.from_response(data["enclave_identity_json"])
    assert info.value.code == "qe_identity_format"
    raw = data["enclave_identity_json"].encode()
    start, end = value_span(raw, "enclaveIdentity")
    signature = bytes.fromhex(json.loads(raw)["signature"])
    assert signature_valid(
        signing_cert(load_chain(data["issuer_chain"])), raw[start:end], signature
    )


def test_go_tdx_guest_collateral(vectors: Path) -> None:
    base = vectors / "go-tdx-guest" / "collateral"
    chain_2023 = load_chain((base / "TCB-Info-Issuer-Chain.header.txt").read_text())
    info = TcbInfo.from_response((base / "sample_tcbInfo_response").read_bytes())
    assert (info.id, info.tcb_evaluation_data_number, len(info.tcb_levels)) == ("TDX", 15, 2)
    assert info.tdx_module_identities == ()
    assert signature_valid(signing_cert(chain_2023), info.signed_body, info.signature)

    ident = EnclaveIdentity.from_response((base / "sample_qeIdentity_response").read_bytes())
    assert ident.id == "TD_QE"
    chain = load_chain((base / "SGX-Enclave-Identity-Issuer-Chain.header.txt").read_text())
    assert signature_valid(signing_cert(chain), ident.signed_body, ident.signature)

    v5 = TcbInfo.from_response((base / "sample_tcbinfo_response_v5").read_bytes())
    assert v5.fmspc == bytes.fromhex("90c06f000000")
    assert [m.id for m in v5.tdx_module_identities] == ["TDX_03", "TDX_01"]
    # Same key, re-issued certificate (teepot carries the new instance).
    reissued = load_chain(teepot(vectors, "tdx_tcb_info.json")["issuer_chain"])
    assert signature_valid(signing_cert(reissued), v5.signed_body, v5.signature)


@pytest.mark.parametrize("tee", ["sgx", "tdx"])
def test_intel_qvl_sample_identities(vectors: Path, tee: str) -> None:
    base = vectors / "intel-dcap" / "qvl-sampleData" / tee
    chain = load_chain((base / "tcbSignChain.pem").read_text())
    names = ["qeIdentity.json", "qveIdentity.json"] if tee == "sgx" else ["qeIdentity.json"]
    for name in names:
        ident = EnclaveIdentity.from_response((base / name).read_bytes())
        assert signature_valid(signing_cert(chain), ident.signed_body, ident.signature)


def test_intel_qvl_sample_sgx_tcb_info_v2(vectors: Path) -> None:
    base = vectors / "intel-dcap" / "qvl-sampleData" / "sgx"
    info = TcbInfo.from_response((base / "tcbInfo.json").read_bytes())
    assert (info.id, info.version, len(info.tcb_levels)) == ("SGX", 2, 6)
    chain = load_chain((base / "tcbSignChain.pem").read_text())
    assert signature_valid(signing_cert(chain), info.signed_body, info.signature)


def test_intel_qvl_sample_miscselect_is_little_endian(vectors: Path) -> None:
    path = vectors / "intel-dcap" / "qvl-sampleData" / "sgx" / "qeIdentity.json"
    ident = EnclaveIdentity.from_response(path.read_bytes())
    # "miscselect": "D182B18C" are the report bytes d1 82 b1 8c, read as LE u32.
    assert ident.miscselect == 0x8CB182D1


def test_intel_qvl_sample_tdx_tcb_info_svn_over_255_rejected(vectors: Path) -> None:
    base = vectors / "intel-dcap" / "qvl-sampleData" / "tdx"
    raw = (base / "tcbInfo.json").read_bytes()
    with pytest.raises(CollateralFormatError, match=r"65473 is outside 0\.\.255"):
        TcbInfo.from_response(raw)
    # The slice is still exact: its signature verifies.
    start, end = value_span(raw, "tcbInfo")
    signature = bytes.fromhex(json.loads(raw)["signature"])
    chain = load_chain((base / "tcbSignChain.pem").read_text())
    assert signature_valid(signing_cert(chain), raw[start:end], signature)


def test_pck_cert_selection_tcb_infos(vectors: Path) -> None:
    base = vectors / "intel-dcap" / "pck-cert-selection"
    with pytest.raises(CollateralFormatError, match="unsupported version 1"):
        TcbInfo.from_response((base / "tcb_info.json").read_bytes())
    # Pretty-printed, SGX v3 carrying tdxtcbcomponents (ignored, as QVL does).
    info = TcbInfo.from_response((base / "tcb_info_4.json").read_bytes())
    assert (info.id, info.version) == ("SGX", 3)
    assert info.signed_body.startswith(b'{\n\t\t"id":"SGX"')
    assert all(lvl.tdx_components is None for lvl in info.tcb_levels)


@pytest.mark.parametrize(
    "name", ["tdx_quote_collateral.json", "sgx_quote_collateral.json", "near/quote_collateral.json"]
)
def test_dcap_qvl_collateral_bodies(vectors: Path, name: str) -> None:
    data = json.loads((vectors / "dcap-qvl" / name).read_text())
    info = TcbInfo.from_signed_body(data["tcb_info"], bytes.fromhex(data["tcb_info_signature"]))
    ident = EnclaveIdentity.from_signed_body(
        data["qe_identity"], bytes.fromhex(data["qe_identity_signature"])
    )
    assert info.signed_body == data["tcb_info"].encode()
    assert signature_valid(
        signing_cert(load_chain(data["tcb_info_issuer_chain"])), info.signed_body, info.signature
    )
    assert signature_valid(
        signing_cert(load_chain(data["qe_identity_issuer_chain"])),
        ident.signed_body,
        ident.signature,
    )


# --------------------------------------------------------------------------- exact signed bytes


def test_whitespace_outside_the_value_keeps_the_signed_bytes(vectors: Path) -> None:
    data = teepot(vectors, "tdx_tcb_info.json")
    original = TcbInfo.from_response(data["tcb_info_json"])
    body = original.signed_body.decode()
    signature = json.loads(data["tcb_info_json"])["signature"]
    mutated_text = f' \r\n{{ "signature" :\t"{signature}" ,\n  "tcbInfo"  :\n {body}\n\n}}\t '
    reparsed = TcbInfo.from_response(mutated_text.encode())
    assert reparsed.signed_body == original.signed_body
    assert reparsed == original
    cert = signing_cert(load_chain(data["issuer_chain"]))
    assert signature_valid(cert, reparsed.signed_body, reparsed.signature)


def test_whitespace_inside_the_value_is_sliced_exactly_and_breaks_the_signature(
    vectors: Path,
) -> None:
    data = teepot(vectors, "tdx_tcb_info.json")
    original = TcbInfo.from_response(data["tcb_info_json"])
    pretty = json.dumps(json.loads(original.signed_body), indent=1)
    signature = json.loads(data["tcb_info_json"])["signature"]
    mutated_text = '{"tcbInfo": ' + pretty + ', "signature": "' + signature + '"}'
    reparsed = TcbInfo.from_response(mutated_text)
    assert reparsed.signed_body == pretty.encode()
    assert reparsed.signed_body != original.signed_body
    assert reparsed.tcb_levels == original.tcb_levels
    cert = signing_cert(load_chain(data["issuer_chain"]))
    assert not signature_valid(cert, reparsed.signed_body, reparsed.signature)


def test_identity_whitespace_outside_value(vectors: Path) -> None:
    data = teepot(vectors, "tdx_qe_identity.json")
    original = EnclaveIdentity.from_response(data["enclave_identity_json"])
    parsed = json.loads(data["enclave_identity_json"])
    text = (
        '{\n  "signature": "'
        + parsed["signature"]
        + '",\n  "enclaveIdentity":  '
        + original.signed_body.decode()
        + "\n}\n"
    )
    assert EnclaveIdentity.from_response(text).signed_body == original.signed_body


# --------------------------------------------------------------------------- ordering


def test_synthetic_tcb_info_parses_sorted() -> None:
    info = parse_info(tdx_info())
    keys = [lvl.sort_key() for lvl in info.tcb_levels]
    assert keys == sorted(keys, reverse=True)
    assert [(lvl.pce_svn, lvl.tcb_status) for lvl in info.tcb_levels] == [
        (11, TcbStatus.UP_TO_DATE),
        (11, TcbStatus.OUT_OF_DATE),
        (5, TcbStatus.OUT_OF_DATE),
        (11, TcbStatus.REVOKED),
    ]
    # Module identity levels: JSON has 2 before 4, exposed descending.
    assert [lvl.isvsvn for lvl in info.tdx_module_identities[0].tcb_levels] == [4, 2]


@pytest.mark.parametrize("seed", range(8))
def test_shuffled_levels_give_the_same_order(seed: int) -> None:
    reference = parse_info(tdx_info()).tcb_levels
    doc = tdx_info()
    random.Random(seed).shuffle(doc["tcbLevels"])
    assert parse_info(doc).tcb_levels == reference


def test_shuffled_real_sgx_levels_give_the_same_order(vectors: Path) -> None:
    body = json.loads(teepot(vectors, "sgx_tcb_info_early.json")["tcb_info_json"])["tcbInfo"]
    reference = parse_info(body).tcb_levels
    assert len(reference) == 21
    for seed in range(3):
        random.Random(seed).shuffle(body["tcbLevels"])
        assert parse_info(body).tcb_levels == reference


def test_tdx_components_break_ties_after_pcesvn() -> None:
    doc = tdx_info()
    doc["tcbLevels"] = [
        level(comps(1), 1, comps(1), "OutOfDate"),
        level(comps(1), 1, comps(1, 0, 5), "UpToDate"),
        level(comps(1), 2, comps(0), "UpToDate"),
        level(comps(2), 0, comps(0), "UpToDate"),
    ]
    levels = parse_info(doc).tcb_levels
    assert [(lvl.sgx_components[0], lvl.pce_svn, lvl.tdx_components) for lvl in levels] == [
        (2, 0, tuple(comps(0))),
        (1, 2, tuple(comps(0))),
        (1, 1, tuple(comps(1, 0, 5))),
        (1, 1, tuple(comps(1))),
    ]


def test_duplicate_level_rejected_even_with_different_status() -> None:
    doc = tdx_info()
    doc["tcbLevels"].append(level(comps(7, 7, 2, 2, 3, 1, 0, 3), 11, comps(4, 1, 3), "Revoked"))
    with pytest.raises(CollateralFormatError, match="duplicate TCB level"):
        parse_info(doc)


def test_same_sgx_level_with_different_tdx_components_is_not_a_duplicate_in_tdx() -> None:
    doc = tdx_info()
    doc["tcbLevels"].append(level(comps(7, 7, 2, 2, 3, 1, 0, 3), 11, comps(5, 1, 3), "UpToDate"))
    assert len(parse_info(doc).tcb_levels) == 5


def test_duplicate_sgx_level_rejected() -> None:
    doc = sgx_info()
    doc["tcbLevels"].append(copy.deepcopy(doc["tcbLevels"][0]))
    with pytest.raises(CollateralFormatError, match="duplicate TCB level"):
        parse_info(doc)


def test_duplicate_module_level_rejected() -> None:
    doc = tdx_info()
    levels = doc["tdxModuleIdentities"][0]["tcbLevels"]
    levels.append(dict(levels[0], tcbStatus="Revoked"))
    with pytest.raises(CollateralFormatError, match="duplicate TCB level for isvsvn 2"):
        parse_info(doc)


# --------------------------------------------------------------------------- TcbInfo strictness


def test_synthetic_sgx_info_parses() -> None:
    info = parse_info(sgx_info())
    assert info.id == "SGX"
    assert info.tdx_module is None


def _v2_info() -> dict[str, Any]:
    info = sgx_info()
    del info["id"]
    info["version"] = 2
    for lvl in info["tcbLevels"]:
        svns = [c["svn"] for c in lvl["tcb"].pop("sgxtcbcomponents")]
        lvl["tcb"].update({f"sgxtcbcomp{i + 1:02d}svn": s for i, s in enumerate(svns)})
    return info


def test_synthetic_v2_info_parses() -> None:
    info = parse_info(_v2_info())
    assert (info.id, info.version) == ("SGX", 2)
    assert info.tcb_levels == parse_info(sgx_info()).tcb_levels


LEVEL0 = ("tcbLevels", 0)
TCB0 = (*LEVEL0, "tcb")
MODULE0 = ("tdxModuleIdentities", 0)

TCB_INFO_BAD: list[tuple[tuple[str | int, ...], object, str]] = [
    # missing required fields
    *[
        ((key,), DELETE, "missing required field")
        for key in (
            "id",
            "version",
            "issueDate",
            "nextUpdate",
            "fmspc",
            "pceId",
            "tcbType",
            "tcbEvaluationDataNumber",
            "tdxModule",
            "tcbLevels",
        )
    ],
    ((*LEVEL0, "tcb"), DELETE, "missing"),
    ((*LEVEL0, "tcbDate"), DELETE, "missing"),
    ((*LEVEL0, "tcbStatus"), DELETE, "missing"),
    ((*TCB0, "pcesvn"), DELETE, "missing"),
    ((*TCB0, "sgxtcbcomponents"), DELETE, "missing"),
    ((*TCB0, "tdxtcbcomponents"), DELETE, "missing"),
    ((*TCB0, "sgxtcbcomponents", 3, "svn"), DELETE, "missing"),
    (("tdxModule", "mrsigner"), DELETE, "missing"),
    ((*MODULE0, "id"), DELETE, "missing"),
    ((*MODULE0, "tcbLevels"), DELETE, "missing"),
    ((*MODULE0, "tcbLevels", 0, "tcb", "isvsvn"), DELETE, "missing"),
    # status strings per context
    ((*LEVEL0, "tcbStatus"), "Unknown", "unknown status"),
    ((*LEVEL0, "tcbStatus"), "uptodate", "unknown status"),
    ((*LEVEL0, "tcbStatus"), "TDRelaunchAdvised", "unknown status"),
    ((*MODULE0, "tcbLevels", 0, "tcbStatus"), "SWHardeningNeeded", "unknown status"),
    ((*MODULE0, "tcbLevels", 0, "tcbStatus"), "ConfigurationNeeded", "unknown status"),
    # ranges
    ((*TCB0, "sgxtcbcomponents", 0, "svn"), 256, "outside 0..255"),
    ((*TCB0, "tdxtcbcomponents", 15, "svn"), 256, "outside 0..255"),
    ((*TCB0, "sgxtcbcomponents", 0, "svn"), -1, "outside 0..255"),
    ((*TCB0, "pcesvn"), 65536, "outside 0..65535"),
    ((*MODULE0, "tcbLevels", 0, "tcb", "isvsvn"), 65536, "outside 0..65535"),
    (("tcbEvaluationDataNumber",), 2**32, "outside"),
    # types (bool is not int, float is not int)
    (("version",), True, "expected an integer"),
    (("version",), "3", "expected an integer"),
    (("version",), 3.0, "expected an integer"),
    ((*TCB0, "sgxtcbcomponents", 0, "svn"), True, "expected an integer"),
    ((*TCB0, "pcesvn"), None, "expected an integer"),
    (("tcbType",), False, "expected an integer"),
    (("fmspc",), 806, "expected a string"),
    (("tcbLevels",), {}, "expected an array"),
    (("tcbLevels",), [], "non-empty"),
    (("tcbLevels", 0), [], "expected an object"),
    ((*TCB0, "sgxtcbcomponents", 0), 7, "expected an object"),
    ((*TCB0, "sgxtcbcomponents", 0, "category"), 1, "expected a string"),
    ((*LEVEL0, "advisoryIDs"), "INTEL-SA-00615", "array of strings"),
    ((*LEVEL0, "advisoryIDs"), [615], "array of strings"),
    (("tdxModule",), [], "expected an object"),
    (("tdxModuleIdentities",), [], "non-empty"),
    (("tdxModuleIdentities",), None, "expected an array"),
    # component counts
    ((*TCB0, "sgxtcbcomponents"), [{"svn": 0}] * 15, "expected 16 entries"),
    ((*TCB0, "tdxtcbcomponents"), [{"svn": 0}] * 17, "expected 16 entries"),
    # hex fields
    (("fmspc",), "00806F0500", "expected 12 hex digits"),
    (("fmspc",), "00806F05000G", "expected 12 hex digits"),
    (("fmspc",), "00806F05 000", "expected 12 hex digits"),
    (("pceId",), "000", "expected 4 hex digits"),
    (("tdxModule", "mrsigner"), "00" * 47, "expected 96 hex digits"),
    (("tdxModule", "attributesMask"), "FF" * 9, "expected 16 hex digits"),
    ((*MODULE0, "attributes"), "0" * 15, "expected 16 hex digits"),
    # ids and versions
    (("id",), "SEV", "unknown id"),
    (("id",), "tdx", "unknown id"),
    (("version",), 1, "unsupported version"),
    (("version",), 4, "unsupported version"),
    (("tcbType",), 1, "unsupported tcbType"),
    ((*MODULE0, "id"), "", "empty identity id"),
    # dates
    (("issueDate",), "2025-05-27 19:31:43Z", "expected a date"),
    (("issueDate",), "2025-05-27T19:31:43", "expected a date"),
    (("issueDate",), "2025-05-27T19:31:43+00:00", "expected a date"),
    (("issueDate",), "2025-02-30T00:00:00Z", "expected a date"),
    (("issueDate",), "2025-05-27T24:00:00Z", "expected a date"),
    (("issueDate",), "2025-05-27T19:31:60Z", "expected a date"),
    (("issueDate",), "2025-05-27T19:31:43.Z", "expected a date"),
    (("issueDate",), "2025-05-27T19:31:43.1234567890Z", "expected a date"),
    (("nextUpdate",), "\uff12025-05-27T19:31:43Z", "expected a date"),
    (("nextUpdate",), "2025-5-27T19:31:43Z", "expected a date"),
    ((*LEVEL0, "tcbDate"), 20240313, "expected a string"),
    ((*MODULE0, "tcbLevels", 1, "tcbDate"), "yesterday", "expected a date"),
]


@pytest.mark.parametrize(("path", "value", "message"), TCB_INFO_BAD)
def test_tcb_info_strictness(path: tuple[str | int, ...], value: object, message: str) -> None:
    with pytest.raises(CollateralFormatError, match=message) as info:
        parse_info(mutated(tdx_info(), path, value))
    assert info.value.code == "tcb_info_format"
    assert info.value.intel_error == "SGX_QL_TCBINFO_UNSUPPORTED_FORMAT"
    assert isinstance(info.value, VerificationError)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("tdxModule", {"mrsigner": "00" * 48, "attributes": "00" * 8, "attributesMask": "FF" * 8}),
        ("tdxModuleIdentities", []),
    ],
)
def test_sgx_info_rejects_tdx_members(key: str, value: object) -> None:
    doc = sgx_info()
    doc[key] = value
    with pytest.raises(CollateralFormatError, match="not allowed in SGX TCB Info"):
        parse_info(doc)


def test_v2_svn_over_255_rejected() -> None:
    doc = _v2_info()
    doc["tcbLevels"][0]["tcb"]["sgxtcbcomp16svn"] = 65473
    with pytest.raises(CollateralFormatError, match="sgxtcbcomp16svn: 65473 is outside"):
        parse_info(doc)


def test_v2_missing_component_rejected() -> None:
    doc = _v2_info()
    del doc["tcbLevels"][0]["tcb"]["sgxtcbcomp07svn"]
    with pytest.raises(CollateralFormatError, match="sgxtcbcomp07svn: missing"):
        parse_info(doc)


def test_duplicate_module_identity_rejected() -> None:
    doc = tdx_info()
    doc["tdxModuleIdentities"].append(dict(doc["tdxModuleIdentities"][0], id="tdx_01"))
    with pytest.raises(CollateralFormatError, match="duplicate module identity"):
        parse_info(doc)


def test_unknown_members_are_ignored() -> None:
    doc = tdx_info()
    doc["futureField"] = {"x": [1, 2]}
    doc["tcbLevels"][0]["tcb"]["sgxtcbcomponents"][0]["extra"] = None
    assert parse_info(doc).tcb_levels == parse_info(tdx_info()).tcb_levels


def test_fractional_seconds_accepted() -> None:
    doc = mutated(tdx_info(), ("issueDate",), "2025-05-27T19:31:43.123Z")
    assert parse_info(doc).issue_date == datetime(
        2025, 5, 27, 19, 31, 43, 123000, tzinfo=timezone.utc
    )
    doc = mutated(tdx_info(), ("nextUpdate",), "2025-05-27T19:31:43.123456789Z")
    assert parse_info(doc).next_update.microsecond == 123456


def test_lowercase_hex_accepted() -> None:
    info = parse_info(mutated(tdx_info(), ("fmspc",), "00806f050000"))
    assert info.fmspc == bytes.fromhex("00806F050000")


@pytest.mark.parametrize(
    "text",
    [
        '{"id":"TDX","id":"SGX"}',
        '{"version":NaN}',
        '{"version":Infinity}',
        "[]",
        '"tcbInfo"',
        "",
        "{",
        b"\xff\xfe{}",
        "\ufeff{}",
    ],
)
def test_tcb_info_body_not_strict_json(text: str | bytes) -> None:
    with pytest.raises(CollateralFormatError) as info:
        TcbInfo.from_signed_body(text, bytes(64))
    assert info.value.code == "tcb_info_format"


def test_duplicate_member_inside_levels_rejected() -> None:
    text = compact(tdx_info()).replace('"pcesvn":11', '"pcesvn":11,"pcesvn":12', 1)
    with pytest.raises(CollateralFormatError, match="duplicate member 'pcesvn'"):
        TcbInfo.from_signed_body(text, bytes(64))


@pytest.mark.parametrize("signature", [bytes(63), bytes(65), b"", "00" * 64, None])
def test_from_signed_body_signature_must_be_64_bytes(signature: object) -> None:
    with pytest.raises(CollateralFormatError, match="64 bytes"):
        TcbInfo.from_signed_body(compact(tdx_info()), signature)  # type: ignore[arg-type]
    with pytest.raises(CollateralFormatError, match="64 bytes"):
        EnclaveIdentity.from_signed_body(compact(identity()), signature)  # type: ignore[arg-type]


def _response(body: object, signature: object = "ab" * 64, key: str = "tcbInfo") -> str:
    return compact({key: body, "signature": signature})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (_response(tdx_info(), "ab" * 63), "expected 128 hex digits"),
        (_response(tdx_info(), "xy" * 64), "expected 128 hex digits"),
        (_response(tdx_info(), "ab " * 42 + "ab"), "expected 128 hex digits"),
        (_response(tdx_info(), 12), "expected a string"),
        (compact({"tcbInfo": tdx_info()}), "signature: missing"),
        (compact({"signature": "ab" * 64}), "tcbInfo: missing"),
        (_response(tdx_info(), key="enclaveIdentity"), "tcbInfo: missing"),
        (_response("text"), "expected an object"),
        ('{"tcbInfo":{},"tcbInfo":{},"signature":""}', "duplicate member"),
        ("[1]", "expected an object"),
        (_response(tdx_info()) + "x", "not valid JSON"),
    ],
)
def test_tcb_info_response_strictness(text: str, message: str) -> None:
    with pytest.raises(CollateralFormatError, match=message) as info:
        TcbInfo.from_response(text)
    assert info.value.code == "tcb_info_format"


def test_response_accepts_bytes_and_str() -> None:
    text = _response(tdx_info())
    assert TcbInfo.from_response(text) == TcbInfo.from_response(text.encode())
    assert TcbInfo.from_response(text).signature == bytes.fromhex("ab" * 64)


def test_wrong_input_type_rejected() -> None:
    with pytest.raises(CollateralFormatError, match="expected bytes or str"):
        TcbInfo.from_response(42)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- identity strictness


def test_synthetic_identity() -> None:
    ident = parse_identity(identity())
    assert ident.miscselect == 1
    assert ident.miscselect_mask == 0xFFFFFFFF
    # JSON order, not sorted.
    assert [lvl.isvsvn for lvl in ident.tcb_levels] == [4, 6]
    assert ident.tcb_levels[1].advisory_ids == ("INTEL-SA-00615",)


@pytest.mark.parametrize("identity_id", ["QE", "QVE", "TD_QE"])
def test_identity_ids_accepted(identity_id: str) -> None:
    assert parse_identity(mutated(identity(), ("id",), identity_id)).id == identity_id


ID_LEVEL0 = ("tcbLevels", 0)

IDENTITY_BAD: list[tuple[tuple[str | int, ...], object, str]] = [
    *[
        ((key,), DELETE, "missing required field")
        for key in (
            "id",
            "version",
            "issueDate",
            "nextUpdate",
            "tcbEvaluationDataNumber",
            "miscselect",
            "miscselectMask",
            "attributes",
            "attributesMask",
            "mrsigner",
            "isvprodid",
            "tcbLevels",
        )
    ],
    ((*ID_LEVEL0, "tcb"), DELETE, "missing"),
    ((*ID_LEVEL0, "tcb", "isvsvn"), DELETE, "missing"),
    ((*ID_LEVEL0, "tcbDate"), DELETE, "missing"),
    ((*ID_LEVEL0, "tcbStatus"), DELETE, "missing"),
    (("id",), "QAE", "unknown id"),
    (("id",), "td_qe", "unknown id"),
    (("version",), 3, "unsupported version"),
    (("version",), 1, "unsupported version"),
    (("version",), True, "expected an integer"),
    ((*ID_LEVEL0, "tcbStatus"), "SWHardeningNeeded", "unknown status"),
    ((*ID_LEVEL0, "tcbStatus"), "ConfigurationAndSWHardeningNeeded", "unknown status"),
    ((*ID_LEVEL0, "tcbStatus"), "TDRelaunchAdvised", "unknown status"),
    (("miscselect",), "0000000", "expected 8 hex digits"),
    (("miscselectMask",), "FFFFFFFFFF", "expected 8 hex digits"),
    (("attributes",), "11" * 15, "expected 32 hex digits"),
    (("attributesMask",), "FB" * 17, "expected 32 hex digits"),
    (("mrsigner",), "DC" * 33, "expected 64 hex digits"),
    (("mrsigner",), "", "expected 64 hex digits"),
    (("isvprodid",), 65536, "outside 0..65535"),
    (("isvprodid",), -2, "outside"),
    ((*ID_LEVEL0, "tcb", "isvsvn"), "4", "expected an integer"),
    ((*ID_LEVEL0, "tcb", "isvsvn"), 65536, "outside 0..65535"),
    ((*ID_LEVEL0, "advisoryIDs"), [None], "array of strings"),
    (("tcbLevels",), [], "non-empty"),
    (("tcbLevels",), "none", "expected an array"),
    (("issueDate",), "2025-13-01T00:00:00Z", "expected a date"),
]


@pytest.mark.parametrize(("path", "value", "message"), IDENTITY_BAD)
def test_identity_strictness(path: tuple[str | int, ...], value: object, message: str) -> None:
    with pytest.raises(CollateralFormatError, match=message) as info:
        parse_identity(mutated(identity(), path, value))
    assert info.value.code == "qe_identity_format"
    assert info.value.intel_error == "SGX_QL_QEIDENTITY_UNSUPPORTED_FORMAT"


def test_identity_response_strictness() -> None:
    good = _response(identity(), key="enclaveIdentity")
    assert EnclaveIdentity.from_response(good).id == "TD_QE"
    with pytest.raises(CollateralFormatError, match="enclaveIdentity: missing"):
        EnclaveIdentity.from_response(_response(identity()))
    with pytest.raises(CollateralFormatError, match="128 hex"):
        EnclaveIdentity.from_response(_response(identity(), "ab", key="enclaveIdentity"))


# --------------------------------------------------------------------------- status, errors


def test_tcb_status_spelling() -> None:
    assert [str(s) for s in TcbStatus] == [
        "UpToDate",
        "SWHardeningNeeded",
        "ConfigurationNeeded",
        "ConfigurationAndSWHardeningNeeded",
        "OutOfDate",
        "OutOfDateConfigurationNeeded",
        "Revoked",
        "TDRelaunchAdvised",
        "TDRelaunchAdvisedConfigurationNeeded",
    ]
    assert f"{TcbStatus.OUT_OF_DATE}" == "OutOfDate"
    assert f"{TcbStatus.REVOKED:>8}" == " Revoked"
    assert TcbStatus("UpToDate") is TcbStatus.UP_TO_DATE
    assert TcbStatus.UP_TO_DATE == "UpToDate"


def test_collateral_format_error_pickles() -> None:
    error = CollateralFormatError(
        "x", code="issuer_chain_format", intel_error="SGX_QL_TCBINFO_CHAIN_ERROR"
    )
    clone = pickle.loads(pickle.dumps(error))
    assert (clone.message, clone.code, clone.intel_error) == (
        "x",
        "issuer_chain_format",
        "SGX_QL_TCBINFO_CHAIN_ERROR",
    )
    assert CollateralFormatError("y").code == "collateral_format"
    assert CollateralFormatError("y").intel_error is None
    assert (
        CollateralFormatError("y", code="crl_format").intel_error == "SGX_QL_CRL_UNSUPPORTED_FORMAT"
    )


def test_models_are_frozen() -> None:
    info = parse_info(tdx_info())
    with pytest.raises(AttributeError):
        info.version = 4  # type: ignore[misc]
    assert hash(info.tcb_levels[0]) == hash(parse_info(tdx_info()).tcb_levels[0])
