"""The SGX extension of PCK leaf certificates (``tdxquote.pck``)."""

from __future__ import annotations

import dataclasses
import datetime
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import given
from hypothesis import strategies as st

from tdxquote import _der
from tdxquote.errors import QuoteParseError
from tdxquote.pck import (
    SGX_EXTENSION_OID,
    PckConfiguration,
    PckExtension,
    PckTcb,
    SgxType,
    encode_pck_extension,
    parse_pck_extension,
    pck_extension_from_certificate,
)

GTG_QUOTES = ["tdx_prod_quote_SPR_E4", "quote_v5_sample", "cos-113-tdx-quote"]
PCK_SELECTION_SAMPLES = [f"intel-dcap/pck-cert-selection/pck{i}_sample.pem" for i in range(7)]
ALL_PCK_LEAVES = [
    *(f"go-tdx-guest/derived/{name}.pck_chain.pem" for name in GTG_QUOTES),
    *PCK_SELECTION_SAMPLES,
    "peers/intel-sgx-ra/pck_cert.pem",
    "intel-dcap/qvl-sampleData/sgx/pckCert.pem",
    "intel-dcap/qvl-sampleData/tdx/pckCert.pem",
]


def _leaf(vectors: Path, relative: str) -> x509.Certificate:
    return x509.load_pem_x509_certificates((vectors / relative).read_bytes())[0]


def _raw_value(cert: x509.Certificate) -> bytes:
    ext = cert.extensions.get_extension_for_oid(x509.ObjectIdentifier(SGX_EXTENSION_OID))
    assert isinstance(ext.value, x509.UnrecognizedExtension)
    return ext.value.value


# --------------------------------------------------------------------------- synthetic builder

SAMPLE = PckExtension(
    ppid=bytes(range(16)),
    tcb=PckTcb(
        sgx_components=(3, 3, 2, 2, 2, 1, 0, 2, 0, 0, 0, 0, 0, 0, 128, 255),
        pce_svn=11,
        cpu_svn=bytes.fromhex("03030202020100020000000000000000"),
    ),
    pce_id=b"\x00\x00",
    fmspc=bytes.fromhex("50806f000000"),
    sgx_type=SgxType.SCALABLE,
    platform_instance_id=bytes(range(100, 116)),
    configuration=PckConfiguration(dynamic_platform=True, cached_keys=False, smt_enabled=True),
)
PROCESSOR_SAMPLE = dataclasses.replace(
    SAMPLE, sgx_type=SgxType.STANDARD, platform_instance_id=None, configuration=None
)


def _entry(arc: str, value: bytes) -> bytes:
    return _der.encode_sequence(_der.encode_oid(f"{SGX_EXTENSION_OID}.{arc}"), value)


def _tcb_entries(
    comps: tuple[int, ...] = SAMPLE.tcb.sgx_components,
    pce_svn: bytes | None = None,
    cpu_svn: bytes | None = None,
) -> list[bytes]:
    entries = [_entry(f"2.{i}", _der.encode_integer(svn)) for i, svn in enumerate(comps, 1)]
    entries.append(_entry("2.17", pce_svn or _der.encode_integer(SAMPLE.tcb.pce_svn)))
    entries.append(_entry("2.18", cpu_svn or _der.encode_octet_string(SAMPLE.tcb.cpu_svn)))
    return entries


def _config_entries(flags: tuple[bytes, ...] = (b"\xff", b"\x00", b"\xff")) -> list[bytes]:
    return [
        _entry(f"7.{i}", _der.encode_tlv(_der.BOOLEAN, flag)) for i, flag in enumerate(flags, 1)
    ]


