"""Fuzz targets for the hostile edges: certificate bytes, collateral JSON, SCALE bytes.

Each target feeds its entry point inputs derived from real and forged seeds by
structure-aware mutations (DER trees re-encoded, JSON documents edited, SCALE
counts and lengths lied about) and by plain byte edits, and asserts the
documented contract: a result, or the documented errors, never anything else.

* ``test_fuzz_certificate_report``: certificate bytes -> ``certificate_report``
  (what ``tdxquote cert`` and ``probe`` print): never raises; the verdict's error
  code is a documented one; the report renders as JSON and text.
* ``test_fuzz_collateral_json``: ``QuoteCollateralV3`` JSON -> ``Collateral``
  and the TCB Info / QE identity / CRL / chain loaders: ``CollateralFormatError``
  only; what loads verifies a real quote with a verdict or a ``VerificationError``.
* ``test_fuzz_scale_envelope``: SCALE bytes -> ``decode_attestation``:
  ``RaTlsFormatError`` or ``UnsupportedAttestationError`` only; what decodes is
  canonical and within the limits.
* ``test_fuzz_event_log_json``: the legacy JSON event log, likewise.

The ``ci`` profile runs a few hundred examples each; ``HYPOTHESIS_PROFILE=fuzz``
runs 100,000 (``docs/testing.md``).  Findings become ``test_regression_*`` tests.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from _helpers import budget
from _mutations import JSON_VALUES, mutate_bytes, mutate_der, mutate_der_payload, mutate_json
from _no_warnings import no_user_warning
from _realworld import PERMISSIVE, corpus, verify
from hypothesis import given
from hypothesis import strategies as st

from tdxquote.collateral import (
    Collateral,
    CollateralFormatError,
    EnclaveIdentity,
    TcbInfo,
    load_chain,
    load_crl,
)
from tdxquote.errors import INTEL_ERRORS, QuoteParseError, VerificationError
from tdxquote.ratls import (
    RATLS_ERROR_CODES,
    RaTlsFormatError,
    RuntimeEvent,
    TdxEvent,
    UnsupportedAttestationError,
    certificate_report,
    decode_attestation,
    encode_attestation_v0,
    format_report,
    parse_certificate,
    parse_event_log_json,
    report_exit_code,
)
from tdxquote.ratls._envelope import MAX_ATTESTATION_SIZE
from tdxquote.ratls._eventlog import MAX_EVENT_FIELD_SIZE, MAX_EVENTS
from tdxquote.ratls._report import USAGE_ERROR_CODES
from tdxquote.ratls._scale import compact_bytes
from tdxquote.testing.ratls import ForgedCertificate, RaTlsForge
from tdxquote.verification import Verifier

DOCUMENTED_CODES = frozenset(INTEL_ERRORS) | frozenset(RATLS_ERROR_CODES) | USAGE_ERROR_CODES


# --- (a) certificate bytes -> the cert report ------------------------------------------------


@cache
def _forged() -> tuple[ForgedCertificate, ...]:
    forge = RaTlsForge.create(b"tdxquote fuzz edges")
    return (
        forge.certificate(issuer="ca"),
        forge.certificate(form="1.1-legacy"),
        forge.certificate(form="both", issuer="kms"),
    )


def _pem_blocks(text: bytes) -> list[bytes]:
    return [
        base64.b64decode(block)
        for block in re.findall(rb"-----BEGIN CERTIFICATE-----(.*?)-----END", text, re.S)
    ]


@cache
def _certificate_seeds(vectors: Path) -> tuple[tuple[bytes, ...], ...]:
    """Chains as lists of DER certificates, leaf first: forged ones and dstack's."""
    seeds = [tuple(made.chain_der) for made in _forged()]
    for name in (
        "synthetic/ratls_v0_selfsigned.pem",
        "synthetic/ratls_v0_simchain.pem",
        "synthetic/ratls_legacy_selfsigned.pem",
        "synthetic/UNVERIFIED_ratls_v1_msgpack_selfsigned.pem",
        "upstream/nearai-pmlsdk_app_cert_chain.pem",
    ):
        path = vectors / "dstack" / name
        if path.is_file():
            seeds.append(tuple(_pem_blocks(path.read_bytes())))
    legacy = vectors / "dstack" / "upstream" / "legacy2024_app.cert"
    if legacy.is_file():
        data = legacy.read_bytes()
        seeds.append(tuple(_pem_blocks(data)) if b"-----BEGIN" in data else (data,))
    return tuple(seed for seed in seeds if seed)


