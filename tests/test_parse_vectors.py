"""Every real quote of the shared corpus, parsed and checked against the values its sources publish.

Expected values are read from the corpus (``expected.json`` files, dcap-qvl's
``insta`` snapshots, the ``SOURCE.md`` fact tables), never copied into this
file.  An ``Expected`` wrapper records which keys a test compared, so a key
that nobody checks fails the test instead of being ignored silently.
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from _quote_files import BY_PATH, QUOTE_FILES, QuoteFile, discover
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509.oid import NameOID

from tdxquote import (
    CertificationData,
    Quote,
    QuoteParseError,
    SgxReport,
    TdReport10,
    TdReport15,
    TeeType,
    parse_quote,
)

# --- helpers ---------------------------------------------------------------------------------


class Expected:
    """A JSON object of expected values that remembers which keys were checked."""

    def __init__(self, data: dict[str, Any], where: str) -> None:
        self.data = data
        self.where = where
        self._seen: set[str] = set()
        self._children: list[Expected] = []

    def __getitem__(self, key: str) -> Any:
        self._seen.add(key)
        return self.data[key]

    def __contains__(self, key: str) -> bool:
        return key in self.data

    def __iter__(self) -> Iterator[str]:
        return iter(list(self.data))

    def hex(self, key: str) -> bytes:
        return bytes.fromhex(self[key])

    def sub(self, key: str) -> Expected:
        child = Expected(self[key], f"{self.where}.{key}")
        self._children.append(child)
        return child

    def skip(self, key: str, reason: str) -> None:
        assert reason
        self._seen.add(key)

    def unchecked(self) -> list[str]:
        missing = [f"{self.where}.{key}" for key in self.data if key not in self._seen]
        for child in self._children:
            missing += child.unchecked()
        return missing


def _load_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _p256_key(raw: bytes) -> ec.EllipticCurvePublicKey:
    return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x04" + raw)


def _verifies(key: Any, raw_signature: bytes, message: bytes) -> bool:
    signature = encode_dss_signature(
        int.from_bytes(raw_signature[:32], "big"), int.from_bytes(raw_signature[32:], "big")
    )
    try:
        key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def quote_signature_valid(quote: Quote) -> bool:
    """The attestation key signs exactly ``signed_bytes``."""
    return _verifies(_p256_key(quote.attestation_key), quote.signature, quote.signed_bytes)


def qe_report_signature_valid(quote: Quote, pck_leaf: x509.Certificate) -> bool:
    """The PCK key signs exactly ``qe_report_bytes``."""
    return _verifies(pck_leaf.public_key(), quote.qe_report_signature, quote.qe_report_bytes)


def qe_report_binds_key(quote: Quote) -> bool:
    """QE report data = SHA-256(attestation key || QE auth data) || 32 zero bytes."""
    digest = hashlib.sha256(quote.attestation_key + quote.qe_auth_data).digest()
    return quote.qe_report.report_data == digest + bytes(32)


def qe_report_certification_data_size(quote: Quote) -> int:
    """The size field of the type-6 data, from the parsed fields it frames."""
    return (
        len(quote.qe_report_bytes)
        + len(quote.qe_report_signature)
        + 2
        + len(quote.qe_auth_data)
        + 6
        + len(quote.certification_data.data)
    )


def _entry_id(entry: QuoteFile) -> str:
    return entry.id


# --- the corpus list ---------------------------------------------------------------------------


def test_corpus_list_names_every_quote_in_the_corpus(vectors: Path) -> None:
    listed = {(entry.path, entry.encoding, entry.json_key) for entry in QUOTE_FILES}
    found = discover(vectors)
    assert found - listed == set(), "quotes in the corpus that tests/_quote_files.py misses"
    assert listed - found == set(), "tests/_quote_files.py lists quotes the corpus lacks"


def test_corpus_covers_every_quote_version() -> None:
    kinds = {(entry.version, entry.body_type) for entry in QUOTE_FILES}
    assert {(3, None), (4, None), (5, 3)} <= kinds


@pytest.mark.parametrize("entry", QUOTE_FILES, ids=_entry_id)
def test_quote_parses_with_its_expected_outcome(vectors: Path, entry: QuoteFile) -> None:
    data = entry.read(vectors)
    quote = parse_quote(data)
    assert quote.version == entry.version
    assert quote.body_type == entry.body_type
    assert quote.certification_data.type == entry.certification_type
    assert quote.to_bytes() == data
    assert bytes(quote) == data
    assert len(quote) == len(data)
    expected_body = {3: (SgxReport,), 4: (TdReport10, SgxReport), 5: (TdReport15,)}[entry.version]
    assert isinstance(quote.body, expected_body)
    assert quote.is_tdx == isinstance(quote.body, (TdReport10, TdReport15))
    if entry.pck_chain == "pem":
        assert quote.pck_chain_pem is not None
        assert len(quote.pck_chain) >= 2
        leaf = quote.pck_chain[0].subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        assert leaf[0].value == "Intel SGX PCK Certificate"
    else:
        with pytest.raises(QuoteParseError) as info:
            _ = quote.pck_chain
        assert info.value.field == "pck_chain"
        assert (entry.pck_chain == "der") == (quote.pck_chain_pem is not None)


@pytest.mark.parametrize(
    "entry", [e for e in QUOTE_FILES if e.encoding in ("hex", "json-hex")], ids=_entry_id
)
def test_hex_quote_parses_through_from_hex(vectors: Path, entry: QuoteFile) -> None:
    text = entry.text(vectors)
    assert Quote.from_hex(text) == parse_quote(entry.read(vectors))
    assert Quote.from_hex(text.encode("ascii")).to_bytes() == entry.read(vectors)


def test_peer_copies_equal_the_quotes_in_the_dstack_fixtures(vectors: Path) -> None:
    source = (vectors / "peers/dstack-sdk/SOURCE.md").read_text(encoding="utf-8")
    pairs = re.findall(r"\| `([^`]+\.quote\.bin)` \| `[^`]*/([^`/]+\.json)`, field `(\w+)`", source)
    assert len(pairs) == 2
    for copy, fixture, field in pairs:
        copied = BY_PATH[f"peers/dstack-sdk/{copy}"].read(vectors)
        original = next(
            e for e in QUOTE_FILES if e.path.endswith(f"verifier_{fixture}") and e.json_key == field
        )
        assert copied == original.read(vectors)


# --- go-tdx-guest/expected.json: every parsed field ------------------------------------------

_TD_BODY_NAMES = {"mr_servicetd": "mr_service_td"}
_QE_REPORT_NAMES = {"miscselect": "misc_select"}
_CONFIG_FLAGS = {"1": "dynamic_platform", "2": "cached_keys", "3": "smt_enabled"}


def _check_report(report: Any, expected: Expected, names: dict[str, str]) -> None:
    fields = report._asdict()
    for key in expected:
        value = expected[key]
        name = names.get(key, key)
        wanted = value if isinstance(value, int) else bytes.fromhex(value)
        assert fields[name] == wanted, f"{expected.where}.{key}"


def _check_pck_chain(quote: Quote, expected: list[dict[str, Any]], where: str) -> None:
    assert len(quote.pck_chain) == len(expected), where
    for index, (cert, fields) in enumerate(zip(quote.pck_chain, expected, strict=True)):
        cert_where = Expected(fields, f"{where}[{index}]")
        cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
        assert cn == cert_where["subject_cn"], cert_where.where
        assert cert.serial_number == int(cert_where["serial"], 16), cert_where.where
        assert cert.not_valid_before_utc.isoformat() == cert_where["not_before"]
        assert cert.not_valid_after_utc.isoformat() == cert_where["not_after"]
        der = cert.public_bytes(serialization.Encoding.DER)
        assert hashlib.sha256(der).hexdigest() == cert_where["sha256"], cert_where.where
        assert cert_where.unchecked() == []


def _check_go_tdx_guest_quote(folder: Path, name: str, expected: Expected) -> None:
    data = (folder / expected["file"]).read_bytes()
    assert f"go-tdx-guest/{expected['file']}" in BY_PATH
    assert len(data) == expected["size"]
    assert hashlib.sha256(data).hexdigest() == expected["sha256"]
    quote = parse_quote(data)

    header = expected.sub("header")
    assert quote.version == header["version"]
    assert quote.attestation_key_type == header["att_key_type"]
    assert quote.tee_type == int(header["tee_type"], 16)
    assert quote.qe_svn == int.from_bytes(header.hex("reserved_or_qe_svn"), "little")
    assert quote.pce_svn == int.from_bytes(header.hex("reserved_or_pce_svn"), "little")
    assert quote.qe_vendor_id == header.hex("qe_vendor_id")
    assert quote.user_data == header.hex("user_data")

    if "body_type" in expected:
        assert quote.body_type == expected["body_type"]
    if "body_descriptor" in expected:
        descriptor = expected.sub("body_descriptor")
        at = descriptor["offset"]
        assert quote.body_offset == at + 6
        assert struct.unpack_from("<HI", data, at) == (quote.body_type, len(quote.body.to_bytes()))
        assert quote.body_type == descriptor["type"]
        assert len(quote.body.to_bytes()) == descriptor["size"]

    body = expected.sub("td_body")
    assert quote.body_offset == body["offset"]
    assert len(quote.body.to_bytes()) == body["size"]
    assert data[body["offset"] : body["offset"] + body["size"]] == quote.body.to_bytes()
    assert list(quote.body.rtmrs) == [bytes.fromhex(r) for r in body["rtmrs"]]  # type: ignore[union-attr]
    _check_report(
        quote.body,
        _without(body, ("offset", "size", "rtmrs")),
        _TD_BODY_NAMES,
    )

    assert len(quote.signed_bytes) == expected["signed_data_size_offset"]
    assert len(quote.signed_bytes) == expected["signed_message_len"]
    assert quote.signed_data_size == expected["signed_data_size"]
    assert struct.unpack_from("<I", data, len(quote.signed_bytes))[0] == quote.signed_data_size
    assert len(quote.trailing_bytes) == expected["trailing_bytes_after_signed_data"]

    auth = expected.sub("auth")
    assert quote.signature == auth.hex("quote_signature")
    assert quote.attestation_key == auth.hex("attestation_key")
    assert quote.qe_report_certification_type == auth["cert_data_type"]
    assert qe_report_certification_data_size(quote) == auth["cert_data_size"]
    _check_report(quote.qe_report, auth.sub("qe_report"), _QE_REPORT_NAMES)
    assert quote.qe_report_signature == auth.hex("qe_report_signature")
    assert len(quote.qe_auth_data) == auth["qe_auth_data_size"]
    assert quote.qe_auth_data == auth.hex("qe_auth_data")
    assert quote.certification_data.type == auth["inner_cert_data_type"]
    assert len(quote.certification_data.data) == auth["inner_cert_data_size"]
    assert quote.certification_data.data.endswith(b"\x00") == auth["pck_chain_trailing_nul"]

    assert quote.pck_chain_pem == (folder / expected["pck_chain_file"]).read_bytes()
    _check_pck_chain(quote, expected["pck_chain"], f"{name}.pck_chain")

    ext = expected.sub("pck_sgx_extensions")
    pck = quote.pck_extension
    assert len(quote.pck_chain[0].extensions) == ext["x509_extension_count"]
    assert (7 if pck.ca_type == "platform" else 5) == ext["sgx_extension_entries"]
    assert pck.ppid == ext.hex("ppid")
    assert list(pck.sgx_components) == ext["sgx_tcb_comp_svns"]
    assert pck.pce_svn == ext["pcesvn"]
    assert pck.cpu_svn == ext.hex("cpusvn")
    assert pck.pce_id == ext.hex("pceid")
    assert pck.fmspc == ext.hex("fmspc")
    assert pck.sgx_type == ext["sgx_type"]
    assert pck.platform_instance_id == ext.hex("platform_instance_id")
    assert pck.configuration is not None
    for key, flag in ext["configuration"].items():
        assert getattr(pck.configuration, _CONFIG_FLAGS[key]) == (flag == "ff"), key

    checks = expected.sub("checks")
    assert quote_signature_valid(quote) == checks["quote_signature_valid"]
    leaf = quote.pck_chain[0]
    assert qe_report_signature_valid(quote, leaf) == checks["qe_report_signature_valid_with_pck"]
    assert qe_report_binds_key(quote) == checks["qe_report_data_binds_sha256_attkey_authdata"]


def _without(expected: Expected, keys: tuple[str, ...]) -> Expected:
    """The remaining keys of ``expected`` as a child, so they count as checked through it."""
    child = Expected({k: v for k, v in expected.data.items() if k not in keys}, expected.where)
    for key in expected:
        if key not in keys:
            expected.skip(key, "checked through the child")
    expected._children.append(child)
    return child


def test_go_tdx_guest_expected_fields(vectors: Path) -> None:
    folder = vectors / "go-tdx-guest"
    document = _load_json(folder / "expected.json")
    names = [name for name in document if not name.startswith("_")]
    assert len(names) == 3
    for name in names:
        expected = Expected(document[name], f"go-tdx-guest/expected.json:{name}")
        _check_go_tdx_guest_quote(folder, name, expected)
        assert expected.unchecked() == [], name


# --- dstack/upstream/expected.json ---------------------------------------------------------

_DSTACK_NOT_PARSING = {
    "format": "prose",
    "note": "prose",
    "n_event_log": "event-log tests",
    "n_runtime_events": "event-log tests",
    "runtime_events": "event-log tests",
    "runtime_digests_present": "event-log tests",
    "app_info_expected": "RA-TLS app-info tests",
    "attestation_report_data": "RA-TLS tests (equals the quote's report_data, checked below)",
    "config": "RA-TLS tests",
    "report_data_ascii": "checked below against report_data",
    "rtmr0_2_replayable": "event-log tests",
    "rtmr3_from_runtime_events_ok": "event-log tests",
    "same_td_as_app_cert_chain": "RA-TLS tests (the chain's quote has the same measurements)",
}
_DSTACK_BODY_FIELDS = (
    "mr_config_id",
    "mr_owner",
    "mr_owner_config",
    "mr_td",
    "report_data",
    "rtmr0",
    "rtmr1",
    "rtmr2",
    "rtmr3",
    "td_attributes",
    "tee_tcb_svn",
    "xfam",
)


def _check_dstack_quote(quote: Quote, expected: Expected) -> None:
    assert quote.version == expected["version"]
    assert len(quote) == expected["len"]
    # Older entries record the header and sizes too; the newer ones only what they measured.
    if "att_key_type" in expected:
        assert quote.attestation_key_type == expected["att_key_type"]
    if "tee_type" in expected:
        assert quote.tee_type == int(expected["tee_type"], 16)
    if "sig_data_len" in expected:
        assert quote.signed_data_size == expected["sig_data_len"]
    assert len(quote.trailing_bytes) == expected["trailing_bytes_after_sig_data"]
    assert quote.trailing_bytes == bytes(len(quote.trailing_bytes))
    body = quote.body._asdict()
    for name in _DSTACK_BODY_FIELDS:
        if name not in expected:
            continue
        assert body[name] == expected.hex(name), f"{expected.where}.{name}"
    assert quote.pck_extension.fmspc == expected.hex("fmspc")
    assert quote_signature_valid(quote) == expected["quote_sig_valid"]
    leaf = quote.pck_chain[0]
    assert qe_report_signature_valid(quote, leaf) == expected["qe_report_sig_valid"]
    assert qe_report_binds_key(quote) == expected["qe_report_data_binding_ok"]
    if "pck_not_before" in expected:
        assert str(leaf.not_valid_before_utc) == expected["pck_not_before"]
    for key in expected:
        if key.startswith("dcap_qvl_"):
            expected.skip(key, "a verification verdict: the verifier's tests")


def test_dstack_upstream_expected_fields(vectors: Path) -> None:
    document = _load_json(vectors / "dstack/upstream/expected.json")
    checked = 0
    for name, fields in document.items():
        expected = Expected(fields, f"dstack/upstream/expected.json:{name}")
        for key in expected:
            if key in _DSTACK_NOT_PARSING or (
                key.startswith("rtmr") and key.endswith("_replay_ok")
            ):
                expected.skip(key, _DSTACK_NOT_PARSING.get(key, "event-log replay tests"))
        if "quote" not in expected:
            continue
        if name.endswith(".pem"):
            # A real RA-TLS chain: its leaf's .1.1 quote is checked here, the rest of the
            # entry (binding, chain, replay, measurements) in tests/test_ratls_upstream_chain.py.
            for key in expected:
                if key != "quote":
                    expected.skip(key, "tests/test_ratls_upstream_chain.py")
            quote = parse_quote(_leaf_legacy_quote(vectors / "dstack/upstream" / name))
        else:
            entry = BY_PATH[f"dstack/upstream/{name.split(' + ')[0]}"]
            quote = parse_quote(entry.read(vectors))
        _check_dstack_quote(quote, expected.sub("quote"))
        if "attestation_report_data" in expected:
            assert quote.body.report_data == bytes.fromhex(expected.data["attestation_report_data"])
        if "report_data_ascii" in expected:
            ascii_data = expected.data["report_data_ascii"].encode("ascii")
            assert quote.body.report_data == ascii_data
        assert expected.unchecked() == [], name
        checked += 1
    assert checked == 10


def _leaf_legacy_quote(path: Path) -> bytes:
    """The raw quote in the leaf's OID 1.3.6.1.4.1.62397.1.1 (an OCTET STRING in extnValue)."""
    leaf = x509.load_pem_x509_certificates(path.read_bytes())[0]
    oid = x509.ObjectIdentifier("1.3.6.1.4.1.62397.1.1")
    wrapped = leaf.extensions.get_extension_for_oid(oid).value.value  # type: ignore[attr-defined]
    assert wrapped[:2] == b"\x04\x82"
    assert int.from_bytes(wrapped[2:4], "big") == len(wrapped) - 4
    return bytes(wrapped[4:])