def _top_entries(
    *,
    ppid: bytes | None = None,
    tcb: bytes | None = None,
    pce_id: bytes | None = None,
    fmspc: bytes | None = None,
    sgx_type: bytes | None = None,
    platform_instance_id: bytes | None = None,
    configuration: bytes | None = None,
    platform: bool = True,
) -> list[bytes]:
    """Encoded top-level entries of SAMPLE (or PROCESSOR_SAMPLE), each value overridable."""
    entries = [
        _entry("1", ppid or _der.encode_octet_string(SAMPLE.ppid)),
        _entry("2", tcb or _der.encode_sequence(*_tcb_entries())),
        _entry("3", pce_id or _der.encode_octet_string(SAMPLE.pce_id)),
        _entry("4", fmspc or _der.encode_octet_string(SAMPLE.fmspc)),
        _entry("5", sgx_type or _der.encode_enumerated(1 if platform else 0)),
    ]
    if platform:
        pid = platform_instance_id or _der.encode_octet_string(bytes(range(100, 116)))
        entries.append(_entry("6", pid))
        entries.append(_entry("7", configuration or _der.encode_sequence(*_config_entries())))
    return entries


def _ext(entries: list[bytes]) -> bytes:
    return _der.encode_sequence(*entries)


def _parse_error(value: bytes) -> QuoteParseError:
    with pytest.raises(QuoteParseError) as info:
        parse_pck_extension(value)
    err = info.value
    assert 0 <= err.offset <= len(value)
    return err


def _offset_of(value: bytes, needle: bytes, occurrence: int = 1) -> int:
    pos = -1
    for _ in range(occurrence):
        pos = value.index(needle, pos + 1)
    return pos


# --------------------------------------------------------------------------- real leaves


@pytest.mark.parametrize("quote", GTG_QUOTES)
def test_go_tdx_guest_leaves_match_expected_json(vectors: Path, quote: str) -> None:
    expected_all = json.loads((vectors / "go-tdx-guest" / "expected.json").read_text())
    expected = expected_all[quote]["pck_sgx_extensions"]
    cert = _leaf(vectors, "go-tdx-guest/" + expected_all[quote]["pck_chain_file"])
    assert len(cert.extensions) == expected["x509_extension_count"]

    ext = pck_extension_from_certificate(cert)
    assert ext.ppid.hex() == expected["ppid"]
    assert list(ext.tcb.sgx_components) == expected["sgx_tcb_comp_svns"]
    assert ext.sgx_components == ext.tcb.sgx_components
    assert ext.tcb.pce_svn == ext.pce_svn == expected["pcesvn"]
    assert ext.tcb.cpu_svn.hex() == ext.cpu_svn.hex() == expected["cpusvn"]
    assert ext.pce_id.hex() == expected["pceid"]
    assert ext.fmspc.hex() == expected["fmspc"]
    assert ext.fmspc_hex == expected["fmspc"].upper()
    assert ext.sgx_type == expected["sgx_type"]
    assert isinstance(ext.sgx_type, SgxType)
    assert expected["sgx_extension_entries"] == 7
    assert ext.ca_type == "platform"
    assert ext.platform_instance_id is not None
    assert ext.platform_instance_id.hex() == expected["platform_instance_id"]
    flags = {"ff": True, "00": False}
    config = expected["configuration"]
    assert ext.configuration == PckConfiguration(
        dynamic_platform=flags[config["1"]],
        cached_keys=flags[config["2"]],
        smt_enabled=flags[config["3"]],
    )


def test_spr_e4_leaf_in_detail(vectors: Path) -> None:
    # The values quoted in reference/dcap-reference-implementations.md section 2.9.
    expected_all = json.loads((vectors / "go-tdx-guest" / "expected.json").read_text())
    entry = expected_all["tdx_prod_quote_SPR_E4"]
    ext = pck_extension_from_certificate(_leaf(vectors, "go-tdx-guest/" + entry["pck_chain_file"]))
    assert ext.fmspc_hex == "50806F000000"
    assert ext.sgx_components[:8] == (3, 3, 2, 2, 2, 1, 0, 2)
    assert ext.sgx_type is SgxType.SCALABLE