@cache
def _report_verifier() -> Verifier:
    return _forged()[0].verifier()


def _to_pem(der: bytes) -> bytes:
    body = base64.encodebytes(der).replace(b"\n", b"")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return b"-----BEGIN CERTIFICATE-----\n" + b"\n".join(lines) + b"\n-----END CERTIFICATE-----\n"


def _check_report(data: bytes | list[bytes]) -> None:
    with no_user_warning():
        _check_report_contract(data)


def _check_report_contract(data: bytes | list[bytes]) -> None:
    report = certificate_report(data, now=_forged()[0].now, verifier=_report_verifier())
    verdict = report["verdict"]
    assert isinstance(verdict, dict)
    if not verdict["ok"]:
        assert verdict["error"]["code"] in DOCUMENTED_CODES, verdict["error"]
    assert report_exit_code(report) in (0, 1, 2)
    json.dumps(report)
    format_report(report)
    with contextlib.suppress(QuoteParseError, VerificationError):
        parse_certificate(data)


@budget(80)
@given(data=st.data())
def test_fuzz_certificate_report(vectors: Path, data: st.DataObject) -> None:
    chain = list(data.draw(st.sampled_from(_certificate_seeds(vectors))))
    how = data.draw(st.sampled_from(["der-tree", "payload", "leaf-bytes", "pem-text", "random"]))
    if how == "der-tree":
        chain[0] = mutate_der(chain[0], data.draw)
    elif how == "payload":
        chain[0] = mutate_der_payload(chain[0], data.draw)
    elif how == "leaf-bytes":
        chain[0] = mutate_bytes(chain[0], data.draw, hot=600)
    elif how == "random":
        chain = [data.draw(st.binary(max_size=400))]
    if how == "pem-text":
        text = mutate_bytes(b"".join(_to_pem(der) for der in chain), data.draw, hot=4000)
        _check_report(text)
    elif data.draw(st.booleans()):
        _check_report(b"".join(chain))
    else:
        _check_report(chain)


# --- (b) collateral JSON -> models ----------------------------------------------------------

REAL = corpus()


@cache
def _collateral_seeds(vectors: Path) -> tuple[str, ...]:
    texts = [
        (vectors / "dcap-qvl" / name).read_text(encoding="utf-8")
        for name in ("tdx_quote_collateral.json", "sgx_quote_collateral.json")
    ]
    if REAL is not None:
        # One set per TEE, FMSPC and CA, and every TCB Info version: enough variety, few seeds.
        seen = set()
        for collateral_set in REAL.sets.values():
            key = (collateral_set.parameters, '"version":2' in collateral_set.text)
            if collateral_set.collateral is not None and key not in seen:
                seen.add(key)
                texts.append(collateral_set.text)
    return tuple(texts)


@cache
def _collateral_verifier() -> Verifier:
    return Verifier(policy=PERMISSIVE)


_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----", re.S)


def _mutate_pem(text: str, draw: st.DrawFn) -> str:
    blocks = list(_PEM_BLOCK.finditer(text))
    if not blocks:
        return mutate_bytes(text.encode(), draw).decode("latin-1")
    block = draw(st.sampled_from(blocks))
    der = base64.b64decode(block.group(2))
    mutated = mutate_der(der, draw) if draw(st.booleans()) else mutate_bytes(der, draw)
    pem = _to_pem(mutated).decode().replace("CERTIFICATE", block.group(1))
    return text[: block.start()] + pem + text[block.end() :]


def _mutate_collateral(text: str, draw: st.DrawFn) -> str:
    document = json.loads(text)
    key = draw(st.sampled_from(sorted(document)))
    value = document[key]
    how = draw(st.sampled_from(["outer", "field"]))
    if how == "outer":
        document = mutate_json(document, draw)
    elif key in ("tcb_info", "qe_identity") and isinstance(value, str):
        inner = json.loads(value)
        document[key] = json.dumps(mutate_json(inner, draw), separators=(",", ":"))
    elif key.endswith("_crl") and isinstance(value, str):
        der = bytes.fromhex(value)
        mutated = mutate_der(der, draw) if draw(st.booleans()) else mutate_bytes(der, draw)
        document[key] = mutated.hex()
    elif key.endswith("chain") and isinstance(value, str):
        document[key] = _mutate_pem(value, draw)
    elif isinstance(value, str):
        document[key] = draw(st.sampled_from([value[:-2], value + "00", value.upper(), "", "zz"]))
    else:
        document[key] = draw(JSON_VALUES)
    return json.dumps(document)