def test_dstack_legacy_certificate_carries_the_ratls_assets_quote(vectors: Path) -> None:
    expected = _load_json(vectors / "dstack/upstream/expected.json")["legacy2024_app.cert"]
    cert = x509.load_pem_x509_certificate(
        (vectors / "dstack/upstream/legacy2024_app.cert").read_bytes()
    )
    oid = x509.ObjectIdentifier("1.3.6.1.4.1.62397.1.1")
    octet_string = cert.extensions.get_extension_for_oid(oid).value.value  # type: ignore[attr-defined]
    # DER OCTET STRING with a two-byte long-form length: 04 82 LL LL.
    assert octet_string[:2] == b"\x04\x82"
    assert int.from_bytes(octet_string[2:4], "big") == len(octet_string) - 4
    quote = parse_quote(octet_string[4:])
    assert expected["ext"]["1.3.6.1.4.1.62397.1.1"] == f"len {len(quote)}"
    ratls = parse_quote(BY_PATH["dstack/upstream/ratls_assets_tdx_quote.bin"].read(vectors))
    assert (quote == ratls) == expected["quote_equals_ratls_assets_tdx_quote"]


def test_dstack_sev_snp_attestation_is_not_a_quote(vectors: Path) -> None:
    expected = _load_json(vectors / "dstack/upstream/expected.json")
    first = expected["verifier_sev-snp-attestation.json"]["first_bytes"]
    envelope = bytes.fromhex(
        _load_json(vectors / "dstack/upstream/verifier_sev-snp-attestation.json")["attestation"]
    )
    assert envelope.hex().startswith(first)
    with pytest.raises(QuoteParseError) as info:
        parse_quote(envelope)
    assert info.value.field == "header.version"


