"""One normaliser for every pinned measurement, and lengths checked when the pin is made.

Every entry point that takes an MRTD, RTMR, REPORTDATA or event payload (the
policy builder and its ``Expect*`` checks, ``VerifyOptions`` in any spelling,
RA-TLS event pins, the CLI flags) reads it with
:func:`tdxquote._measurements.measurement`: bytes as-is, hex text with an
optional ``0x``, either case and whitespace.  A value of the wrong length is a
``ValueError`` naming the field and its size at once, never a policy that
refuses every quote (or, for a non-bytes value, pins something else).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tdxquote._measurements import BODY_FIELD_SIZES, body_field_size, measurement, measurements
from tdxquote.cli import main
from tdxquote.ratls import (
    EVENT_PAYLOAD_SIZES,
    VerifyOptions,
    attestation_checks,
    normalize_event_pins,
    parse_certificate,
    unsafe_check_simulator_certificate,
    verify_certificate,
)
from tdxquote.testing.forge import QuoteForge
from tdxquote.testing.ratls import RaTlsForge
from tdxquote.verification import ExpectField, ExpectMrTd, ExpectReportData, ExpectRtmr, Policy

SHORT = "91eb2b44"  # the first 4 bytes of a real MRTD: the mistake this file is about

# --- the sizes come from the schema ---------------------------------------------------------


def test_body_field_sizes_are_the_schemas() -> None:
    assert {name: BODY_FIELD_SIZES[name] for name in ("mr_td", "rtmr0", "rtmr3")} == dict.fromkeys(
        ("mr_td", "rtmr0", "rtmr3"), 48
    )
    for name in ("mr_seam", "mr_signer_seam", "mr_config_id", "mr_owner", "mr_owner_config"):
        assert BODY_FIELD_SIZES[name] == 48
    assert BODY_FIELD_SIZES["report_data"] == 64
    assert (BODY_FIELD_SIZES["mr_enclave"], BODY_FIELD_SIZES["mr_signer"]) == (32, 32)
    assert (BODY_FIELD_SIZES["xfam"], BODY_FIELD_SIZES["td_attributes"]) == (8, 8)
    assert not [name for name in BODY_FIELD_SIZES if name.startswith("reserved")]
    # integer fields are not measurements
    for name in ("isv_svn", "misc_select", "vmid"):
        with pytest.raises(ValueError, match="no report body has a byte field"):
            body_field_size(name)


# --- regression: a short MRTD built a policy that refused everything -------------------------

# Every public entry point that takes a measurement, with a value of the wrong length.
WRONG_LENGTH: dict[str, tuple[Callable[[], object], str, int]] = {
    "Policy.expect_mr_td": (lambda: Policy().expect_mr_td(SHORT), "mr_td", 48),
    "Policy.expect_mr_td (one of several)": (
        lambda: Policy().expect_mr_td("00" * 48, SHORT),
        "mr_td",
        48,
    ),
    "Policy.expect_mr_seam": (lambda: Policy().expect_mr_seam(SHORT), "mr_seam", 48),
    "Policy.expect_rtmr": (lambda: Policy().expect_rtmr(2, SHORT), "rtmr2", 48),
    "Policy.expect_mr_config_id": (lambda: Policy().expect_mr_config_id(SHORT), "mr_config_id", 48),
    "Policy.expect_mr_owner": (lambda: Policy().expect_mr_owner(b"\0" * 47), "mr_owner", 48),
    "Policy.expect_report_data": (
        lambda: Policy().expect_report_data("00" * 48),
        "report_data",
        64,
    ),
    "ExpectMrTd": (lambda: ExpectMrTd(SHORT), "mr_td", 48),
    "ExpectRtmr": (lambda: ExpectRtmr(0, "00" * 49), "rtmr0", 48),
    "ExpectReportData": (lambda: ExpectReportData(b"nonce"), "report_data", 64),
    "ExpectField(mr_enclave)": (lambda: ExpectField("mr_enclave", "00" * 48), "mr_enclave", 32),
    "VerifyOptions.allowed_mr_td": (
        lambda: VerifyOptions(allowed_mr_td=[SHORT]),
        "allowed_mr_td",
        48,
    ),
    "VerifyOptions.coerce(allowedMrTd)": (
        lambda: VerifyOptions.coerce({"allowedMrTd": ["0x" + SHORT]}),
        "allowedMrTd",
        48,
    ),
    "VerifyOptions.coerce(allowed_mrtds)": (
        lambda: VerifyOptions.coerce({"allowed_mrtds": ["00" * 48, SHORT]}),
        "allowed_mrtds",
        48,
    ),
    "expect_events compose-hash": (
        lambda: normalize_event_pins({"compose-hash": ["c143"]}),
        "compose-hash",
        32,
    ),
    "expect_events app-id": (lambda: normalize_event_pins({"app-id": "00" * 32}), "app-id", 20),
}


@pytest.mark.parametrize("entry", list(WRONG_LENGTH))
def test_regression_a_measurement_of_the_wrong_length_is_refused_when_built(entry: str) -> None:
    build, field, size = WRONG_LENGTH[entry]
    with pytest.raises(ValueError, match=f"{field}.*expected {size} bytes") as info:
        build()
    assert f"{2 * size} hex digits" in str(info.value)


def test_regression_a_number_is_not_a_measurement() -> None:
    # bytes(48) is 48 zero bytes: Policy().expect_mr_td(48) used to pin an all-zero MRTD.
    with pytest.raises(TypeError, match="mr_td: expected bytes or hex text, got int"):
        Policy().expect_mr_td(48)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="allowed_mr_td"):
        VerifyOptions(allowed_mr_td=[48])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="compose-hash"):
        normalize_event_pins({"compose-hash": [32]})  # type: ignore[list-item]


def test_ra_tls_functions_read_their_pins_before_anything_else() -> None:
    made = RaTlsForge.create(b"test_measurements").certificate()
    certificate = parse_certificate(made.chain_pem)
    bad = {"compose-hash": "c143"}
    for call in (
        lambda: verify_certificate(
            made.chain_pem, now=made.now, verifier=made.verifier(), expect_events=bad
        ),
        lambda: attestation_checks(certificate, bad),
        lambda: unsafe_check_simulator_certificate(certificate, expect_events=bad),
    ):
        with pytest.raises(ValueError, match=r"expect_events\['compose-hash'\]: expected 32 bytes"):
            call()


def test_event_pin_sizes() -> None:
    assert EVENT_PAYLOAD_SIZES["instance-id"] == (0, 20)
    assert normalize_event_pins({"instance-id": ""}) == {"instance-id": (b"",)}
    assert normalize_event_pins({"instance-id": ["ab" * 20]}) == {"instance-id": (b"\xab" * 20,)}
    with pytest.raises(ValueError, match="20 bytes"):
        normalize_event_pins({"instance-id": "ab" * 10})
    # events without a fixed size take any payload
    assert normalize_event_pins({"key-provider": b'{"name":"kms"}'}) == {
        "key-provider": (b'{"name":"kms"}',)
    }
    with pytest.raises(ValueError, match="give at least one value"):
        normalize_event_pins({"app-id": []})
    with pytest.raises(TypeError, match="expected a mapping"):
        normalize_event_pins(["app-id"])  # type: ignore[arg-type]


# --- the CLI --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def quote_files(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    scenario = QuoteForge.create(b"test_measurements cli").scenario()
    folder = tmp_path_factory.mktemp("measurements")
    (folder / "quote.bin").write_bytes(scenario.quote_bytes)
    (folder / "collateral.json").write_text(scenario.collateral_json())
    (folder / "root.pem").write_bytes(scenario.trust_root_pem)
    at = str(int(scenario.now.timestamp()))
    return [
        str(folder / "quote.bin"),
        "--collateral",
        str(folder / "collateral.json"),
        "--trust-root",
        str(folder / "root.pem"),
        "--at",
        at,
    ]


@pytest.mark.parametrize(
    ("flags", "field", "size"),
    [
        (["--expect-mr-td", SHORT], "mr_td", 48),
        (["--expect-mr-td", "00" * 48, "--expect-mr-td", SHORT], "mr_td", 48),
        (["--expect-rtmr", f"1:{SHORT}"], "rtmr1", 48),
        (["--expect-report-data", "00" * 48], "report_data", 64),
    ],
)
def test_regression_cli_measurement_flags_are_checked(
    quote_files: list[str],
    capsys: pytest.CaptureFixture[str],
    flags: list[str],
    field: str,
    size: int,
) -> None:
    assert main(["verify", *quote_files, "--json", *flags]) == 2
    error = json.loads(capsys.readouterr().out)["error"]
    assert error["code"] == "usage_error"
    assert f"{field}: expected {size} bytes" in error["message"]


def test_cli_measurement_flags_take_any_hex_spelling(
    quote_files: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    from tdxquote.testing.forge import DEFAULT_MR_TD

    spelled = "0X" + DEFAULT_MR_TD.hex().upper()
    assert main(["verify", *quote_files, "--expect-mr-td", spelled]) == 0
    capsys.readouterr()


def test_regression_cert_event_pin_flags_are_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    made = RaTlsForge.create(b"test_measurements cert").certificate()
    cert = tmp_path / "cert.pem"
    cert.write_bytes(made.chain_pem)
    code = main(
        ["cert", str(cert), "--json", "--unsafe-simulator", "--expect-compose-hash", "c143"]
    )
    out = capsys.readouterr().out
    assert code == 2
    message = json.dumps(json.loads(out))
    assert "compose-hash" in message
    assert "expected 32 bytes" in message


# --- properties of the normaliser ------------------------------------------------------------

FIELDS = sorted(BODY_FIELD_SIZES)


@st.composite
def spelled(draw: st.DrawFn, data: bytes) -> Any:
    """``data`` as a caller may write it: bytes-like, or hex in any case, 0x, whitespace."""
    kind = draw(st.sampled_from(["bytes", "bytearray", "memoryview", "text"]))
    if kind == "bytes":
        return data
    if kind == "bytearray":
        return bytearray(data)
    if kind == "memoryview":
        return memoryview(data)
    digits = "".join(c.upper() if draw(st.booleans()) else c for c in data.hex())
    pieces = []
    for index, digit in enumerate(digits):
        if index and draw(st.integers(0, 9)) == 0:
            pieces.append(draw(st.sampled_from([" ", "\n", "\t", "  "])))
        pieces.append(digit)
    prefix = draw(st.sampled_from(["", "0x", "0X"]))
    padding = draw(st.sampled_from(["", " ", "\n"]))
    return padding + prefix + "".join(pieces) + padding


@given(st.data())
def test_any_spelling_of_a_measurement_reads_back_as_its_bytes(data: st.DataObject) -> None:
    field = data.draw(st.sampled_from(FIELDS))
    size = BODY_FIELD_SIZES[field]
    value = data.draw(st.binary(min_size=size, max_size=size))
    written = data.draw(spelled(value))
    assert measurement(written, field=field, size=size) == value
    assert ExpectField(field, written).values == (value,)


@given(st.data())
def test_any_wrong_length_is_a_value_error_naming_the_field(data: st.DataObject) -> None:
    field = data.draw(st.sampled_from(FIELDS))
    size = BODY_FIELD_SIZES[field]
    length = data.draw(st.integers(0, 128).filter(lambda n: n != size))
    written = data.draw(spelled(data.draw(st.binary(min_size=length, max_size=length))))
    with pytest.raises(ValueError, match=f"^{field}: expected {size} bytes") as info:
        measurement(written, field=field, size=size)
    assert f"got {length} bytes" in str(info.value)
    with pytest.raises(ValueError, match=f"^{field}: expected {size} bytes"):
        ExpectField(field, written)


@given(
    st.text(min_size=1).filter(
        lambda t: any(c not in "0123456789abcdefABCDEF \t\n\r\x0b\x0cxX" for c in t)
    )
)
def test_text_that_is_not_hex_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError, match=r"^mr_td: .* is not hex"):
        measurement(text, field="mr_td", size=48)


def test_odd_digits_and_misplaced_prefixes_are_not_hex() -> None:
    for text in ("abc", "0x0xab", "ab0x", "0x", "x" + "00" * 48, "0x" + "0" * 95):
        with pytest.raises(ValueError, match="mr_td"):
            measurement(text, field="mr_td", size=48)
    assert measurement("", field="instance-id", size=(0, 20)) == b""
    assert measurement("0x", field="payload", size=None) == b""


def test_measurements_wants_a_list() -> None:
    with pytest.raises(TypeError, match="single str"):
        measurements("00" * 48, field="mr_td", size=48)
    with pytest.raises(TypeError, match="expected a list of values, got int"):
        measurements(48, field="mr_td", size=48)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least one value"):
        measurements([], field="mr_td", size=48)


def test_field_sizes_read_from_the_layout_table_match_the_construct_schemas() -> None:
    import construct as c

    from tdxquote.schema import SGX_REPORT, TD_REPORT_15EX

    expected: dict[str, int] = {}
    for schema in (TD_REPORT_15EX, SGX_REPORT):
        for sub in schema.subcons:
            name = sub.name
            if name and not name.startswith("reserved") and isinstance(sub.subcon, c.Bytes):
                expected.setdefault(name, int(sub.sizeof()))
    assert dict(BODY_FIELD_SIZES) == expected