def _only_format_errors(load: Any, *args: Any) -> Any:
    try:
        return load(*args)
    except CollateralFormatError:
        return None


def _check_parts(text: str) -> None:
    """Each loader on the matching member, whatever the bundle as a whole does."""
    try:
        document = json.loads(text)
    except ValueError:
        return
    if not isinstance(document, dict):
        return
    for key, load in (("tcb_info", TcbInfo), ("qe_identity", EnclaveIdentity)):
        value = document.get(key)
        if isinstance(value, str):
            _only_format_errors(load.from_signed_body, value, bytes(64))
    for key in ("pck_crl", "root_ca_crl"):
        value = document.get(key)
        if isinstance(value, str):
            _only_format_errors(load_crl, value)
    for key in ("pck_crl_issuer_chain", "tcb_info_issuer_chain", "qe_identity_issuer_chain"):
        value = document.get(key)
        if isinstance(value, str):
            _only_format_errors(load_chain, value)


@budget(200)
@given(data=st.data())
def test_fuzz_collateral_json(vectors: Path, data: st.DataObject) -> None:
    seed = data.draw(st.sampled_from(_collateral_seeds(vectors)))
    text = _mutate_collateral(seed, data.draw)
    with no_user_warning():
        _check_collateral(text, seed, data)


def _check_collateral(text: str, seed: str, data: st.DataObject) -> None:
    _check_parts(text)
    collateral = _only_format_errors(Collateral.from_json, text)
    if collateral is None:
        return
    assert Collateral.from_json(collateral.to_json()).to_json() == collateral.to_json()
    if REAL is None:
        return
    original = Collateral.from_json(seed)
    from tdxquote.collateral._source import bundle_parameters

    wanted = bundle_parameters(original)
    quotes = [q for q, params in REAL.parameters.items() if params == wanted]
    if quotes:
        quote = REAL.parsed[data.draw(st.sampled_from(quotes))]
        starts = [original.tcb_info.issue_date, original.pck_crl.last_update_utc]
        now = int(max(starts).timestamp()) + 1
        verify(_collateral_verifier(), quote, collateral, now)  # type: ignore[arg-type]


# --- (c) SCALE bytes -> the envelope --------------------------------------------------------

_HOSTILE_LENGTHS = st.sampled_from(
    [
        MAX_EVENTS,
        MAX_EVENTS + 1,
        MAX_EVENT_FIELD_SIZE,
        MAX_EVENT_FIELD_SIZE + 1,
        MAX_ATTESTATION_SIZE,
        (1 << 30) - 1,
        1 << 30,
        (1 << 32) - 1,
    ]
)


def _claimed(draw: st.DrawFn, actual: int) -> bytes:
    """A compact length or count: the true one, a small lie, or a hostile one."""
    choice = draw(st.sampled_from(["true", "true", "true", "near", "hostile", "noncanonical"]))
    if choice == "true":
        return compact_bytes(actual)
    if choice == "near":
        return compact_bytes(max(0, actual + draw(st.integers(-2, 2))))
    if choice == "hostile":
        return compact_bytes(draw(_HOSTILE_LENGTHS))
    return (actual << 2 | 1).to_bytes(2, "little") if actual < 1 << 14 else compact_bytes(actual)


def _bytes_field(draw: st.DrawFn, max_size: int = 60) -> bytes:
    payload = draw(st.binary(max_size=max_size))
    return _claimed(draw, len(payload)) + payload


def _string_field(draw: st.DrawFn) -> bytes:
    text = draw(st.text(max_size=12)).encode("utf-8", "surrogatepass")
    if draw(st.integers(0, 9)) == 0:
        text += b"\xff"
    return _claimed(draw, len(text)) + text


def _list(draw: st.DrawFn, element: Any) -> bytes:
    items = [element(draw) for _ in range(draw(st.integers(0, 4)))]
    return _claimed(draw, len(items)) + b"".join(items)