# --- dcap-qvl: SOURCE.md fact table, snapshots, mutation verdicts -------------------------


@dataclass(frozen=True)
class _DcapFacts:
    name: str
    version: int
    tee: str
    body: str
    size: int
    trailing_zero_bytes: int
    signed_len: int
    auth_len: int
    fmspc: str
    ca: str
    cpu_svn_prefix: str
    pce_svn: int
    tee_tcb_svn_prefix: str | None
    qe_isv_svn: int


def _dcap_qvl_fact_table(source: str) -> list[_DcapFacts]:
    lines = source.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| quote | ver |"))
    rows: list[_DcapFacts] = []
    previous_pck: tuple[str, int] | None = None
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        name, ver, tee, body, size, signed, auth, fmspc_ca, pck, tcb, qe_svn = cells
        fmspc = re.match(r"([0-9A-Fa-f]{12}) / (Platform|Processor)", fmspc_ca)
        assert fmspc is not None, line
        if pck == "same":
            assert previous_pck is not None
            cpu_svn, pce_svn = previous_pck
        else:
            match = re.fullmatch(r"([0-9a-f]+)… / (\d+)", pck)
            assert match is not None, line
            cpu_svn, pce_svn = match[1], int(match[2])
        previous_pck = (cpu_svn, pce_svn)
        padding = re.search(r"\((\d+) (?:trailing zero bytes|zero pad)\)", size)
        rows.append(
            _DcapFacts(
                name=name.strip("`"),
                version=int(ver),
                tee=tee.split()[0],
                body=body,
                size=int(size.split()[0]),
                trailing_zero_bytes=int(padding[1]) if padding else 0,
                signed_len=int(signed),
                auth_len=int(auth),
                fmspc=fmspc[1],
                ca=fmspc[2].lower(),
                cpu_svn_prefix=cpu_svn,
                pce_svn=pce_svn,
                tee_tcb_svn_prefix=None if tcb == "n/a" else tcb.rstrip("…").replace(" ", ""),
                qe_isv_svn=int(qe_svn),
            )
        )
    return rows


