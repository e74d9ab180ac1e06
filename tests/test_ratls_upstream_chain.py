"""The one real dstack RA-TLS chain with a valid key binding (nearai/private-ml-sdk, 2025).

``dstack/upstream/nearai-pmlsdk_app_cert_chain.pem`` is ``[leaf "demo-cert", dstack App CA,
dstack KMS CA]`` in the legacy form (``.1.1`` quote + ``.1.2`` JSON log), with a genuine
Intel-signed quote bound to the leaf's key.  Every entry of ``upstream/expected.json`` for it
is checked here except ``quote`` (its leaf's quote fields: ``test_parse_vectors.py``).

There is no DCAP collateral for its FMSPC (20a06f000000) in the corpus and tests never go to
the network, so DCAP verification of this quote is **not** done: everything else is, and the
DCAP step is shown to run and to refuse the only collateral at hand.  The leaf's private key
is not published, so no server can present this chain (the probe tests use forged chains).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tdxquote import Collateral, VerificationError, parse_quote
from tdxquote.cli import main
from tdxquote.ratls import (
    BindingMismatchError,
    DcapVerifier,
    KeyUsageError,
    RuntimeEvent,
    VerifyOptions,
    attestation_checks,
    certificate_report,
    parse_certificate,
    parse_event_log_json,
    replay_rtmrs,
    verify_certificate,
)

CHAIN = "dstack/upstream/nearai-pmlsdk_app_cert_chain.pem"
INFO = "dstack/upstream/nearai-pmlsdk_dstack_info.json"
QUOTE = "dstack/upstream/nearai-pmlsdk_dstack_quote.json"
PROSE = {"format", "note", "mr_aggregated_rule", "device_id_note"}


def _expected(vectors: Path, name: str) -> dict[str, Any]:
    document = json.loads((vectors / "dstack/upstream/expected.json").read_text())
    return document[Path(name).name]  # type: ignore[no-any-return]


def _json(vectors: Path, name: str) -> Any:
    return json.loads((vectors / name).read_text(encoding="utf-8"))


def _name(name: x509.Name) -> str:
    return name.rfc4514_string()


def _dstack_extensions(cert: x509.Certificate) -> dict[str, str]:
    out: dict[str, str] = {}
    for extension in cert.extensions:
        oid = extension.oid.dotted_string
        if not oid.startswith("1.3.6.1.4.1.62397.1."):
            continue
        wrapped: bytes = extension.value.value  # type: ignore[attr-defined]
        payload = wrapped[4:] if wrapped[1] == 0x82 else wrapped[2:]  # 04 82 LL LL | 04 LL
        if oid.endswith((".1", ".2")):
            out[oid] = f"len {len(payload)}"
        elif oid.endswith(".3"):
            out[oid] = payload.hex()
        else:
            out[oid] = payload.decode()
    return out


def test_the_chain_binds_replays_and_matches_every_expected_value(vectors: Path) -> None:
    expected = _expected(vectors, CHAIN)
    cert = parse_certificate((vectors / CHAIN).read_bytes())
    checked: set[str] = set()

    def check(key: str, actual: object) -> None:
        assert actual == expected[key], key
        checked.add(key)

    assert cert.format == "1.1-legacy"
    check("leaf_spki_der", cert.spki.hex())
    check("expected_report_data", cert.binding.expected.hex())
    check("binding_ok", cert.binding.ok)
    check("chain_signatures_ok", cert.chain_links_verify)
    check(
        "chain",
        [
            {
                "dstack_ext": _dstack_extensions(c),
                "issuer": _name(c.issuer),
                "not_after": str(c.not_valid_after_utc),
                "not_before": str(c.not_valid_before_utc),
                "subject": _name(c.subject),
            }
            for c in cert.chain
        ],
    )
    for i in range(4):
        check(f"rtmr{i}_replay_ok", cert.replay.matches[i])
    check("n_event_log", len(cert.attestation.event_log))
    check(
        "runtime_events",
        [[e.event, e.payload.hex()] for e in cert.events.events],
    )
    runtime_log = [e for e in cert.attestation.event_log if e.is_runtime]
    check("runtime_digests_present", all(e.digest for e in runtime_log))
    check(
        "runtime_digests_v1_recompute_ok",
        all(e.digest == e._replace(digest=b"").replay_digest() for e in runtime_log),
    )
    check("ext_1_3_app_id_equals_app_id_event", cert.extensions.app_id == cert.events.app_id)
    kms_spki = cert.chain_root.public_key().public_bytes(
        Encoding.DER, PublicFormat.SubjectPublicKeyInfo
    )
    check(
        "key_provider_id_equals_kms_ca_spki",
        (cert.events.key_provider_info or {}).get("id") == kms_spki.hex(),
    )
    compose = cert.events.compose_hash or b""
    check(
        "mr_config_id_is_v1_of_compose_hash",
        cert.body.mr_config_id == (b"\x01" + compose + bytes(48))[:48],
    )
    check("mr_aggregated_computed", cert.mr_aggregated.hex())
    info = _json(vectors, INFO)
    check(
        "mr_aggregated_equals_guest_agent_value",
        cert.mr_aggregated.hex() == info["tcb_info"]["mr_aggregated"],
    )
    leftover = set(expected) - checked - PROSE - {"quote"}
    assert not leftover, f"expected keys nobody checks: {sorted(leftover)}"


def test_guest_agent_info_matches_what_the_certificate_attests(vectors: Path) -> None:
    """``Info()`` of the same CVM: every value is recomputed from the certificate."""
    expected = _expected(vectors, INFO)
    info = _json(vectors, INFO)
    cert = parse_certificate(info["app_cert"])
    events = cert.events
    tcb = info["tcb_info"]
    assert cert.sha256 == parse_certificate((vectors / CHAIN).read_bytes()).sha256
    assert (events.app_id or b"").hex() == info["app_id"] == expected["app_id"]
    assert (events.compose_hash or b"").hex() == info["compose_hash"] == expected["compose_hash"]
    assert (events.instance_id or b"").hex() == info["instance_id"] == expected["instance_id"]
    assert (events.key_provider or b"").decode() == info["key_provider_info"]
    assert info["key_provider_info"] == expected["key_provider_info"]
    assert (events.os_image_hash or b"").hex() == info["os_image_hash"]
    assert info["os_image_hash"] == expected["os_image_hash"]
    # dstack's own mr_aggregated, reproduced exactly (reference §6).
    assert cert.mr_aggregated.hex() == tcb["mr_aggregated"] == expected["mr_aggregated"]
    assert cert.mr_aggregated.hex() == (
        "9ffeac39dd83c5239c2e4742db79650419d40c40b40db45cc007cab3965b7d4c"
    )
    # device_id: reproduced as SHA-256 of the quote header's QE identity (not of the PPID).
    assert cert.device_id.hex() == info["device_id"] == expected["device_id"]
    assert tcb["device_id"] == info["device_id"]
    body = cert.body
    assert (body.mr_td.hex(), *(r.hex() for r in body.rtmrs)) == (
        tcb["mrtd"],
        tcb["rtmr0"],
        tcb["rtmr1"],
        tcb["rtmr2"],
        tcb["rtmr3"],
    )
    checked = {"tcb_info_matches_leaf_quote": True}
    compose_text = tcb["app_compose"].encode()
    checked["sha256_app_compose_equals_compose_hash"] = (
        hashlib.sha256(compose_text).hexdigest() == info["compose_hash"]
    )
    log = parse_event_log_json(json.dumps(tcb["event_log"]))
    checked["tcb_info_event_log_equals_leaf_ext_1_2"] = log == cert.attestation.event_log
    for key, value in checked.items():
        assert value == expected[key], key
    keys = {
        "app_id",
        "compose_hash",
        "device_id",
        "instance_id",
        "key_provider_info",
        "mr_aggregated",
        "os_image_hash",
        *checked,
    }
    assert set(expected) - keys - PROSE == set()


def test_same_td_unbound_quote_is_refused_as_a_binding(vectors: Path) -> None:
    """``Info``'s GetQuote sample: the same TD (measurements), report data 0x01 x 64."""
    expected = _expected(vectors, QUOTE)
    document = _json(vectors, QUOTE)
    quote = parse_quote(bytes.fromhex(document["quote"]))
    cert = parse_certificate((vectors / CHAIN).read_bytes())
    same = quote.body.mr_td == cert.body.mr_td and quote.body.rtmrs == cert.body.rtmrs  # type: ignore[union-attr]
    assert same is expected["same_td_as_app_cert_chain"] is True
    log = parse_event_log_json(document["event_log"])
    replay = replay_rtmrs(log, [], quote.body.rtmrs)  # type: ignore[union-attr]
    for i in range(3):
        assert replay.matches[i] == expected[f"rtmr{i}_replay_ok"]
    runtime = [e for e in log if e.is_runtime]
    full = replay_rtmrs(
        log, [RuntimeEvent(e.event, e.event_payload) for e in runtime], quote.body.rtmrs
    )  # type: ignore[union-attr]
    assert full.matches[3] == expected["rtmr3_replay_ok"]
    # A genuine quote of the very same TD, but REPORTDATA binds no key: refused for this leaf.
    assert quote.body.report_data == b"\x01" * 64  # type: ignore[union-attr]
    verifier = DcapVerifier(lambda _q: pytest.fail("no DCAP before the binding"), now=0)
    with pytest.raises(BindingMismatchError) as info:
        asyncio.run(verifier.verify_with_pubkey(quote.to_bytes(), VerifyOptions(), cert.der))
    assert info.value.expected == cert.binding.expected