@pytest.mark.parametrize("relative", PCK_SELECTION_SAMPLES)
def test_processor_ca_samples(vectors: Path, relative: str) -> None:
    cert = _leaf(vectors, relative)
    ext = pck_extension_from_certificate(cert)
    # intel-dcap/SOURCE.md: Processor-CA form, FMSPC 00707f000000, SGX type 0.
    assert ext.ca_type == "processor"
    assert ext.platform_instance_id is None
    assert ext.configuration is None
    assert ext.fmspc_hex == "00707F000000"
    assert ext.sgx_type is SgxType.STANDARD
    assert len(ext.sgx_components) == 16
    assert all(0 <= svn <= 255 for svn in ext.sgx_components)
    # These samples mark the SGX extension critical; the value parses all the same.
    sgx = cert.extensions.get_extension_for_oid(x509.ObjectIdentifier(SGX_EXTENSION_OID))
    assert sgx.critical


def test_pck_selection_samples_differ_in_tcb(vectors: Path) -> None:
    tcbs = {pck_extension_from_certificate(_leaf(vectors, r)).tcb for r in PCK_SELECTION_SAMPLES}
    assert len(tcbs) == 7  # "varying comps/PCESVN"


def test_qvl_sample_leaves(vectors: Path) -> None:
    # Values documented in intel-dcap/SOURCE.md.
    sgx = pck_extension_from_certificate(
        _leaf(vectors, "intel-dcap/qvl-sampleData/sgx/pckCert.pem")
    )
    assert sgx.ca_type == "processor"
    assert sgx.fmspc.hex() == "00707f000000"
    assert sgx.sgx_components[:8] == (0, 3, 0, 0, 0, 1, 1, 0)
    assert sgx.pce_svn == 3

    tdx = pck_extension_from_certificate(
        _leaf(vectors, "intel-dcap/qvl-sampleData/tdx/pckCert.pem")
    )
    assert tdx.ca_type == "processor"
    assert tdx.fmspc.hex() == "ed742af8adf5"
    assert tdx.pce_id.hex() == "8a67"
    # Components >= 128 are two-octet INTEGERs (00 c1); PCESVN > 255.
    assert tdx.sgx_components == (
        82,
        193,
        163,
        140,
        247,
        237,
        243,
        10,
        82,
        75,
        78,
        187,
        4,
        159,
        89,
        199,
    )
    assert tdx.pce_svn == 10593
    assert tdx.cpu_svn == bytes(tdx.sgx_components)


def test_intel_sgx_ra_leaf(vectors: Path) -> None:
    ext = pck_extension_from_certificate(_leaf(vectors, "peers/intel-sgx-ra/pck_cert.pem"))
    assert ext.ca_type == "platform"
    assert ext.configuration is not None
    assert len(ext.fmspc) == 6
    assert ext.sgx_type is SgxType.SCALABLE


@pytest.mark.parametrize("relative", ALL_PCK_LEAVES)
def test_real_values_re_encode_byte_exact(vectors: Path, relative: str) -> None:
    raw = _raw_value(_leaf(vectors, relative))
    ext = parse_pck_extension(raw)
    assert encode_pck_extension(ext) == raw
    assert parse_pck_extension(bytearray(raw)) == ext
    assert parse_pck_extension(memoryview(raw)) == ext


def test_every_truncation_of_a_real_value_is_rejected(vectors: Path) -> None:
    raw = _raw_value(_leaf(vectors, "go-tdx-guest/derived/tdx_prod_quote_SPR_E4.pck_chain.pem"))
    for cut in range(len(raw)):
        _parse_error(raw[:cut])


def test_certificate_without_sgx_extension(vectors: Path) -> None:
    chain = x509.load_pem_x509_certificates(
        (vectors / "go-tdx-guest/derived/tdx_prod_quote_SPR_E4.pck_chain.pem").read_bytes()
    )
    for ca in chain[1:]:
        with pytest.raises(QuoteParseError, match="no SGX extension") as info:
            pck_extension_from_certificate(ca)
        assert (info.value.offset, info.value.field) == (0, "pck_extension")


# --------------------------------------------------------------------------- synthetic certificates


def _certificate(extension_value: bytes | None) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Intel SGX PCK Certificate")])
    now = datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
    )
    if extension_value is not None:
        builder = builder.add_extension(
            x509.UnrecognizedExtension(x509.ObjectIdentifier(SGX_EXTENSION_OID), extension_value),
            critical=False,
        )
    return builder.sign(key, hashes.SHA256())