def test_dcap_qvl_source_fact_table(vectors: Path) -> None:
    source = (vectors / "dcap-qvl/SOURCE.md").read_text(encoding="utf-8")
    rows = _dcap_qvl_fact_table(source)
    assert len(rows) == 6
    vendor_id = re.search(r"QE vendor ID\s+([0-9a-f]{32})", source)
    assert vendor_id is not None
    for facts in rows:
        quote = parse_quote(BY_PATH[f"dcap-qvl/{facts.name}"].read(vectors))
        assert quote.version == facts.version, facts.name
        assert quote.tee_type == TeeType[facts.tee]
        body_size = len(quote.body.to_bytes())
        kind = {584: "TD 1.0", 648: "TD 1.5", 384: "enclave report"}[body_size]
        assert kind in facts.body
        size_in_text = re.search(r"(\d+) B\b", facts.body)
        assert size_in_text is None or int(size_in_text[1]) == body_size
        assert len(quote) == facts.size
        assert quote.trailing_bytes == bytes(facts.trailing_zero_bytes)
        assert len(quote.signed_bytes) == facts.signed_len
        assert quote.signed_data_size == facts.auth_len
        assert quote.pck_extension.fmspc_hex == facts.fmspc.upper()
        assert quote.pck_extension.ca_type == facts.ca
        assert quote.pck_extension.cpu_svn.hex().startswith(facts.cpu_svn_prefix)
        assert quote.pck_extension.pce_svn == facts.pce_svn
        if facts.tee_tcb_svn_prefix is None:
            assert not quote.is_tdx
        else:
            assert quote.body.tee_tcb_svn.hex().startswith(facts.tee_tcb_svn_prefix)  # type: ignore[union-attr]
        assert quote.qe_report.isv_svn == facts.qe_isv_svn
        # Facts stated for every quote of the table.
        assert quote.attestation_key_type == 2
        assert quote.qe_vendor_id.hex() == vendor_id[1]
        assert quote.certification_data.type == 5
        assert quote.certification_data.data.endswith(b"-----\n\x00")
        assert len(quote.pck_chain) == 3
        assert len(quote.qe_auth_data) == 32


