"""Every dstack vector, positive and negative, against the values of its ``expected.json``.

Expected values are read from ``dstack/upstream/expected.json`` and
``dstack/synthetic/expected.json``, never copied here.  Each test lists the
keys it leaves to another test (the quote fields belong to
``test_parse_vectors.py``), so a new key fails until someone checks it.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from tdxquote import Collateral, QuoteParseError, parse_quote
from tdxquote.ratls import (
    OID_ATTESTATION,
    BindingMismatchError,
    DstackEvents,
    NoAttestationError,
    RaTlsFormatError,
    RtmrMismatchError,
    RuntimeEvent,
    UnattestedWarning,
    UnsupportedAttestationError,
    certificate_report,
    decode_attestation,
    dstack_measurements,
    expected_report_data,
    extract_tdx_quote,
    parse_certificate,
    parse_event_log_json,
    read_extensions,
    replay,
    replay_rtmrs,
    report_exit_code,
    unsafe_check_simulator_certificate,
    verify_certificate,
)
from tdxquote.ratls._chain import load_chain
from tdxquote.ratls._msgpack_v1 import AttestationV1, encode_attestation_v1

KMS_NOW = 1750400000


def _json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _upstream(vectors: Path) -> dict[str, Any]:
    return _json(vectors / "dstack/upstream/expected.json")  # type: ignore[no-any-return]


def _synthetic(vectors: Path) -> dict[str, Any]:
    return _json(vectors / "dstack/synthetic/expected.json")  # type: ignore[no-any-return]


def _kms_collateral(vectors: Path) -> Collateral:
    path = vectors / "dstack/upstream/kms-pr538_tdx_quote_collateral.json"
    return Collateral.from_json(path.read_text(encoding="utf-8"))


def _check_keys(entry: dict[str, Any], checked: set[str], elsewhere: set[str], where: str) -> None:
    unchecked = set(entry) - checked - elsewhere
    assert not unchecked, f"{where}: expected keys nobody checks: {sorted(unchecked)}"


# --- synthetic certificates ------------------------------------------------------------------

_SYNTHETIC_ELSEWHERE = {"notes", "format", "attestation_blob"}


@pytest.mark.parametrize(
    "name",
    [
        "ratls_v0_selfsigned.pem",
        "ratls_v0_simchain.pem",
        "ratls_legacy_selfsigned.pem",
        "neg_ratls_v0_wrong_key.pem",
        "neg_ratls_v0_bad_rtmr3.pem",
        "UNVERIFIED_ratls_v1_msgpack_selfsigned.pem",
        "UNVERIFIED_ratls_v1_msgpack_sim0511_chain.pem",
    ],
)
def test_synthetic_certificate_matches_expected(vectors: Path, name: str) -> None:
    expected = _synthetic(vectors)[name]
    data = (vectors / "dstack/synthetic" / name).read_bytes()
    cert = parse_certificate(data)
    body = cert.body
    checked = set()

    def check(key: str, actual: object) -> None:
        assert actual == expected[key], f"{name}: {key}"
        checked.add(key)

    check("spki_der_hex", cert.spki.hex())
    check("expected_report_data", cert.binding.expected.hex())
    check("quote_report_data", body.report_data.hex())
    check("binding_ok", cert.binding.ok)
    check("extension_oids", sorted(cert.extensions.oids))
    check("mr_td", body.mr_td.hex())
    check("mr_config_id", body.mr_config_id.hex())
    for i in range(4):
        check(f"rtmr{i}", body.rtmrs[i].hex())
    check("rtmr3_ok", cert.replay.matches[3])
    check("rtmr3_replayed_from_runtime_events", (cert.replay.replayed[3] or b"").hex())
    check("n_event_log_entries", len(cert.attestation.event_log))
    check("runtime_event_names", [e.event for e in cert.events.events])
    check("app_id", (cert.events.app_id or b"").hex())
    check("compose_hash", (cert.events.compose_hash or b"").hex())
    check("instance_id", (cert.events.instance_id or b"").hex())
    check("key_provider", (cert.events.key_provider or b"").decode())
    # The patched REPORTDATA breaks the quote signature: DCAP must refuse.
    with pytest.raises(BindingMismatchError if not expected["binding_ok"] else Exception) as info:
        verify_certificate(data, collateral=_kms_collateral(vectors), now=KMS_NOW)
    if expected["binding_ok"] and expected["rtmr3_ok"]:
        assert getattr(info.value, "code", None) == "quote_signature_invalid"
        assert expected["quote_signature_valid"] is False
    checked.add("quote_signature_valid")
    _check_keys(expected, checked, _SYNTHETIC_ELSEWHERE, name)


def test_synthetic_formats_and_chains(vectors: Path) -> None:
    folder = vectors / "dstack/synthetic"
    v0 = parse_certificate((folder / "ratls_v0_selfsigned.pem").read_bytes())
    assert v0.format == "1.8-v0"
    assert v0.extensions.attestation == (folder / "attestation_v0_stripped_keyA.bin").read_bytes()
    assert v0.replay.to_dict() == {"rtmr0": None, "rtmr1": None, "rtmr2": None, "rtmr3": True}
    assert v0.chain_root.subject == v0.leaf.subject
    chain = parse_certificate((folder / "ratls_v0_simchain.pem").read_bytes())
    assert len(chain.chain) == 2
    assert chain.extensions.usage == "app:custom"
    assert chain.chain_root.subject.rfc4514_string() == "CN=Dstack KMS CA,O=Dstack"
    assert chain.chain_links_verify
    legacy = parse_certificate((folder / "ratls_legacy_selfsigned.pem").read_bytes())
    assert legacy.format == "1.1-legacy"
    assert legacy.replay.to_dict() == {f"rtmr{i}": True for i in range(4)}
    assert legacy.attestation.config == ""


def test_synthetic_keys_give_the_expected_spki_and_binding(vectors: Path) -> None:
    document = _synthetic(vectors)
    for key_file, cert_name in (
        ("key_A.pem", "ratls_v0_selfsigned.pem"),
        ("key_B.pem", "ratls_legacy_selfsigned.pem"),
    ):
        key = serialization.load_pem_private_key(
            (vectors / "dstack/synthetic" / key_file).read_bytes(), password=None
        )
        spki = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        assert spki.hex() == document[cert_name]["spki_der_hex"]
        assert expected_report_data(spki).hex() == document[cert_name]["expected_report_data"]


def test_negative_synthetic_certificates_are_refused_with_distinct_codes(vectors: Path) -> None:
    folder = vectors / "dstack/synthetic"
    with pytest.raises(BindingMismatchError) as wrong_key:
        verify_certificate(
            (folder / "neg_ratls_v0_wrong_key.pem").read_bytes(),
            now=0,
            collateral=_kms_collateral(vectors),
        )
    assert wrong_key.value.code == "ratls_binding_mismatch"
    assert wrong_key.value.checks_passed == ("ratls_attestation",)
    with pytest.raises(RtmrMismatchError) as bad_rtmr:
        verify_certificate(
            (folder / "neg_ratls_v0_bad_rtmr3.pem").read_bytes(),
            now=0,
            collateral=_kms_collateral(vectors),
        )
    assert bad_rtmr.value.code == "ratls_rtmr_mismatch"
    assert bad_rtmr.value.index == 3
    expected = _synthetic(vectors)["neg_ratls_v0_bad_rtmr3.pem"]
    assert bad_rtmr.value.replayed.hex() == expected["rtmr3_replayed_from_runtime_events"]
    assert bad_rtmr.value.quoted.hex() == expected["rtmr3"]


def test_trailing_byte_attestation_is_malformed(vectors: Path) -> None:
    good = (vectors / "dstack/synthetic/attestation_v0_stripped_keyA.bin").read_bytes()
    bad = (vectors / "dstack/synthetic/neg_attestation_v0_trailing_byte.bin").read_bytes()
    assert bad == good + b"\x00"
    decode_attestation(good)
    with pytest.raises(RaTlsFormatError) as info:
        decode_attestation(bad)
    assert info.value.offset == len(good)
    assert "trailing" in info.value.reason


@pytest.mark.parametrize(
    ("name", "event_version"),
    [
        ("UNVERIFIED_ratls_v1_msgpack_selfsigned.pem", 2),
        ("UNVERIFIED_ratls_v1_msgpack_sim0511_chain.pem", 1),
    ],
)
def test_v1_msgpack_certificates_decode(vectors: Path, name: str, event_version: int) -> None:
    # The layout is confirmed (both blobs re-encode byte-identically with rmp-serde): decoded,
    # bound, replayed; test_synthetic_certificate_matches_expected checks the fields.
    expected = _synthetic(vectors)[name]
    data = (vectors / "dstack/synthetic" / name).read_bytes()
    blob = (vectors / "dstack/synthetic" / expected["attestation_blob"]).read_bytes()
    assert read_extensions(load_chain(data)[0]).attestation == blob
    decoded = decode_attestation(blob)
    assert isinstance(decoded, AttestationV1)
    assert decoded.stack == "dstack"
    assert decoded.report_data_payload is None
    assert {e.version for e in decoded.runtime_events} == {event_version}
    again = encode_attestation_v1(
        quote=decoded.quote,
        event_log=decoded.event_log,
        runtime_events=decoded.runtime_events,
        report_data=decoded.report_data,
        config=decoded.config,
    )
    assert again == blob
    cert = parse_certificate(data)
    assert cert.format == "1.8-v1"
    assert cert.replay.to_dict() == {"rtmr0": None, "rtmr1": None, "rtmr2": None, "rtmr3": True}
    assert extract_tdx_quote(data) == decoded.quote
    if event_version == 2:
        # V2 digests are JCS: the version-1 rule would not replay to the quoted RTMR3.
        v1_rule = replay(RuntimeEvent(e.event, e.payload).digest for e in decoded.runtime_events)
        assert v1_rule != cert.body.rtmr3
    with pytest.warns(UnattestedWarning):
        unsafe_check_simulator_certificate(data)
    report = certificate_report(data, unsafe_simulator=True)
    assert report["format"] == "1.8-v1"
    assert report["expected_report_data"] == expected["expected_report_data"]
    assert sorted(report["extensions"]) == expected["extension_oids"]
    assert report["verdict"]["ok"] is True
    assert report_exit_code(report) == 0


def test_simulator_mode_passes_the_synthetic_certificates_and_warns(vectors: Path) -> None:
    folder = vectors / "dstack/synthetic"
    for name in ("ratls_v0_selfsigned.pem", "ratls_v0_simchain.pem", "ratls_legacy_selfsigned.pem"):
        with pytest.warns(UnattestedWarning, match="NOT attested"):
            cert = unsafe_check_simulator_certificate((folder / name).read_bytes())
        assert cert.binding.ok
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnattestedWarning)
        with pytest.raises(BindingMismatchError):
            unsafe_check_simulator_certificate((folder / "neg_ratls_v0_wrong_key.pem").read_bytes())
        with pytest.raises(RtmrMismatchError):
            unsafe_check_simulator_certificate((folder / "neg_ratls_v0_bad_rtmr3.pem").read_bytes())


# --- upstream --------------------------------------------------------------------------------

_QUOTE_FIELDS = {"quote"}  # test_parse_vectors.py


def _runtime(expected: list[list[str]]) -> list[RuntimeEvent]:
    return [RuntimeEvent(name, bytes.fromhex(payload)) for name, payload in expected]


def _check_app_info(events: DstackEvents, config: str, body: Any, info: dict[str, Any]) -> None:
    assert (events.app_id or b"").hex() == info["app_id"]
    assert (events.compose_hash or b"").hex() == info["compose_hash"]
    assert (events.instance_id or b"").hex() == info["instance_id"]
    assert (events.key_provider or b"").decode() == info["key_provider_info"]
    assert events.key_provider_info is not None
    assert events.key_provider_info["name"] == "kms"
    compose = events.compose_hash or b""
    is_v1 = body.mr_config_id == (b"\x01" + compose + bytes(48))[:48]
    assert is_v1 == info["mr_config_id_is_v1_of_compose_hash"]
    document = json.loads(config)
    vm_config = json.loads(document["vm_config"]) if "vm_config" in document else document
    assert vm_config["os_image_hash"] == info["os_image_hash_from_vm_config"]
    # dstack's mr_system / mr_aggregated, runtime and boot-time (reference §6).
    measured = dstack_measurements(body, events.events)
    for mode, values in (("runtime", measured.runtime), ("boottime", measured.boottime)):
        assert info[mode] == {
            "mr_aggregated": values.mr_aggregated.hex(),
            "mr_key_provider": values.mr_key_provider.hex(),
            "mr_system": values.mr_system.hex(),
            "rtmr3_used": values.rtmr3.hex(),
        }, mode
    assert set(info) == {
        "app_id",
        "compose_hash",
        "instance_id",
        "key_provider_info",
        "mr_config_id_is_v1_of_compose_hash",
        "os_image_hash_from_vm_config",
        "runtime",
        "boottime",
    }


def test_simulator_attestation_full_log_replays_every_rtmr(vectors: Path) -> None:
    entry = _upstream(vectors)["simulator_attestation.bin"]
    decoded = decode_attestation(
        (vectors / "dstack/upstream/simulator_attestation.bin").read_bytes()
    )
    quote = parse_quote(decoded.quote)
    body = quote.body
    replay = replay_rtmrs(decoded.event_log, decoded.runtime_events, body.rtmrs)  # type: ignore[union-attr]
    assert replay.matches[0] == entry["rtmr0_replay_ok"]
    assert replay.matches[1] == entry["rtmr1_replay_ok"]
    assert replay.matches[2] == entry["rtmr2_replay_ok"]
    assert replay.matches[3] == entry["rtmr3_replay_ok"] == entry["rtmr3_from_runtime_events_ok"]
    assert len(decoded.event_log) == entry["n_event_log"]
    assert len(decoded.runtime_events) == entry["n_runtime_events"]
    assert list(decoded.runtime_events) == _runtime(entry["runtime_events"])
    runtime_in_log = [e for e in decoded.event_log if e.is_runtime]
    assert all(e.digest for e in runtime_in_log) == entry["runtime_digests_present"]
    assert decoded.report_data.hex() == entry["attestation_report_data"]
    assert decoded.config == entry["config"]
    _check_app_info(
        DstackEvents(decoded.runtime_events), decoded.config, body, entry["app_info_expected"]
    )
    _check_keys(
        entry,
        {
            "rtmr0_replay_ok",
            "rtmr1_replay_ok",
            "rtmr2_replay_ok",
            "rtmr3_replay_ok",
            "rtmr3_from_runtime_events_ok",
            "n_event_log",
            "n_runtime_events",
            "runtime_events",
            "runtime_digests_present",
            "attestation_report_data",
            "config",
            "app_info_expected",
        },
        _QUOTE_FIELDS | {"format"},
        "simulator_attestation.bin",
    )


def test_tdx_lite_attestation_is_the_stripped_form(vectors: Path) -> None:
    entry = _upstream(vectors)["verifier_tdx-lite-attestation.json"]
    payload = bytes.fromhex(
        _json(vectors / "dstack/upstream/verifier_tdx-lite-attestation.json")["attestation"]
    )
    decoded = decode_attestation(payload)
    body = parse_quote(decoded.quote).body
    replay = replay_rtmrs(decoded.event_log, decoded.runtime_events, body.rtmrs)  # type: ignore[union-attr]
    assert (replay.matches[:3] == (None, None, None)) == (not entry["rtmr0_2_replayable"])
    assert replay.matches[3] == entry["rtmr3_from_runtime_events_ok"]
    assert len(decoded.event_log) == entry["n_event_log"]
    assert len(decoded.runtime_events) == entry["n_runtime_events"]
    assert decoded.report_data.hex() == entry["attestation_report_data"]
    assert decoded.report_data.decode() == entry["report_data_ascii"]
    # Stripped: three ACPI DATA markers keep their digest, runtime entries lose theirs.
    markers = [e for e in decoded.event_log if e.imr == 0]
    assert [e.event_payload for e in markers] == [b"ACPI DATA"] * 3
    assert all(e.digest == b"" for e in decoded.event_log if e.imr == 3)
    _check_app_info(
        DstackEvents(decoded.runtime_events), decoded.config, body, entry["app_info_expected"]
    )
    _check_keys(
        entry,
        {
            "rtmr0_2_replayable",
            "rtmr3_from_runtime_events_ok",
            "n_event_log",
            "n_runtime_events",
            "attestation_report_data",
            "report_data_ascii",
            "app_info_expected",
        },
        _QUOTE_FIELDS | {"format"},
        "verifier_tdx-lite-attestation.json",
    )


def _json_log_case(vectors: Path, name: str) -> tuple[Any, Any]:
    folder = vectors / "dstack/upstream"
    if name.startswith("old-simulator"):
        quote = parse_quote(bytes.fromhex((folder / "old-simulator_quote.hex").read_text().strip()))
        log = parse_event_log_json((folder / "old-simulator_eventlog.json").read_bytes())
        return quote, log
    document = _json(folder / name)
    raw_log = document["event_log"]
    text = raw_log if isinstance(raw_log, str) else json.dumps(raw_log)
    return parse_quote(bytes.fromhex(document["quote"])), parse_event_log_json(text)


@pytest.mark.parametrize(
    "name",
    [
        "verifier_tdx-lite-getquote.json",
        "verifier_quote-report.json",
        "old-simulator_quote.hex + old-simulator_eventlog.json",
        "example-2025-01_attestation_report.json",
    ],
)
def test_json_event_logs_replay_every_rtmr(vectors: Path, name: str) -> None:
    entry = _upstream(vectors)[name]
    quote, log = _json_log_case(vectors, name)
    runtime = [RuntimeEvent(e.event, e.event_payload) for e in log if e.is_runtime]
    replay = replay_rtmrs(log, runtime, quote.body.rtmrs)
    for i in range(4):
        assert replay.matches[i] == entry[f"rtmr{i}_replay_ok"], f"{name}: RTMR{i}"
    assert len(log) == entry["n_event_log"]
    assert runtime == _runtime(entry["runtime_events"])
    assert all(e.digest for e in log if e.is_runtime) == entry["runtime_digests_present"]
    _check_keys(
        entry,
        {
            *(f"rtmr{i}_replay_ok" for i in range(4)),
            "n_event_log",
            "runtime_events",
            "runtime_digests_present",
        },
        _QUOTE_FIELDS | {"format", "report_data_ascii"},
        name,
    )


def test_stripped_getquote_log_needs_recomputed_runtime_digests(vectors: Path) -> None:
    quote, log = _json_log_case(vectors, "verifier_tdx-lite-getquote.json")
    naive = [e.digest for e in log if e.imr == 3]
    assert all(d == b"" for d in naive)
    from tdxquote.ratls import replay

    assert replay(d for d in naive) != quote.body.rtmr3  # type: ignore[union-attr]


def test_sev_snp_attestation_is_refused_cleanly(vectors: Path) -> None:
    entry = _upstream(vectors)["verifier_sev-snp-attestation.json"]
    payload = bytes.fromhex(
        _json(vectors / "dstack/upstream/verifier_sev-snp-attestation.json")["attestation"]
    )
    assert payload[:4].hex() == entry["first_bytes"]
    with pytest.raises(UnsupportedAttestationError) as info:
        decode_attestation(payload)
    assert info.value.found == "DstackAmdSevSnp"
    assert "DstackAmdSevSnp" in str(info.value)
    _check_keys(entry, {"first_bytes"}, {"format"}, "sev-snp")


def test_legacy_2024_certificate_is_unbound_and_malformed(vectors: Path) -> None:
    entry = _upstream(vectors)["legacy2024_app.cert"]
    data = (vectors / "dstack/upstream/legacy2024_app.cert").read_bytes()
    extensions = read_extensions(load_chain(data)[0])
    assert extensions.event_log == entry["ext"]["1.3.6.1.4.1.62397.1.2"].encode()
    assert extensions.app_id == entry["ext"]["1.3.6.1.4.1.62397.1.3"].encode()
    assert f"len {len(extensions.tdx_quote or b'')}" == entry["ext"]["1.3.6.1.4.1.62397.1.1"]
    assets = (vectors / "dstack/upstream/ratls_assets_tdx_quote.bin").read_bytes()
    assert (extract_tdx_quote(data) == assets) == entry["quote_equals_ratls_assets_tdx_quote"]
    with pytest.raises(QuoteParseError) as info:
        parse_certificate(data)
    assert info.value.field == "1.3.6.1.4.1.62397.1.2"
    report = certificate_report(data, unsafe_simulator=True)
    assert report["report_data_binding"] is entry["binding_ok"] is False
    assert report["expected_report_data"] == entry["expected_report_data"]
    assert report["verdict"]["error"]["code"] == "parse_error"
    assert report_exit_code(report) == 2
    _check_keys(
        entry,
        {"ext", "quote_equals_ratls_assets_tdx_quote", "binding_ok", "expected_report_data"},
        {"format", "note"},
        "legacy2024_app.cert",
    )


@pytest.mark.parametrize("name", ["legacy2024_app-no-quote.cert", "legacy2024_ca.cert"])
def test_certificates_without_attestation(vectors: Path, name: str) -> None:
    data = (vectors / "dstack/upstream" / name).read_bytes()
    assert extract_tdx_quote(data) is None
    with pytest.raises(NoAttestationError) as info:
        parse_certificate(data)
    assert info.value.code == "ratls_no_attestation"


def test_ccel_snapshot_parses_as_a_json_event_log(vectors: Path) -> None:
    text = (vectors / "dstack/upstream/cc-eventlog_parse_ccel-2.snap").read_text(encoding="utf-8")
    document = text[text.index("\n[") + 1 :]
    log = parse_event_log_json(document)
    assert len(log) == len(json.loads(document))
    assert {e.imr for e in log} <= {0, 1, 2, 3}
    assert all(len(e.digest) == 48 for e in log)


def test_attestation_oid_is_dstacks(vectors: Path) -> None:
    data = (vectors / "dstack/synthetic/ratls_v0_selfsigned.pem").read_bytes()
    assert OID_ATTESTATION in read_extensions(load_chain(data)[0]).oids
