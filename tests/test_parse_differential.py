"""The fast parser against the plain ``construct`` parse, field by field.

:func:`tdxquote._reference.reference_fields` parses with the schemas alone.
For every real quote, for built quotes of every layout, and for mutations of
them (truncation at every length, structural fields overwritten, bytes
appended, hypothesis-chosen edits) both parsers must accept or reject the
same inputs, and agree on every field when they accept.  The reference costs
about 100 µs a parse, so it runs on structural boundaries plus a stride where
the fast path runs on every length.
"""

from __future__ import annotations

import random
import struct
from pathlib import Path
from typing import Any

import pytest
from _helpers import REFERENCE_FIELDS
from _quote_files import BY_PATH, unique_quotes
from conftest import shared_vectors_dir
from hypothesis import given
from hypothesis import strategies as st

from tdxquote import (
    CertificationData,
    Quote,
    QuoteParseError,
    SgxReport,
    TdReport10,
    TdReport15,
    TdReport15Ex,
    parse_quote,
)
from tdxquote._build import build_quote
from tdxquote._reference import reference_fields
from tdxquote.schema import SGX_REPORT, TD_REPORT_10, TD_REPORT_15, TD_REPORT_15EX

FIELDS = REFERENCE_FIELDS

# The three real quotes whose every truncation the reference also sees.
REAL_V3_V4_V5 = ("dcap-qvl/sgx_quote", "dcap-qvl/tdx_quote", "dcap-qvl/tdx_quote_outdated")


def fast_fields(quote: Quote) -> dict[str, Any]:
    """The fast parse in :func:`reference_fields`' shape."""
    return {
        "header": quote.header._asdict(),
        "body_type": quote.body_type,
        "body": quote.body._asdict(),
        "signed_bytes": quote.signed_bytes,
        "signature": quote.signature,
        "attestation_key": quote.attestation_key,
        "qe_report": quote.qe_report._asdict(),
        "qe_report_signature": quote.qe_report_signature,
        "qe_auth_data": quote.qe_auth_data,
        "qe_report_certification_type": quote.qe_report_certification_type,
        "certification_data": tuple(quote.certification_data),
        "trailing_bytes": quote.trailing_bytes,
    }


def _fast(data: bytes) -> dict[str, Any] | QuoteParseError:
    try:
        return fast_fields(parse_quote(data))
    except QuoteParseError as exc:
        return exc


def _reference(data: bytes) -> dict[str, Any] | QuoteParseError:
    try:
        return reference_fields(data)
    except QuoteParseError as exc:
        return exc


def assert_parsers_agree(data: bytes) -> bool:
    """Both parsers accept ``data`` with equal fields, or both reject it; True if accepted."""
    fast = _fast(data)
    reference = _reference(data)
    if isinstance(fast, QuoteParseError) or isinstance(reference, QuoteParseError):
        assert type(fast) is type(reference), f"fast: {fast!r}, reference: {reference!r}"
        return False
    assert set(reference) == set(FIELDS)
    for name in FIELDS:
        assert fast[name] == reference[name], name
    return True


def layout(quote: Quote) -> list[tuple[str, int, int]]:
    """(name, offset, size) of every structural field: the ones that decide the layout."""
    fields = [("version", 0, 2), ("attestation_key_type", 2, 2), ("tee_type", 4, 4)]
    if quote.version == 5:
        fields += [("body_type", 48, 2), ("body_size", 50, 4)]
    body_end = len(quote.signed_bytes)
    fields.append(("signed_data_size", body_end, 4))
    at = body_end + 4 + 64 + 64
    if quote.version != 3:
        fields += [("certification_data_type", at, 2), ("qe_certification_data_size", at + 2, 4)]
        at += 6
    at += 384 + 64
    fields.append(("qe_auth_data_size", at, 2))
    at += 2 + len(quote.qe_auth_data)
    fields += [("certification_data.type", at, 2), ("certification_data.size", at + 2, 4)]
    return fields