def test_dcap_qvl_source_prose_facts(vectors: Path) -> None:
    source = " ".join((vectors / "dcap-qvl/SOURCE.md").read_text(encoding="utf-8").split())
    td_attributes = re.search(r"In all TDX quotes `td_attributes` = ([0-9a-f]{16})", source)
    report_data = re.search(r'The `sgx_quote` report_data is ASCII "([^"]+)" padded', source)
    svns = re.search(
        r"`qe_svn`/`pce_svn`: (\d+)/(\d+) for the SGX quote, (\d+)/(\d+) for TDX", source
    )
    ppid = re.search(r"`tdx_quote` \+ `tdx_quote_collateral.json` \|.*?ppid ([0-9a-f]{32})", source)
    assert td_attributes is not None
    assert report_data is not None
    assert svns is not None
    assert ppid is not None
    quotes = [parse_quote(e.read(vectors)) for e in QUOTE_FILES if e.path.startswith("dcap-qvl/")]
    assert len(quotes) == 6
    for quote in quotes:
        if quote.is_tdx:
            assert quote.body.td_attributes.hex() == td_attributes[1]  # type: ignore[union-attr]
            assert quote.body.mr_signer_seam == bytes(48)  # type: ignore[union-attr]
            assert (quote.qe_svn, quote.pce_svn) == (int(svns[3]), int(svns[4]))
        else:
            text = report_data[1].encode("ascii")
            assert quote.body.report_data == text + bytes(64 - len(text))
            assert (quote.qe_svn, quote.pce_svn) == (int(svns[1]), int(svns[2]))
    tdx = parse_quote(BY_PATH["dcap-qvl/tdx_quote"].read(vectors))
    assert tdx.pck_extension.ppid.hex() == ppid[1]


def test_dcap_qvl_source_file_hashes(vectors: Path) -> None:
    source = (vectors / "dcap-qvl/SOURCE.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `([^`]+)` \| `[^`]+` \| ([0-9a-f]{16}) \|", source, re.M))
    quotes = [e for e in QUOTE_FILES if e.path.startswith("dcap-qvl/")]
    assert len(quotes) == 6
    for entry in quotes:
        prefix = rows[entry.path.removeprefix("dcap-qvl/")]
        assert hashlib.sha256((vectors / entry.path).read_bytes()).hexdigest()[:16] == prefix


# A small parser for Rust's pretty ``{:#?}`` output, as insta stores it.

_RUST_TOKEN = re.compile(
    r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*")|(?P<int>\d+)'
    r"|(?P<ident>[A-Za-z_]\w*(?:<[^>]*>)?)|(?P<punct>[{}()\[\]:,]))",
    re.S,
)
_RUST_ESCAPE = re.compile(r"\\u\{([0-9a-fA-F]+)\}|\\(.)", re.S)
_RUST_SIMPLE_ESCAPES = {"0": "\0", "n": "\n", "r": "\r", "t": "\t", "\\": "\\", '"': '"', "'": "'"}