def test_client_role_and_the_checks_that_need_no_collateral(vectors: Path) -> None:
    cert = parse_certificate((vectors / CHAIN).read_bytes())
    # The leaf is an app certificate for TLS clients: EKU clientAuth only.
    assert attestation_checks(cert, role="client") == (
        "ratls_attestation",
        "ratls_binding",
        "ratls_rtmr_replay",
        "ratls_key_usage",
    )
    with pytest.raises(KeyUsageError):
        attestation_checks(cert, role="server")
    pins = {"compose-hash": cert.events.compose_hash or b""}
    aggregated = "9ffeac39dd83c5239c2e4742db79650419d40c40b40db45cc007cab3965b7d4c"
    assert attestation_checks(cert, pins, expect_mr_aggregated=aggregated)[-2:] == (
        "ratls_event_pins",
        "ratls_mr_aggregated",
    )


def test_dcap_runs_and_refuses_the_only_collateral_at_hand(vectors: Path) -> None:
    """No collateral for FMSPC 20a06f000000 exists here: DCAP is reached, and refuses."""
    collateral = Collateral.from_json(
        (vectors / "dstack/upstream/kms-pr538_tdx_quote_collateral.json").read_text()
    )
    with pytest.raises(VerificationError) as info:
        verify_certificate(
            (vectors / CHAIN).read_bytes(), collateral=collateral, now=1750400000, role="client"
        )
    assert info.value.checks_passed[:4] == (
        "ratls_attestation",
        "ratls_binding",
        "ratls_rtmr_replay",
        "ratls_key_usage",
    )
    assert info.value.code == "tcb_info_mismatch"
    assert "20a06f000000" in str(info.value)


def test_cert_cli_client_view(vectors: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = str(vectors / CHAIN)
    assert main(["cert", path, "--client", "--unsafe-simulator", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)["result"]
    assert report["role"] == "client"
    assert report["extended_key_usage"] == ["clientAuth"]
    assert report["mr_aggregated"] == _expected(vectors, CHAIN)["mr_aggregated_computed"]
    assert report["device_id"] == _expected(vectors, INFO)["device_id"]
    assert report["verdict"]["checks"][-1] == "ratls_key_usage"
    assert main(["cert", path, "--unsafe-simulator"]) == 0  # no role: usage not checked
    out = capsys.readouterr().out
    assert "mr_aggregated:  9ffeac39" in out
    # The server view of a client-only certificate is refused by its key usage.
    report = certificate_report(
        (vectors / CHAIN).read_bytes(), unsafe_simulator=True, role="server"
    )
    assert report["verdict"]["error"]["code"] == "ratls_key_usage"
    assert main(["cert", path, "--unsafe-simulator", "--expect-mr-aggregated", "00" * 32]) == 1
    capsys.readouterr()