def boundaries(quote: Quote) -> set[int]:
    """Every offset where a field starts or ends, with its neighbours."""
    size = len(quote)
    signed_end = size - len(quote.trailing_bytes)
    auth_at = len(quote.signed_bytes) + 4
    points = {0, 48, quote.body_offset, signed_end, size}
    for _, at, width in layout(quote):
        points |= {at, at + width}
    points |= {auth_at + 64, auth_at + 128}
    qe_report_at = quote.to_bytes().index(quote.qe_report_bytes, auth_at)
    points |= {qe_report_at + 384, qe_report_at + 448}
    near = {p + d for p in points for d in (-2, -1, 0, 1, 2)}
    return {p for p in near if 0 <= p <= size}


# --- built quotes: every layout, whatever vectors are around -------------------------------


def _report(cls: Any, schema: Any, rng: random.Random) -> Any:
    parsed = schema.parse(rng.randbytes(schema.sizeof()))
    return cls(**{k: v for k, v in parsed.items() if not k.startswith("_")})


def built_quotes() -> dict[str, bytes]:
    """One quote per layout, with random field contents (seeded)."""
    rng = random.Random(20240611)
    bodies = {
        "v3": (SgxReport, SGX_REPORT, None),
        "v4-tdx": (TdReport10, TD_REPORT_10, None),
        "v4-sgx": (SgxReport, SGX_REPORT, 4),
        "v5-type1": (SgxReport, SGX_REPORT, 5),
        "v5-type2": (TdReport10, TD_REPORT_10, 5),
        "v5-type3": (TdReport15, TD_REPORT_15, None),
        "v5-type4": (TdReport15Ex, TD_REPORT_15EX, None),
    }
    built = {}
    for index, (name, (cls, schema, version)) in enumerate(bodies.items()):
        quote = build_quote(
            body=_report(cls, schema, rng),
            version=version,
            signature=rng.randbytes(64),
            attestation_key=rng.randbytes(64),
            qe_report=_report(SgxReport, SGX_REPORT, rng),
            qe_report_signature=rng.randbytes(64),
            qe_auth_data=rng.randbytes(index * 7),
            certification_data=CertificationData(1 + index % 5, rng.randbytes(40 + index)),
            qe_svn=rng.randrange(1 << 16),
            pce_svn=rng.randrange(1 << 16),
            user_data=rng.randbytes(20),
            trailing_bytes=bytes(index % 3),
        )
        built[name] = quote.to_bytes()
    return built


BUILT = built_quotes()


@pytest.fixture(scope="module")
def real_quotes(vectors: Path) -> dict[str, bytes]:
    return {entry.id: data for data, entry in unique_quotes(vectors).items()}


@pytest.fixture(scope="module")
def real_v3_v4_v5(vectors: Path) -> dict[str, bytes]:
    return {path: BY_PATH[path].read(vectors) for path in REAL_V3_V4_V5}


# --- unmodified quotes -------------------------------------------------------------------------


def test_reference_agrees_on_every_real_quote(real_quotes: dict[str, bytes]) -> None:
    assert len(real_quotes) >= 15
    for name, data in real_quotes.items():
        assert assert_parsers_agree(data), name


@pytest.mark.parametrize("name", list(BUILT))
def test_reference_agrees_on_built_quote(name: str) -> None:
    assert assert_parsers_agree(BUILT[name])


def test_real_quotes_cover_v3_v4_v5(real_v3_v4_v5: dict[str, bytes]) -> None:
    versions = {parse_quote(data).version for data in real_v3_v4_v5.values()}
    assert versions == {3, 4, 5}


# --- truncation ----------------------------------------------------------------------------