def test_synthetic_certificate() -> None:
    cert = _certificate(encode_pck_extension(SAMPLE))
    assert pck_extension_from_certificate(cert) == SAMPLE
    with pytest.raises(QuoteParseError, match="no SGX extension"):
        pck_extension_from_certificate(_certificate(None))
    with pytest.raises(QuoteParseError, match="found 0") as info:
        pck_extension_from_certificate(_certificate(b"\x30\x00"))
    assert info.value.field == "pck_extension"


# --------------------------------------------------------------------------- model


def test_sample_round_trip_and_model() -> None:
    raw = encode_pck_extension(SAMPLE)
    assert raw == _ext(_top_entries())
    ext = parse_pck_extension(raw)
    assert ext == SAMPLE
    assert ext.ca_type == "platform"
    assert ext.fmspc_hex == "50806F000000"
    assert ext.sgx_components[-2:] == (128, 255)
    assert hash(ext) == hash(SAMPLE)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ext.fmspc = b"\x00" * 6  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        ext.tcb.pce_svn = 1  # type: ignore[misc]

    processor_raw = encode_pck_extension(PROCESSOR_SAMPLE)
    assert processor_raw == _ext(_top_entries(platform=False))
    processor = parse_pck_extension(processor_raw)
    assert processor == PROCESSOR_SAMPLE
    assert processor.ca_type == "processor"


def test_entries_in_any_order() -> None:
    # QVL looks entries up by OID; DER does not fix the order of SEQUENCE OF.
    top = _top_entries(tcb=_der.encode_sequence(*reversed(_tcb_entries())))
    top.reverse()
    assert parse_pck_extension(_ext(top)) == SAMPLE


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ((), PckConfiguration()),
        ((("7.2", b"\xff"),), PckConfiguration(cached_keys=True)),
        (
            (("7.3", b"\x00"), ("7.1", b"\xff")),
            PckConfiguration(dynamic_platform=True, smt_enabled=False),
        ),
    ],
)
def test_configuration_flags_are_optional(
    flags: tuple[tuple[str, bytes], ...], expected: PckConfiguration
) -> None:
    config = _der.encode_sequence(
        *(_entry(arc, _der.encode_tlv(_der.BOOLEAN, flag)) for arc, flag in flags)
    )
    ext = parse_pck_extension(_ext(_top_entries(configuration=config)))
    assert ext.configuration == expected
    assert parse_pck_extension(encode_pck_extension(ext)) == ext


def test_boundary_values_accepted() -> None:
    comps = (255,) * 16
    tcb = _der.encode_sequence(*_tcb_entries(comps=comps, pce_svn=_der.encode_integer(65535)))
    ext = parse_pck_extension(_ext(_top_entries(tcb=tcb, sgx_type=_der.encode_enumerated(2))))
    assert ext.sgx_components == comps
    assert ext.pce_svn == 65535
    assert ext.sgx_type is SgxType.SCALABLE_WITH_INTEGRITY


# --------------------------------------------------------------------------- negative cases


def test_tcb_with_17_entries() -> None:
    tcb = _der.encode_sequence(*_tcb_entries()[1:])
    raw = _ext(_top_entries(tcb=tcb))
    err = _parse_error(raw)
    assert err.field == "pck_extension.tcb"
    assert "18 entries, found 17" in err.reason
    assert raw[err.offset : err.offset + len(tcb)] == tcb


def test_tcb_with_19_entries() -> None:
    extra = _entry("2.19", _der.encode_integer(0))
    raw = _ext(_top_entries(tcb=_der.encode_sequence(*_tcb_entries(), extra)))
    err = _parse_error(raw)
    assert err.field == "pck_extension.tcb"
    assert f"unknown OID {SGX_EXTENSION_OID}.2.19" in err.reason
    assert err.offset == _offset_of(raw, extra) + 2