@dataclass(frozen=True)
class RustStruct:
    name: str
    fields: dict[str, Any]


@dataclass(frozen=True)
class RustTuple:
    name: str
    items: list[Any]


def _rust_string(literal: str) -> str:
    def unescape(match: re.Match[str]) -> str:
        if match[1] is not None:
            return chr(int(match[1], 16))
        return _RUST_SIMPLE_ESCAPES[match[2]]

    return _RUST_ESCAPE.sub(unescape, literal[1:-1])


def parse_rust_debug(text: str) -> Any:
    """Parse Rust ``Debug`` output: structs, tuple variants, lists, integers, strings."""
    tokens: list[tuple[str, str]] = []
    at = 0
    while at < len(text.rstrip()):
        match = _RUST_TOKEN.match(text, at)
        assert match is not None, f"unexpected text at {at}: {text[at : at + 40]!r}"
        kind = match.lastgroup
        assert kind is not None
        tokens.append((kind, match[kind]))
        at = match.end()
    position = 0

    def take(expected: str | None = None) -> tuple[str, str]:
        nonlocal position
        token = tokens[position]
        position += 1
        assert expected is None or token[1] == expected, (token, expected)
        return token

    def items(closing: str) -> list[Any]:
        found = []
        while tokens[position][1] != closing:
            found.append(value())
            take(",")
        take(closing)
        return found

    def value() -> Any:
        kind, text = take()
        if kind == "int":
            return int(text)
        if kind == "str":
            return _rust_string(text)
        if text == "[":
            return items("]")
        assert kind == "ident", text
        following = tokens[position][1] if position < len(tokens) else None
        if following == "{":
            take("{")
            fields = {}
            while tokens[position][1] != "}":
                name = take()[1]
                take(":")
                fields[name] = value()
                take(",")
            take("}")
            return RustStruct(text, fields)
        if following == "(":
            take("(")
            return RustTuple(text, items(")"))
        return text

    result = value()
    assert position == len(tokens)
    return result


def _snapshot_body(path: Path) -> str:
    # An insta file: a "---" delimited YAML header, then the value.
    text = path.read_text(encoding="utf-8")
    header_end = text.index("\n---\n", 3)
    return text[header_end + 5 :]


def _bytes_of(value: Any) -> Any:
    return bytes(value) if isinstance(value, list) else value


def _check_snapshot_fields(
    ours: dict[str, Any], theirs: RustStruct, renames: dict[str, str]
) -> None:
    names = {renames.get(name, name) for name in theirs.fields}
    assert names == set(ours), theirs.name
    for name, value in theirs.fields.items():
        assert ours[renames.get(name, name)] == _bytes_of(value), f"{theirs.name}.{name}"


def _lossy(data: bytes) -> str:
    # Rust's String::from_utf8_lossy, which dcap-qvl's Debug output uses for byte bodies.
    return data.decode("utf-8", errors="replace")


def _check_certification(theirs: RustStruct, cert: CertificationData) -> None:
    assert set(theirs.fields) == {"cert_type", "body"}
    assert theirs.fields["cert_type"] == cert.type
    assert theirs.fields["body"] == _lossy(cert.data)


def _qe_auth(theirs: RustStruct) -> bytes:
    assert theirs.name == "Data"
    assert set(theirs.fields) == {"data", "_marker"}
    return bytes(theirs.fields["data"])


@pytest.mark.parametrize("kind", ["sgx", "tdx"])
def test_dcap_qvl_snapshot(vectors: Path, kind: str) -> None:
    folder = vectors / "dcap-qvl"
    snapshot = parse_rust_debug(
        _snapshot_body(folder / f"snapshots/verify_quote__could_parse_{kind}_quote.snap")
    )
    quote = parse_quote((folder / f"{kind}_quote").read_bytes())
    assert isinstance(snapshot, RustStruct)
    assert snapshot.name == "Quote"
    assert set(snapshot.fields) == {"header", "report", "auth_data"}
    _check_snapshot_fields(quote.header._asdict(), snapshot.fields["header"], {})

    report = snapshot.fields["report"]
    expected_variant = {3: "SgxEnclave", 4: "TD10", 5: "TD15"}[quote.version]
    assert report.name == expected_variant
    rtmr = {f"rt_mr{i}": f"rtmr{i}" for i in range(4)}
    _check_snapshot_fields(quote.body._asdict(), report.items[0], rtmr)

    auth_variant = snapshot.fields["auth_data"]
    auth = auth_variant.items[0]
    assert auth_variant.name == ("V3" if quote.version == 3 else "V4")
    assert auth.fields["ecdsa_signature"] == list(quote.signature)
    assert auth.fields["ecdsa_attestation_key"] == list(quote.attestation_key)
    if quote.version == 3:
        assert set(auth.fields) == {
            "ecdsa_signature",
            "ecdsa_attestation_key",
            "qe_report",
            "qe_report_signature",
            "qe_auth_data",
            "certification_data",
        }
        inner = auth
    else:
        assert set(auth.fields) == {
            "ecdsa_signature",
            "ecdsa_attestation_key",
            "certification_data",
            "qe_report_data",
        }
        outer = auth.fields["certification_data"]
        assert outer.fields["cert_type"] == quote.qe_report_certification_type
        auth_at = len(quote.signed_bytes) + 4
        outer_data = quote.to_bytes()[auth_at + 134 : auth_at + quote.signed_data_size]
        assert len(outer_data) == qe_report_certification_data_size(quote)
        _check_certification(outer, CertificationData(6, outer_data))
        inner = auth.fields["qe_report_data"]
        assert set(inner.fields) == {
            "qe_report",
            "qe_report_signature",
            "qe_auth_data",
            "certification_data",
        }
    assert bytes(inner.fields["qe_report"]) == quote.qe_report_bytes
    assert bytes(inner.fields["qe_report_signature"]) == quote.qe_report_signature
    assert _qe_auth(inner.fields["qe_auth_data"]) == quote.qe_auth_data
    _check_certification(inner.fields["certification_data"], quote.certification_data)