def _check_every_truncation(data: bytes) -> int:
    """The fast parser on every prefix: accepted exactly from the end of the signature data."""
    whole = parse_quote(data)
    signed_end = len(data) - len(whole.trailing_bytes)
    expected = fast_fields(whole)
    for size in range(len(data) + 1):
        prefix = data[:size]
        if size < signed_end:
            with pytest.raises(QuoteParseError) as info:
                parse_quote(prefix)
            assert type(info.value) is QuoteParseError
            assert 0 <= info.value.offset <= size, (size, str(info.value))
            continue
        fields = fast_fields(parse_quote(prefix))
        assert fields["trailing_bytes"] == data[signed_end:size]
        fields["trailing_bytes"] = expected["trailing_bytes"]
        assert fields == expected, size
    return len(data) + 1


def test_fast_parser_on_every_truncation_of_every_real_quote(
    real_quotes: dict[str, bytes],
) -> None:
    cases = sum(_check_every_truncation(data) for data in real_quotes.values())
    assert cases > 80_000


def test_fast_parser_on_every_truncation_of_built_quotes() -> None:
    for data in BUILT.values():
        _check_every_truncation(data)


def test_reference_agrees_on_every_truncation_of_real_v3_v4_v5(
    real_v3_v4_v5: dict[str, bytes],
) -> None:
    for name, data in real_v3_v4_v5.items():
        accepted = sum(assert_parsers_agree(data[:size]) for size in range(len(data) + 1))
        assert accepted == len(parse_quote(data).trailing_bytes) + 1, name


def test_reference_agrees_on_boundary_truncations_of_real_quotes(
    real_quotes: dict[str, bytes],
) -> None:
    for data in real_quotes.values():
        for size in sorted(boundaries(parse_quote(data))):
            assert_parsers_agree(data[:size])


@pytest.mark.parametrize("name", list(BUILT))
def test_reference_agrees_on_truncations_of_built_quote(name: str) -> None:
    data = BUILT[name]
    for size in sorted(boundaries(parse_quote(data))):
        assert_parsers_agree(data[:size])


# --- structural fields overwritten, bytes appended ------------------------------------------


def _values(original: int, width: int, size: int) -> set[int]:
    top = (1 << (8 * width)) - 1
    candidates = {0, 1, 2, 3, 4, 5, 6, 7, 0x81, top, top - 1, size, size - 1}
    candidates |= {original + d for d in (-2, -1, 1, 2, 384, 584, 648, 885)}
    return {value & top for value in candidates} - {original}


def _overwrite(data: bytes, at: int, width: int, value: int) -> bytes:
    out = bytearray(data)
    out[at : at + width] = value.to_bytes(width, "little")
    return bytes(out)


def _check_overwrites(data: bytes) -> tuple[int, int]:
    quote = parse_quote(data)
    cases = accepted = 0
    for name, at, width in layout(quote):
        original = int.from_bytes(data[at : at + width], "little")
        for value in sorted(_values(original, width, len(data))):
            accepted += assert_parsers_agree(_overwrite(data, at, width, value))
            cases += 1
        assert name
    return cases, accepted


def test_reference_agrees_on_overwritten_structural_fields_of_real_quotes(
    real_quotes: dict[str, bytes],
) -> None:
    cases = accepted = 0
    for data in real_quotes.values():
        more_cases, more_accepted = _check_overwrites(data)
        cases += more_cases
        accepted += more_accepted
    # The PCK certification data type changed to another of 1 to 5 stays valid: both
    # parsers must accept those alike.
    assert cases > 2000
    assert accepted > 0


@pytest.mark.parametrize("name", list(BUILT))
def test_reference_agrees_on_overwritten_structural_fields_of_built_quote(name: str) -> None:
    _check_overwrites(BUILT[name])


def test_reference_agrees_on_appended_bytes(real_v3_v4_v5: dict[str, bytes]) -> None:
    for data in [*real_v3_v4_v5.values(), *BUILT.values()]:
        for extra in (b"\x00", b"\xff" * 3, bytes(range(256))):
            assert assert_parsers_agree(data + extra)
            assert parse_quote(data + extra).trailing_bytes.endswith(extra)


