"""Event logs: the runtime digest, the JSON reader's strictness, and the replay rules."""

from __future__ import annotations

import contextlib
import hashlib
import json

import pytest
from _helpers import budget
from hypothesis import given, settings
from hypothesis import strategies as st

from tdxquote import QuoteParseError
from tdxquote.ratls import (
    RUNTIME_EVENT_TYPE,
    DstackEvents,
    RaTlsFormatError,
    RtmrMismatchError,
    RuntimeEvent,
    TdxEvent,
    UnsupportedAttestationError,
    parse_event_log_json,
    replay,
    replay_rtmrs,
    runtime_event_digest,
)

APP_ID = bytes.fromhex("5bb4ff9a3837357f19dc176407a5709c62eb6c56")


def test_runtime_digest_known_answer() -> None:
    # dstack-ra-tls.md §5.3: preimage 01000008 3a "app-id" 3a <app id>, digest ddd20244...a73d0a4f2.
    preimage = bytes.fromhex("010000083a") + b"app-id:" + APP_ID
    assert runtime_event_digest("app-id", APP_ID) == hashlib.sha384(preimage).digest()
    digest = runtime_event_digest("app-id", APP_ID).hex()
    assert digest.startswith("ddd202447c612b8bb8723d2ce3b9882b")
    assert digest.endswith("a73d0a4f2")
    assert RuntimeEvent("app-id", APP_ID).digest.hex() == digest


def test_replay_extends_from_zero() -> None:
    a, b = hashlib.sha384(b"a").digest(), hashlib.sha384(b"b").digest()
    assert replay([]) == bytes(48)
    assert replay([a, b]) == hashlib.sha384(hashlib.sha384(bytes(48) + a).digest() + b).digest()


def _entry(**fields: object) -> dict[str, object]:
    base: dict[str, object] = {
        "imr": 3,
        "event_type": RUNTIME_EVENT_TYPE,
        "digest": "",
        "event": "app-id",
        "event_payload": APP_ID.hex(),
    }
    base.update(fields)
    return base


def test_json_log_reads_entries_and_defaults_the_digest() -> None:
    entry = _entry()
    del entry["digest"]
    (event,) = parse_event_log_json(
        json.dumps([entry, _entry(preimage="00", unknown=1)])[:-1] + "]"
    )[:1]
    assert event == TdxEvent(3, RUNTIME_EVENT_TYPE, b"", "app-id", APP_ID)
    assert event.replay_digest() == runtime_event_digest("app-id", APP_ID)
    assert parse_event_log_json(b"[]") == ()


@pytest.mark.parametrize(
    ("document", "field", "text"),
    [
        ("{}", "event_log", "array"),
        ("[1]", "event_log[0]", "object"),
        ("[", "event_log", "not JSON"),
        ('[{"imr":3,"imr":3}]', "event_log", "duplicate"),
        (json.dumps([_entry(imr=-1)]), "event_log[0].imr", "outside"),
        (json.dumps([_entry(imr=True)]), "event_log[0].imr", "integer"),
        (json.dumps([_entry(event_type=1.5)]), "event_log[0].event_type", "integer"),
        (json.dumps([_entry(event_type=1 << 32)]), "event_log[0].event_type", "outside"),
        (json.dumps([_entry(digest="ab")]), "event_log[0].digest", "48 bytes"),
        (json.dumps([_entry(digest="zz" * 48)]), "event_log[0].digest", "hex"),
        (json.dumps([_entry(event_payload="abc")]), "event_log[0].event_payload", "hex"),
        (json.dumps([_entry(event_payload=" 00")]), "event_log[0].event_payload", "hex"),
        (json.dumps([_entry(event=None)]), "event_log[0].event", "string"),
        (
            json.dumps([{k: v for k, v in _entry().items() if k != "imr"}]),
            "event_log[0]",
            "missing",
        ),
        (json.dumps([_entry(version=3)]), "event_log[0].version", "version"),
        ("[" * 100_000, "event_log", "JSON"),
    ],
)
def test_json_log_rejects_malformed_entries(document: str, field: str, text: str) -> None:
    with pytest.raises(RaTlsFormatError, match=text) as info:
        parse_event_log_json(document)
    assert info.value.field == field


def test_json_log_reads_version_2_events_with_jcs_digests() -> None:
    (event,) = parse_event_log_json(json.dumps([_entry(version=2)]))
    assert event.version == 2
    expected = json.dumps(
        {"name": event.event, "payload": event.event_payload.hex(), "type": RUNTIME_EVENT_TYPE},
        sort_keys=True,
        separators=(",", ":"),
    ).encode()
    assert event.replay_digest() == hashlib.sha384(expected).digest()
    assert event.replay_digest() != runtime_event_digest(event.event, event.event_payload)


def test_json_log_checks_a_carried_preimage() -> None:
    preimage = b'{"name":"x","payload":"","type":134217729}'
    digest = hashlib.sha384(preimage).hexdigest()
    entry = _entry(version=2, digest=digest, preimage=preimage.hex(), event="x", event_payload="")
    (event,) = parse_event_log_json(json.dumps([entry]))
    assert event.preimage == preimage
    entry["preimage"] = (preimage + b" ").hex()
    with pytest.raises(RaTlsFormatError, match="preimage does not hash") as info:
        parse_event_log_json(json.dumps([entry]))
    assert info.value.field == "event_log[0].preimage"