def test_rust_debug_parser_reads_escapes() -> None:
    parsed = parse_rust_debug('A { s: "x\\u{1b}\\0\\n\\"�", l: [\n 1,\n 2,\n ], t: B(\n 7,\n ), }')
    assert parsed == RustStruct(
        "A", {"s": 'x\x1b\0\n"\ufffd', "l": [1, 2], "t": RustTuple("B", [7])}
    )


def _mutate(data: bytes, mutation: dict[str, Any]) -> bytes:
    op = mutation["op"]
    if op == "truncate":
        return data[: mutation["len"]]
    if op == "append":
        return data + bytes.fromhex(mutation["hex"])
    out = bytearray(data)
    if op == "xor":
        out[mutation["offset"]] ^= mutation["mask"]
    elif op == "set_u16le":
        struct.pack_into("<H", out, mutation["offset"], mutation["value"])
    elif op == "set_u32le":
        struct.pack_into("<I", out, mutation["offset"], mutation["value"])
    else:
        raise AssertionError(f"unknown mutation {op}")
    return bytes(out)


# Where tdxquote deliberately rejects at parse time what dcap-qvl 0.7.0 decodes.
_REJECTED_UNLIKE_DCAP_QVL = {
    "outer_cert_type_5": (
        "certification_data_type",
        "Intel's QVL requires type 6 (QE report certification data) in v4/v5 quotes; "
        "dcap-qvl reads the nested data whatever the type says",
    ),
    "att_key_type_3": (
        "header.attestation_key_type",
        "only ECDSA-256-with-P-256 keys are supported; dcap-qvl decodes the quote and "
        "fails later with 'Unsupported DCAP attestation key type'",
    ),
}
# The field tdxquote names for the mutations dcap-qvl also fails to decode.
_DECODE_FAILURE_FIELDS = {
    "truncate_to_0": "header",
    "truncate_header_47": "header",
    "truncate_body": "body",
    "truncate_before_auth_len": "body",
    "truncate_auth_minus_1": "signed_data_size",
    "auth_len_0xffffffff": "signed_data_size",
    "version_6": "header.version",
    "v5_body_type_2": "body_descriptor.body_size",
    "v5_body_size_plus_1": "body_descriptor.body_size",
}


def _decode_failure_field(name: str, version: int) -> str:
    if name == "auth_len_minus_1":
        # One byte less of signed data: the innermost exact size no longer fits.
        return "certification_data.size" if version == 3 else "qe_report_certification_data.size"
    return _DECODE_FAILURE_FIELDS[name]


def test_dcap_qvl_mutation_verdicts_agree_on_what_decodes(vectors: Path) -> None:
    try:
        import dcap_qvl
    except ImportError:
        dcap_qvl = None
    cases = [c for c in _load_json(vectors / "dcap-qvl/expected.json")["cases"] if "mutation" in c]
    assert len(cases) >= 90
    seen_names = set()
    for case in cases:
        name = case["mutation_name"]
        seen_names.add(name)
        original = BY_PATH[f"dcap-qvl/{case['quote']}"].read(vectors)
        version = parse_quote(original).version
        data = _mutate(original, case["mutation"])
        dcap_decode_failed = not case["ok"] and case["error"].startswith("Failed to decode quote")
        if dcap_qvl is not None:
            try:
                dcap_qvl.parse_quote(data)
                dcap_parsed = True
            except ValueError:
                dcap_parsed = False
            assert dcap_parsed == (not dcap_decode_failed), name
        if dcap_decode_failed or name in _REJECTED_UNLIKE_DCAP_QVL:
            with pytest.raises(QuoteParseError) as info:
                parse_quote(data)
            assert type(info.value) is QuoteParseError
            if name in _REJECTED_UNLIKE_DCAP_QVL:
                wanted = _REJECTED_UNLIKE_DCAP_QVL[name][0]
            else:
                wanted = _decode_failure_field(name, version)
            assert info.value.field == wanted, (case["quote"], name, str(info.value))
            assert 0 <= info.value.offset <= len(data)
            continue
        quote = parse_quote(data)
        assert quote.to_bytes() == data
        if case["mutation"]["op"] == "append":
            assert quote.trailing_bytes.endswith(bytes.fromhex(case["mutation"]["hex"]))
        if name == "truncate_exact_end_of_auth":
            assert quote.trailing_bytes == b""
    assert set(_REJECTED_UNLIKE_DCAP_QVL) <= seen_names
    assert set(_DECODE_FAILURE_FIELDS) <= seen_names


# --- intel-dcap and peers: facts stated in SOURCE.md -------------------------------------------