def test_tcb_with_duplicate_entry() -> None:
    entries = _tcb_entries()
    entries[17] = entries[16]  # PCESVN twice, no CPUSVN
    raw = _ext(_top_entries(tcb=_der.encode_sequence(*entries)))
    err = _parse_error(raw)
    assert err.field == "pck_extension.tcb"
    assert f"duplicate OID {SGX_EXTENSION_OID}.2.17" in err.reason
    assert err.offset == _offset_of(raw, entries[16], 2) + 2


@pytest.mark.parametrize(("index", "value"), [(0, 256), (4, 256), (15, 1000), (7, -1)])
def test_component_out_of_range(index: int, value: int) -> None:
    comps = list(SAMPLE.tcb.sgx_components)
    comps[index] = value
    raw = _ext(_top_entries(tcb=_der.encode_sequence(*_tcb_entries(comps=tuple(comps)))))
    err = _parse_error(raw)
    assert err.field == f"pck_extension.tcb.comp{index + 1:02d}"
    assert ("negative" if value < 0 else f"value {value} out of range 0..255") in err.reason
    assert raw[err.offset] == _der.INTEGER or value < 0
    if value >= 0:
        assert raw[err.offset : err.offset + 4] == _der.encode_integer(value)


def test_component_non_minimal_integer() -> None:
    entries = _tcb_entries()
    entries[2] = _entry("2.3", _der.encode_tlv(_der.INTEGER, b"\x00\x02"))
    raw = _ext(_top_entries(tcb=_der.encode_sequence(*entries)))
    err = _parse_error(raw)
    assert err.field == "pck_extension.tcb.comp03"
    assert "non-minimal" in err.reason


def test_pcesvn_out_of_range() -> None:
    tcb = _der.encode_sequence(*_tcb_entries(pce_svn=_der.encode_integer(65536)))
    raw = _ext(_top_entries(tcb=tcb))
    err = _parse_error(raw)
    assert err.field == "pck_extension.tcb.pcesvn"
    assert "65536 out of range 0..65535" in err.reason
    assert raw[err.offset : err.offset + 5] == _der.encode_integer(65536)


@pytest.mark.parametrize(
    ("override", "field", "size"),
    [
        ({"ppid": _der.encode_octet_string(b"\x00" * 15)}, "pck_extension.ppid", 16),
        ({"pce_id": _der.encode_octet_string(b"\x00" * 3)}, "pck_extension.pce_id", 2),
        ({"fmspc": _der.encode_octet_string(b"\x00" * 5)}, "pck_extension.fmspc", 6),
        ({"fmspc": _der.encode_octet_string(b"\x00" * 7)}, "pck_extension.fmspc", 6),
        (
            {"platform_instance_id": _der.encode_octet_string(b"\x00" * 17)},
            "pck_extension.platform_instance_id",
            16,
        ),
        (
            {
                "tcb": _der.encode_sequence(
                    *_tcb_entries(cpu_svn=_der.encode_octet_string(b"1" * 15))
                )
            },
            "pck_extension.tcb.cpusvn",
            16,
        ),
    ],
)
def test_fixed_octet_sizes(override: dict[str, Any], field: str, size: int) -> None:
    raw = _ext(_top_entries(**override))
    err = _parse_error(raw)
    assert err.field == field
    assert f"must be {size} bytes" in err.reason
    assert raw[err.offset] == _der.OCTET_STRING