def _tdx_event(draw: st.DrawFn) -> bytes:
    head = draw(st.binary(min_size=8, max_size=8))
    return head + _bytes_field(draw) + _string_field(draw) + _bytes_field(draw)


def _runtime_event(draw: st.DrawFn) -> bytes:
    return _string_field(draw) + _bytes_field(draw)


@st.composite
def scale_envelopes(draw: st.DrawFn) -> bytes:
    """V0 envelopes assembled field by field, each count or length possibly a lie."""
    version = draw(st.sampled_from([b"\x00"] * 6 + [b"\x01", b"\x83", b"\xde"]))
    variant = bytes([draw(st.sampled_from([0, 0, 0, 0, 1, 4, 5]))])
    quote = _bytes_field(draw, 120)
    body = (
        version
        + variant
        + quote
        + _list(draw, _tdx_event)
        + _list(draw, _runtime_event)
        + draw(st.binary(min_size=60, max_size=68))
        + _string_field(draw)
    )
    if draw(st.integers(0, 9)) == 0:
        body = body[: draw(st.integers(0, len(body)))]
    return body


@cache
def _real_envelopes(vectors: Path) -> tuple[bytes, ...]:
    found = [
        (vectors / "dstack" / name).read_bytes()
        for name in (
            "synthetic/attestation_v0_stripped_keyA.bin",
            "upstream/simulator_attestation.bin",
        )
        if (vectors / "dstack" / name).is_file()
    ]
    found.append(
        encode_attestation_v0(
            quote=b"q" * 8,
            event_log=(TdxEvent(3, 0x08000001, b"", "app-id", b"\x01" * 20),),
            runtime_events=(RuntimeEvent("compose-hash", b"\x02" * 32),),
            config="{}",
        )
    )
    return tuple(found)


def _check_envelope(data: bytes) -> None:
    try:
        decoded = decode_attestation(data)
    except RaTlsFormatError as exc:
        refused: RaTlsFormatError | None = exc
    except UnsupportedAttestationError:
        return
    else:
        refused = None
    if refused is not None:
        assert 0 <= refused.offset <= len(data)
        return
    assert len(decoded.event_log) <= MAX_EVENTS
    assert len(decoded.runtime_events) <= MAX_EVENTS
    again = encode_attestation_v0(
        quote=decoded.quote,
        event_log=decoded.event_log,
        runtime_events=decoded.runtime_events,
        report_data=decoded.report_data,
        config=decoded.config,
    )
    assert again == data, "an accepted encoding must be canonical"


@budget(400)
@given(data=st.data())
def test_fuzz_scale_envelope(vectors: Path, data: st.DataObject) -> None:
    if data.draw(st.booleans()):
        envelope = data.draw(scale_envelopes())
    else:
        seed = data.draw(st.sampled_from(_real_envelopes(vectors)))
        envelope = mutate_bytes(seed, data.draw, hot=5200)
    with no_user_warning():
        _check_envelope(envelope)


@cache
def _event_log_seed(vectors: Path) -> Any:
    path = vectors / "dstack" / "upstream" / "old-simulator_eventlog.json"
    return json.loads(path.read_text(encoding="utf-8"))


@budget(300)
@given(data=st.data())
def test_fuzz_event_log_json(vectors: Path, data: st.DataObject) -> None:
    seed = _event_log_seed(vectors)
    if data.draw(st.booleans()):
        text: str | bytes = json.dumps(mutate_json(seed, data.draw))
    else:
        text = mutate_bytes(json.dumps(seed).encode(), data.draw, hot=400)
    try:
        with no_user_warning():
            events = parse_event_log_json(text)
    except (RaTlsFormatError, UnsupportedAttestationError):
        return
    assert len(events) <= MAX_EVENTS


def test_the_seeds_are_accepted(vectors: Path) -> None:
    """The unmutated seeds pass, so the mutations start from valid inputs."""
    for envelope in _real_envelopes(vectors):
        decode_attestation(envelope)
    for text in _collateral_seeds(vectors):
        Collateral.from_json(text)
    report = certificate_report(
        _forged()[0].chain_pem, now=_forged()[0].now, verifier=_report_verifier()
    )
    assert report["verdict"]["ok"], report["verdict"]
    assert parse_event_log_json(json.dumps(_event_log_seed(vectors)))
    pytest.importorskip("construct")