def test_signed_data_size_shrunk_into_trailing_bytes_is_rejected_by_both() -> None:
    # Shrinking the signature data so that its tail becomes "trailing bytes" must never
    # yield a quote: the nested sizes no longer add up.
    data = BUILT["v4-tdx"]
    quote = parse_quote(data)
    at = len(quote.signed_bytes)
    for shrink in range(1, 40):
        mutated = _overwrite(data, at, 4, quote.signed_data_size - shrink)
        assert not assert_parsers_agree(mutated)


# --- hypothesis: arbitrary edits of the structural region --------------------------------------


def _bases(vectors: Path | None) -> list[bytes]:
    bases = list(BUILT.values())
    if vectors is not None:
        bases += [BY_PATH[path].read(vectors) for path in REAL_V3_V4_V5]
    return bases


BASES = _bases(shared_vectors_dir())


@given(data=st.data())
def test_reference_agrees_on_random_edits(data: st.DataObject) -> None:
    base = data.draw(st.sampled_from(BASES), label="base")
    quote = parse_quote(base)
    fields = layout(quote)
    mutated = bytearray(base)
    for _ in range(data.draw(st.integers(1, 3), label="edits")):
        name, at, width = data.draw(st.sampled_from(fields), label="field")
        value = data.draw(st.integers(0, (1 << (8 * width)) - 1), label=name)
        struct.pack_into("<" + {2: "H", 4: "I"}[width], mutated, at, value)
    cut = data.draw(st.none() | st.integers(0, len(mutated)), label="truncate")
    if cut is not None:
        del mutated[cut:]
    mutated += data.draw(st.binary(max_size=8), label="append")
    assert_parsers_agree(bytes(mutated))


@given(
    blob=st.binary(min_size=0, max_size=700),
    header=st.sampled_from(
        [
            b"",
            bytes.fromhex("0300020000000000"),
            bytes.fromhex("0400020081000000"),
            bytes.fromhex("0500020081000000"),
        ]
    ),
)
def test_reference_agrees_on_random_bytes(blob: bytes, header: bytes) -> None:
    # At most 708 bytes: shorter than the smallest valid quote (1,020), so both must reject.
    assert not assert_parsers_agree(header + blob)


# --- the table-driven fast path of parse_quote against the step-by-step _scan -------------


def _layout_or_error(parse: Any, data: bytes) -> tuple[object, ...]:
    try:
        return ("ok", parse(data))
    except QuoteParseError as error:
        return ("error", str(error), error.offset, error.field)


@pytest.mark.parametrize(
    "name", ["dcap-qvl/sgx_quote", "dcap-qvl/tdx_quote", "dcap-qvl/tdx_quote_outdated"]
)
def test_fast_path_equals_step_by_step_scan(vectors: Path, name: str) -> None:
    """parse_quote's table-driven path and _scan agree on layout or on the exact error."""
    import random

    from tdxquote import _quote

    raw = (vectors / name).read_bytes()
    layout = _quote.parse_quote(raw)._layout
    boundaries = {0, 2, 4, 48, 50}
    for offset in layout[4:11]:
        boundaries.update(offset + delta for delta in (-6, -4, -2, 0, 2, 4))
    offsets = sorted(o for o in boundaries if 0 <= o < len(raw))
    rng = random.Random(name)
    for _ in range(3000):
        data = bytearray(raw)
        roll = rng.random()
        if roll < 0.15:
            data = data[: rng.randrange(len(data) + 1)]
        elif roll < 0.2:
            data += bytes(rng.randrange(1, 50))
        else:
            for _ in range(rng.randint(1, 2)):
                at = rng.choice(offsets)
                data[at] = rng.choice(
                    [0, 1, 2, 3, 5, 6, 7, 0x81, 0xFF, data[at] ^ 1, (data[at] + 1) & 255]
                )
        fast = _layout_or_error(lambda b: tuple(_quote.parse_quote(b)._layout[:11]), bytes(data))
        slow = _layout_or_error(_quote._scan, bytes(data))
        assert fast == slow