@pytest.mark.parametrize(
    ("override", "field", "reason"),
    [
        ({"sgx_type": _der.encode_enumerated(3)}, "pck_extension.sgx_type", "unknown SGX type 3"),
        ({"sgx_type": _der.encode_enumerated(-1)}, "pck_extension.sgx_type", "negative"),
        ({"sgx_type": _der.encode_integer(1)}, "pck_extension.sgx_type", "expected ENUMERATED"),
        ({"ppid": _der.encode_integer(1)}, "pck_extension.ppid", "expected OCTET STRING"),
        ({"tcb": _der.encode_octet_string(b"x")}, "pck_extension.tcb", "expected SEQUENCE"),
        (
            {"tcb": _der.encode_sequence(*_tcb_entries(cpu_svn=_der.encode_integer(1)))},
            "pck_extension.tcb.cpusvn",
            "expected OCTET STRING",
        ),
        (
            {"configuration": _der.encode_octet_string(b"")},
            "pck_extension.configuration",
            "expected SEQUENCE",
        ),
        (
            {"configuration": _der.encode_sequence(*_config_entries((b"\xff", b"\x01", b"\x00")))},
            "pck_extension.configuration.cached_keys",
            "must be 0x00 or 0xff",
        ),
        (
            {
                "configuration": _der.encode_sequence(
                    *_config_entries(), _entry("7.4", _der.encode_boolean(True))
                )
            },
            "pck_extension.configuration",
            f"unknown OID {SGX_EXTENSION_OID}.7.4",
        ),
        (
            {
                "configuration": _der.encode_sequence(
                    *_config_entries(), _entry("7.1", _der.encode_boolean(True))
                )
            },
            "pck_extension.configuration",
            f"duplicate OID {SGX_EXTENSION_OID}.7.1",
        ),
    ],
)
def test_wrong_values(override: dict[str, Any], field: str, reason: str) -> None:
    err = _parse_error(_ext(_top_entries(**override)))
    assert err.field == field
    assert reason in err.reason


def test_duplicate_top_level_oid() -> None:
    entries = _top_entries()
    fmspc = entries[3]
    entries[4] = fmspc  # FMSPC twice, no SGX type
    raw = _ext(entries)
    err = _parse_error(raw)
    assert err.field == "pck_extension"
    assert err.reason == f"duplicate OID {SGX_EXTENSION_OID}.4"
    assert err.offset == _offset_of(raw, fmspc, 2) + 2
    assert raw[err.offset] == _der.OBJECT_IDENTIFIER


def test_unknown_top_level_oid() -> None:
    entries = _top_entries()
    unknown = _entry("8", _der.encode_octet_string(bytes(16)))
    entries[5] = unknown
    raw = _ext(entries)
    err = _parse_error(raw)
    assert err.field == "pck_extension"
    assert err.reason == f"unknown OID {SGX_EXTENSION_OID}.8"
    assert err.offset == _offset_of(raw, unknown) + 2
    # Also a foreign OID, and an 8th entry.
    foreign = _der.encode_sequence(_der.encode_oid("2.5.29.19"), _der.encode_boolean(True))
    err = _parse_error(_ext([*_top_entries(), foreign]))
    assert err.reason == "unknown OID 2.5.29.19"


@pytest.mark.parametrize("count", [0, 1, 4, 6])
def test_wrong_top_level_count(count: int) -> None:
    raw = _ext(_top_entries()[:count])
    err = _parse_error(raw)
    assert err.field == "pck_extension"
    assert err.offset == 0
    assert f"must have 5 (Processor CA) or 7 (Platform CA) entries, found {count}" in err.reason


def test_six_entries_processor_plus_instance_id() -> None:
    entries = _top_entries(platform=False)
    entries.append(_entry("6", _der.encode_octet_string(bytes(16))))
    err = _parse_error(_ext(entries))
    assert "found 6" in err.reason


def test_missing_required_entry_in_five() -> None:
    entries = _top_entries()
    del entries[6]
    del entries[4]  # ppid, tcb, pce_id, fmspc, platform_instance_id: no SGX type
    err = _parse_error(_ext(entries))
    assert err.field == "pck_extension.sgx_type"
    assert "missing" in err.reason


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        (_der.encode_sequence(_der.encode_oid(f"{SGX_EXTENSION_OID}.1")), "no value"),
        (
            _der.encode_sequence(
                _der.encode_oid(f"{SGX_EXTENSION_OID}.1"),
                _der.encode_octet_string(bytes(16)),
                _der.encode_boolean(True),
            ),
            "more than two elements",
        ),
        (
            _der.encode_sequence(_der.encode_octet_string(bytes(16)), _der.encode_integer(1)),
            "expected OBJECT IDENTIFIER",
        ),
        (
            _der.encode_tlv(
                _der.SET,
                _der.encode_oid(f"{SGX_EXTENSION_OID}.1") + _der.encode_octet_string(bytes(16)),
            ),
            "expected SEQUENCE",
        ),
        (_der.encode_sequence(), "truncated"),
        (_der.encode_integer(5), "expected SEQUENCE"),
    ],
)
def test_malformed_entry(entry: bytes, reason: str) -> None:
    entries = _top_entries()
    entries[0] = entry
    raw = _ext(entries)
    err = _parse_error(raw)
    assert err.field == "pck_extension"
    assert reason in err.reason
    assert 4 <= err.offset <= 4 + len(entry)