def test_json_log_must_be_utf8() -> None:
    with pytest.raises(RaTlsFormatError, match="UTF-8"):
        parse_event_log_json(b"[\xff]")


@budget(300)
@given(st.one_of(st.binary(max_size=100), st.text(max_size=100)))
def test_json_log_raises_only_parse_errors(data: bytes | str) -> None:
    with contextlib.suppress(QuoteParseError, UnsupportedAttestationError):
        parse_event_log_json(data)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=300)
@given(
    st.lists(
        st.dictionaries(
            st.sampled_from(["imr", "event_type", "digest", "event", "event_payload", "version"]),
            _json_values,
        ),
        max_size=3,
    )
)
def test_json_log_with_hostile_values_raises_only_parse_errors(entries: list[object]) -> None:
    with contextlib.suppress(QuoteParseError, UnsupportedAttestationError):
        parse_event_log_json(json.dumps(entries))


# --- replay rules ------------------------------------------------------------------------


def _boot(imr: int, payload: bytes, event_type: int = 0x80000001) -> TdxEvent:
    return TdxEvent(imr, event_type, hashlib.sha384(payload).digest(), "", payload)


RUNTIME = (RuntimeEvent("system-preparing", b""), RuntimeEvent("app-id", APP_ID))
BOOT = (_boot(0, b"hob"), _boot(0, b"ACPI DATA", 0x0A), _boot(1, b"loader"), _boot(2, b"kernel"))


def _quoted(log: tuple[TdxEvent, ...], runtime: tuple[RuntimeEvent, ...]) -> list[bytes]:
    out = [replay(e.digest for e in log if e.imr == i) for i in range(3)]
    return [*out, replay(e.digest for e in runtime)]


def test_full_log_replays_every_register() -> None:
    log = (*BOOT, *(TdxEvent(3, RUNTIME_EVENT_TYPE, e.digest, e.event, e.payload) for e in RUNTIME))
    result = replay_rtmrs(log, RUNTIME, _quoted(log, RUNTIME))
    assert result.matches == (True, True, True, True)
    assert result.replayed_rtmrs == (0, 1, 2, 3)
    result.check()


def test_stripped_logs_cannot_replay_boot_registers() -> None:
    quoted = _quoted(BOOT, RUNTIME)
    markers_only = (TdxEvent(0, 0x0A, hashlib.sha384(b"m").digest(), "acpi-loader", b"ACPI DATA"),)
    for log in ((), markers_only):
        result = replay_rtmrs(log, RUNTIME, quoted)
        assert result.matches == (None, None, None, True)
        assert result.unreplayable_rtmrs == (0, 1, 2)
        assert "stripped" in result.reasons[0]
        result.check()
    digestless = (TdxEvent(1, 0x80000003, b"", "", b""),)
    assert replay_rtmrs(digestless, RUNTIME, quoted).matches[1] is None


def test_a_complete_log_that_does_not_replay_is_a_mismatch() -> None:
    quoted = _quoted(BOOT, RUNTIME)
    quoted[1] = bytes(48)
    result = replay_rtmrs(BOOT, RUNTIME, quoted)
    assert result.matches == (True, False, True, True)
    with pytest.raises(RtmrMismatchError) as info:
        result.check()
    assert info.value.index == 1
    assert info.value.quoted == bytes(48)


def test_rtmr3_comes_from_runtime_events_and_the_log_must_agree() -> None:
    quoted = _quoted(BOOT, RUNTIME)
    assert replay_rtmrs(BOOT, RUNTIME[:1], quoted).matches[3] is False
    # The log's RTMR3 entries (digests recomputed when stripped) must replay too.
    stripped = (TdxEvent(3, RUNTIME_EVENT_TYPE, b"", "system-preparing", b""),)
    result = replay_rtmrs((*BOOT, *stripped), RUNTIME, quoted)
    assert result.matches[3] is False
    assert "event log's RTMR3" in result.reasons[3]
    agreeing = tuple(TdxEvent(3, RUNTIME_EVENT_TYPE, b"", e.event, e.payload) for e in RUNTIME)
    assert replay_rtmrs((*BOOT, *agreeing), RUNTIME, quoted).matches[3] is True


def test_replay_needs_four_registers() -> None:
    with pytest.raises(ValueError, match="RTMR0 to RTMR3"):
        replay_rtmrs((), (), [bytes(48)] * 3)


def test_named_events_stop_at_system_ready() -> None:
    events = DstackEvents(
        (
            RuntimeEvent("app-id", b"\x01"),
            RuntimeEvent("init-script-hash", b"\x02"),
            RuntimeEvent("init-script-hash", b"\x03"),
            RuntimeEvent("key-provider", b'{"name":"kms","id":"00"}'),
            RuntimeEvent("system-ready", b""),
            RuntimeEvent("compose-hash", b"\xff"),
            RuntimeEvent("app-id", b"\xee"),
        )
    )
    assert events.app_id == b"\x01"
    assert events.compose_hash is None  # emitted by the application, after system-ready
    assert events.find_all("init-script-hash") == (b"\x02", b"\x03")
    assert [e.event for e in events.application_events] == ["compose-hash", "app-id"]
    assert events.key_provider_info == {"name": "kms", "id": "00"}
    assert DstackEvents((RuntimeEvent("key-provider", b"\xff"),)).key_provider_info is None
    assert DstackEvents(()).system_events == ()