def _der_certificates(data: bytes) -> list[x509.Certificate]:
    certs = []
    at = 0
    while at < len(data):
        assert data[at : at + 2] == b"\x30\x82", "expected a long-form DER SEQUENCE"
        end = at + 4 + int.from_bytes(data[at + 2 : at + 4], "big")
        certs.append(x509.load_der_x509_certificate(data[at:end]))
        at = end
    return certs


def test_intel_qvl_sample_quotes(vectors: Path) -> None:
    folder = vectors / "intel-dcap/qvl-sampleData"
    source = (vectors / "intel-dcap/SOURCE.md").read_text(encoding="utf-8")
    sgx_facts = re.search(
        r"SGX quote \*\*v(\d)\*\* \((\d+) B\), cert-data type (\d) \(PPID, (\d+) B\); "
        r"auth-data size (\d+)",
        source,
    )
    assert sgx_facts is not None
    sgx = parse_quote((folder / "sgx/quote.dat").read_bytes())
    assert sgx.version == int(sgx_facts[1])
    assert len(sgx) == int(sgx_facts[2])
    assert sgx.certification_data.type == int(sgx_facts[3])
    assert len(sgx.certification_data.data) == int(sgx_facts[4])
    assert sgx.signed_data_size == int(sgx_facts[5])
    assert sgx.pck_chain_pem is None

    tdx_facts = re.search(r"TDX quote \*\*v(\d)\*\* \((\d+) B\)", source)
    assert tdx_facts is not None
    tdx = parse_quote((folder / "tdx/quote.dat").read_bytes())
    assert tdx.version == int(tdx_facts[1])
    assert len(tdx) == int(tdx_facts[2])
    assert "three DER certificates concatenated root-first" in source
    certs = _der_certificates(tdx.certification_data.data)
    assert len(certs) == 3
    assert certs[0].subject == certs[0].issuer
    pck = x509.load_pem_x509_certificate((folder / "tdx/pckCert.pem").read_bytes())
    assert certs[-1] == pck
    assert "QE report signature verifies with `tdx/pckCert.pem`" in source
    assert qe_report_signature_valid(tdx, pck)
    assert quote_signature_valid(tdx)
    assert qe_report_binds_key(tdx)
    with pytest.raises(QuoteParseError):
        _ = tdx.pck_chain


def test_intel_sgx_ra_peer_quote(vectors: Path) -> None:
    folder = vectors / "peers/intel-sgx-ra"
    source = (folder / "SOURCE.md").read_text(encoding="utf-8")
    facts = re.search(r"SGX DCAP quote v(\d), (\d+) bytes, ECDSA-P256, cert type (\d)", source)
    signer = re.search(r"MRSIGNER ([0-9a-f]+)\.\.\.([0-9a-f]+)", source)
    assert facts is not None
    assert signer is not None
    assert "exactly three certificates" in source
    data = (folder / "quote.dat").read_bytes()
    quote = parse_quote(data)
    assert quote.version == int(facts[1])
    assert len(quote) == int(facts[2])
    assert quote.attestation_key_type == 2
    assert quote.certification_data.type == int(facts[3])
    assert quote.body.mr_signer.hex().startswith(signer[1])  # type: ignore[union-attr]
    assert quote.body.mr_signer.hex().endswith(signer[2])  # type: ignore[union-attr]
    assert len(quote.pck_chain) == 3
    assert quote.pck_extension.ca_type == "platform"
    assert quote.to_bytes() == data


# --- against dcap-qvl's own parser ----------------------------------------------------------


@pytest.mark.parametrize("entry", QUOTE_FILES, ids=_entry_id)
def test_dcap_qvl_parse_agrees(vectors: Path, entry: QuoteFile) -> None:
    dcap_qvl = pytest.importorskip("dcap_qvl")
    data = entry.read(vectors)
    theirs = dcap_qvl.parse_quote(data)
    quote = parse_quote(data)

    header = theirs.header
    for name, value in quote.header._asdict().items():
        assert getattr(header, name) == value, name
    assert theirs.is_tdx() == quote.is_tdx
    assert theirs.is_sgx() == (not quote.is_tdx)
    assert theirs.quote_type() == quote.tee_type.name

    report_names = [n for n in dir(theirs.report) if not n.startswith("_")]
    assert report_names
    body = quote.body._asdict()
    for name in report_names:
        assert getattr(theirs.report, name) == body[name.replace("rt_mr", "rtmr")], name
    if quote.is_tdx:
        assert {n.replace("rt_mr", "rtmr") for n in report_names} == set(body)

    assert theirs.cert_chain_pem_bytes() == quote.pck_chain_pem
    if entry.pck_chain != "pem":
        with pytest.raises(ValueError, match="Failed to get FMSPC"):
            theirs.fmspc()
        with pytest.raises(QuoteParseError):
            _ = quote.pck_extension
        return
    ours = quote.pck_extension
    assert theirs.fmspc() == ours.fmspc_hex
    assert theirs.ca() == ours.ca_type
    ext = theirs.pck_extension()
    assert ext.fmspc == ours.fmspc
    assert ext.ppid == ours.ppid
    assert ext.cpu_svn == ours.cpu_svn
    assert ext.pce_svn == ours.pce_svn
    assert ext.pce_id == ours.pce_id
    assert ext.sgx_type == ours.sgx_type
    assert ext.platform_instance_id == ours.platform_instance_id