def test_not_a_sequence_and_trailing_bytes() -> None:
    raw = encode_pck_extension(SAMPLE)
    assert "expected SEQUENCE" in _parse_error(b"\x31" + raw[1:]).reason
    err = _parse_error(raw + b"\x00")
    assert "1 trailing bytes" in err.reason
    assert err.offset == len(raw)
    assert "truncated" in _parse_error(b"").reason


def _with_header(raw: bytes, old: bytes, new: bytes) -> bytes:
    """Replace the first ``old`` inside the top SEQUENCE with ``new``; re-encode its length."""
    top = _der.read_one(raw)
    body = raw[top.start :].replace(old, new, 1)
    assert body != raw[top.start :]
    return b"\x30" + _der.encode_length(len(body)) + body


def test_bad_length_encodings() -> None:
    raw = encode_pck_extension(SAMPLE)
    assert raw[:2] == b"\x30\x82"
    # Non-minimal top-level length: leading zero octet.
    err = _parse_error(b"\x30\x83\x00" + raw[2:])
    assert "leading zero" in err.reason
    assert err.offset == 1
    # Indefinite length (BER) with end-of-contents octets.
    err = _parse_error(b"\x30\x80" + raw[4:] + b"\x00\x00")
    assert "indefinite" in err.reason
    assert err.offset == 1
    # Length larger than the buffer.
    err = _parse_error(raw[:3] + bytes((raw[3] + 1,)) + raw[4:])
    assert "exceeds" in err.reason
    # Long form for a short entry (PPID entry: 30 1e -> 30 81 1e).
    ppid_entry = _top_entries()[0]
    bad = _with_header(raw, ppid_entry[:2], b"\x30\x81\x1e")
    err = _parse_error(bad)
    assert "long form for length 30" in err.reason
    assert err.field == "pck_extension"
    # Long form for a value (FMSPC: 04 06 -> 04 81 06), inside its entry.
    fmspc_entry = _top_entries()[3]
    fixed = fmspc_entry[:2] + fmspc_entry[2:14] + b"\x04\x81\x06" + fmspc_entry[16:]
    fixed = b"\x30" + _der.encode_length(len(fixed) - 2) + fixed[2:]
    bad = _ext([*_top_entries()[:3], fixed, *_top_entries()[4:]])
    err = _parse_error(bad)
    assert "long form for length 6" in err.reason
    # A TCB component entry with a long-form length.
    comp = _tcb_entries()[0]
    tcb = _der.encode_sequence(b"\x30\x81\x10" + comp[2:], *_tcb_entries()[1:])
    err = _parse_error(_ext(_top_entries(tcb=tcb)))
    assert "long form for length 16" in err.reason
    assert err.field == "pck_extension.tcb"


def test_indefinite_length_entry() -> None:
    comp = _tcb_entries()[0]
    tcb = _der.encode_sequence(b"\x30\x80" + comp[2:] + b"\x00\x00", *_tcb_entries()[1:])
    err = _parse_error(_ext(_top_entries(tcb=tcb)))
    assert "indefinite" in err.reason
    assert err.field == "pck_extension.tcb"


def test_errors_are_value_errors_too() -> None:
    with pytest.raises(ValueError, match="pck_extension"):
        parse_pck_extension(b"\x30\x00")


# --------------------------------------------------------------------------- properties

_extensions = st.builds(
    PckExtension,
    ppid=st.binary(min_size=16, max_size=16),
    tcb=st.builds(
        PckTcb,
        sgx_components=st.tuples(*[st.integers(0, 255)] * 16),
        pce_svn=st.integers(0, 65535),
        cpu_svn=st.binary(min_size=16, max_size=16),
    ),
    pce_id=st.binary(min_size=2, max_size=2),
    fmspc=st.binary(min_size=6, max_size=6),
    sgx_type=st.sampled_from(SgxType),
    platform_instance_id=st.binary(min_size=16, max_size=16),
    configuration=st.builds(
        PckConfiguration,
        dynamic_platform=st.none() | st.booleans(),
        cached_keys=st.none() | st.booleans(),
        smt_enabled=st.none() | st.booleans(),
    ),
).flatmap(
    lambda ext: st.sampled_from(
        [ext, dataclasses.replace(ext, platform_instance_id=None, configuration=None)]
    )
)


@given(_extensions)
def test_round_trip(ext: PckExtension) -> None:
    raw = encode_pck_extension(ext)
    assert parse_pck_extension(raw) == ext


def _entry_slices(raw: bytes, seq: _der.Tlv) -> list[bytes]:
    return [raw[e.offset : e.end] for e in _der.sequence_children(raw, seq)]


@given(_extensions, st.data())
def test_permuted_entries_parse_the_same(ext: PckExtension, data: st.DataObject) -> None:
    raw = encode_pck_extension(ext)
    entries = _entry_slices(raw, _der.read_one(raw))
    tcb_entry = entries[1]  # Intel order: PPID, TCB, ...
    _, tcb_value = _der.sequence_children(tcb_entry, _der.read_one(tcb_entry))
    tcb_entries = _entry_slices(tcb_entry, tcb_value)
    entries[1] = _entry("2", _der.encode_sequence(*data.draw(st.permutations(tcb_entries))))
    assert parse_pck_extension(_ext(data.draw(st.permutations(entries)))) == ext


def _parse_or_error(raw: bytes) -> PckExtension | None:
    """Parse ``raw``; on failure check the error is a well-formed QuoteParseError."""
    error: QuoteParseError | None = None
    try:
        return parse_pck_extension(raw)
    except QuoteParseError as exc:
        error = exc
    assert 0 <= error.offset <= len(raw)
    assert error.field.startswith("pck_extension")
    return None


@given(st.binary(max_size=600))
def test_arbitrary_bytes_raise_only_parse_errors(raw: bytes) -> None:
    _parse_or_error(raw)


_BASES = [encode_pck_extension(SAMPLE), encode_pck_extension(PROCESSOR_SAMPLE)]


@given(st.sampled_from(_BASES), st.data())
def test_single_byte_mutations_are_rejected_or_canonical(base: bytes, data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(base) - 1))
    mutated = bytearray(base)
    mutated[index] = data.draw(st.integers(0, 255))
    ext = _parse_or_error(bytes(mutated))
    if ext is not None:
        # Anything accepted is canonical DER: re-encoding gives the same bytes.
        assert encode_pck_extension(ext) == bytes(mutated)


def _edits(base: bytes) -> st.SearchStrategy[bytes]:
    op = st.tuples(
        st.integers(0, len(base) - 1),
        st.sampled_from(["set", "insert", "delete"]),
        st.integers(0, 255),
    )
    return st.lists(op, min_size=1, max_size=8).map(lambda ops: _apply(base, ops))


def _apply(base: bytes, ops: list[tuple[int, str, int]]) -> bytes:
    out = bytearray(base)
    for index, op, byte in ops:
        index = min(index, len(out) - 1) if out else 0
        if op == "set" and out:
            out[index] = byte
        elif op == "insert":
            out.insert(index, byte)
        elif out:
            del out[index]
    return bytes(out)


@given(st.sampled_from(_BASES).flatmap(_edits))
def test_random_edits_raise_only_parse_errors(raw: bytes) -> None:
    ext = _parse_or_error(raw)
    if ext is not None:
        assert parse_pck_extension(encode_pck_extension(ext)) == ext
