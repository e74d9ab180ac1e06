"""The public hypothesis strategies generate what they claim."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest
from _quote_files import QUOTE_FILES
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

import tdxquote.testing
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
from tdxquote.schema import BODY_SCHEMAS
from tdxquote.testing import strategies as tq

T = TypeVar("T")

_PEM_BLOCK = re.compile(
    rb"-----BEGIN CERTIFICATE-----\n(?:[A-Za-z0-9+/=]{1,64}\n)+-----END CERTIFICATE-----\n"
)


def sample(strategy: st.SearchStrategy[T], count: int) -> list[T]:
    """Exactly the first ``count`` examples Hypothesis generates (derandomized)."""
    drawn: list[T] = []

    @settings(
        max_examples=count,
        phases=[Phase.generate],
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(value: T) -> None:
        drawn.append(value)

    collect()
    return drawn


def first(strategy: st.SearchStrategy[T], condition: Callable[[T], bool]) -> T:
    """The first generated example that satisfies ``condition`` (no shrinking)."""
    return find(
        strategy,
        condition,
        settings=settings(
            max_examples=3000, phases=[Phase.generate], database=None, derandomize=True
        ),
    )


# --- module hygiene ---------------------------------------------------------------------


def test_importing_tdxquote_testing_does_not_import_hypothesis() -> None:
    code = (
        "import sys, tdxquote.testing; "
        "assert 'hypothesis' not in sys.modules, 'hypothesis imported'; "
        "assert 'tdxquote.testing.strategies' not in sys.modules; "
        "tdxquote.testing.strategies.quotes; "
        "assert 'hypothesis' in sys.modules"
    )
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


def test_testing_package_exports() -> None:
    assert "strategies" in tdxquote.testing.__all__
    assert tdxquote.testing.strategies is tq
    with pytest.raises(AttributeError):
        _ = tdxquote.testing.no_such_module  # type: ignore[attr-defined]


# --- report bodies ----------------------------------------------------------------------

_REPORTS = [
    (tq.sgx_report, SgxReport, 1),
    (tq.td_report10, TdReport10, 2),
    (tq.td_report15, TdReport15, 3),
    (tq.td_report15ex, TdReport15Ex, 4),
]


@pytest.mark.parametrize(("make", "cls", "body_type"), _REPORTS)
@pytest.mark.parametrize("debug", [True, False, None])
@settings(max_examples=30)
@given(data=st.data())
def test_report_strategies(
    make: object, cls: type, body_type: int, debug: bool | None, data: st.DataObject
) -> None:
    report = data.draw(make(debug=debug))  # type: ignore[operator]
    assert type(report) is cls
    raw = report.to_bytes()
    assert len(raw) == BODY_SCHEMAS[body_type].sizeof()
    assert BODY_SCHEMAS[body_type].build(report._asdict()) == raw
    if debug is not None:
        assert report.is_debug is debug


@pytest.mark.parametrize(("make", "cls", "body_type"), _REPORTS)
def test_report_debug_unconstrained_reaches_both(make: object, cls: type, body_type: int) -> None:
    flags = {report.is_debug for report in sample(make(), 60)}  # type: ignore[operator]
    assert flags == {True, False}


def test_reports_union() -> None:
    kinds = {type(r) for r in sample(tq.reports(), 80)}
    assert kinds == {SgxReport, TdReport10, TdReport15, TdReport15Ex}
    assert {type(r) for r in sample(tq.reports((3,), debug=True), 10)} == {TdReport15}


# --- certification data -----------------------------------------------------------------


def _pem_blocks(data: bytes) -> int:
    """How many PEM certificate blocks ``data`` is made of (a trailing NUL allowed); -1 if
    it holds anything else."""
    pem = data[:-1] if data.endswith(b"\x00") else data
    blocks = _PEM_BLOCK.findall(pem)
    return len(blocks) if b"".join(blocks) == pem else -1


@settings(max_examples=60)
@given(tq.certification_data())
def test_certification_data_default_is_a_pem_chain(cd: CertificationData) -> None:
    assert cd.type == 5
    assert 1 <= _pem_blocks(cd.data) <= 3, cd.data[:200]
    assert b"-----BEGIN CERTIFICATE-----\nMII" in cd.data  # DER SEQUENCE, as real ones


@pytest.mark.parametrize("blocks", [1, 2, 3])
@pytest.mark.parametrize("nul", [True, False])
def test_certification_data_pem_chain_shapes(blocks: int, nul: bool) -> None:
    first(
        tq.certification_data(),
        lambda cd: _pem_blocks(cd.data) == blocks and cd.data.endswith(b"\x00") == nul,
    )


def test_certification_data_pem_chain_reaches_certificate_sizes() -> None:
    # Real PCK chain certificates are 0.6 to 1.3 kB of DER.
    first(tq.certification_data(), lambda cd: len(cd.data) > 1000)


@pytest.mark.parametrize(("cert_type", "ppid_size"), [(1, 16), (2, 256), (3, 384)])
def test_certification_data_ppid_blobs(cert_type: int, ppid_size: int) -> None:
    drawn = sample(tq.certification_data((cert_type,)), 40)
    assert {cd.type for cd in drawn} == {cert_type}
    # PPID, CPUSVN (16), PCESVN (2), with or without PCEID (2).
    assert {len(cd.data) for cd in drawn} == {ppid_size + 18, ppid_size + 20}


def test_certification_data_type_4_is_arbitrary() -> None:
    drawn = sample(tq.certification_data((4,)), 40)
    assert {cd.type for cd in drawn} == {4}
    assert all(len(cd.data) <= 2048 for cd in drawn)
    assert len({cd.data for cd in drawn}) > 20


@pytest.mark.parametrize(
    "bad",
    [
        lambda: tq.certification_data(()),
        lambda: tq.certification_data((6,)),
        lambda: tq.quotes(versions=(6,)),
        lambda: tq.quotes(versions=()),
        lambda: tq.quotes(body_types=(5,)),
        lambda: tq.quotes(versions=(3,), body_types=(2, 3)),
        lambda: tq.quotes(versions=(4,), body_types=(4,)),
        lambda: tq.quotes(cert_types=(0,)),
        lambda: tq.reports((0,)),
    ],
)
def test_impossible_arguments_are_rejected_eagerly(bad: object) -> None:
    with pytest.raises(InvalidArgument):
        bad()  # type: ignore[operator]


# --- quotes -----------------------------------------------------------------------------


def _layout(quote: Quote) -> tuple[int, int]:
    return (quote.version, quote.body_type or (2 if quote.is_tdx else 1))


@pytest.mark.parametrize("layout", tq.QUOTE_LAYOUTS)
def test_quotes_reach_every_layout(layout: tuple[int, int]) -> None:
    assert _layout(parse_quote(first(tq.quotes(), lambda d: _layout(parse_quote(d)) == layout)))


@pytest.mark.parametrize("cert_type", [1, 2, 3, 4, 5])
def test_quotes_reach_every_certification_type(cert_type: int) -> None:
    first(tq.quotes(), lambda d: parse_quote(d).certification_data.type == cert_type)


@pytest.mark.parametrize("size", [0, 32, 64])
def test_quotes_reach_qe_auth_data_sizes(size: int) -> None:
    first(tq.quotes(), lambda d: len(parse_quote(d).qe_auth_data) == size)


@pytest.mark.parametrize(
    "kind",
    [
        lambda t: t == b"",
        lambda t: len(t) > 64 and not any(t),  # zero padding, as GCP quotes carry
        lambda t: 0 < len(t) <= 64 and any(t),
    ],
    ids=["none", "zero-padding", "random"],
)
def test_quotes_reach_every_kind_of_trailing_bytes(kind: Callable[[bytes], bool]) -> None:
    first(tq.quotes(), lambda d: kind(parse_quote(d).trailing_bytes))


@settings(max_examples=60)
@given(tq.quotes())
def test_quotes_stay_within_their_ranges(data: bytes) -> None:
    quote = parse_quote(data)
    assert _layout(quote) in tq.QUOTE_LAYOUTS
    assert len(quote.qe_auth_data) <= 64
    assert quote.attestation_key_type == 2
    assert quote.certification_data.type in (1, 2, 3, 4, 5)


@settings(max_examples=40)
@given(tq.quotes(versions=(5,), body_types=(3, 4), cert_types=(2,), trailing=False))
def test_quotes_respect_their_arguments(data: bytes) -> None:
    quote = parse_quote(data)
    assert quote.version == 5
    assert quote.body_type in (3, 4)
    assert quote.certification_data.type == 2
    assert quote.trailing_bytes == b""


@pytest.mark.parametrize(("version", "body_type"), tq.QUOTE_LAYOUTS)
def test_quotes_of_each_layout(version: int, body_type: int) -> None:
    for data in sample(tq.quotes(versions=(version,), body_types=(body_type,)), 5):
        quote = parse_quote(data)
        assert quote.version == version
        assert (quote.body_type or (2 if quote.is_tdx else 1)) == body_type
        assert quote.is_tdx == (body_type != 1)


# --- structural offsets -----------------------------------------------------------------


def _u(data: bytes, at: int, width: int) -> int:
    return int.from_bytes(data[at : at + width], "little")


def check_offsets(data: bytes) -> None:
    quote = parse_quote(data)
    off = tq.structural_offsets(quote)
    assert tq.structural_offsets(data) == off
    w = tq.FIELD_WIDTHS
    assert _u(data, off["header.version"], w["header.version"]) == quote.version
    assert _u(data, off["header.attestation_key_type"], 2) == quote.attestation_key_type
    assert _u(data, off["header.tee_type"], w["header.tee_type"]) == quote.tee_type
    if quote.version == 5:
        assert _u(data, off["body_descriptor.body_type"], 2) == quote.body_type
        body_size = _u(data, off["body_descriptor.body_size"], w["body_descriptor.body_size"])
        assert body_size == len(quote.body.to_bytes())
    else:
        assert "body_descriptor.body_type" not in off
    body = quote.body.to_bytes()
    assert data[off["body"] : off["body"] + len(body)] == body
    assert _u(data, off["signed_data_size"], 4) == quote.signed_data_size
    assert data[off["signature"] : off["signature"] + 64] == quote.signature
    assert data[off["attestation_key"] : off["attestation_key"] + 64] == quote.attestation_key
    if quote.version == 3:
        assert "certification_data_type" not in off
        assert "qe_report_certification_data.size" not in off
    else:
        assert _u(data, off["certification_data_type"], 2) == 6
        size_at = off["qe_report_certification_data.size"]
        assert _u(data, size_at, 4) == off["trailing_bytes"] - size_at - 4
    assert data[off["qe_report"] : off["qe_report"] + 384] == quote.qe_report_bytes
    signature_at = off["qe_report_signature"]
    assert data[signature_at : signature_at + 64] == quote.qe_report_signature
    assert _u(data, off["qe_auth_data.size"], 2) == len(quote.qe_auth_data)
    auth_at = off["qe_auth_data"]
    assert data[auth_at : auth_at + len(quote.qe_auth_data)] == quote.qe_auth_data
    cert = quote.certification_data
    assert _u(data, off["certification_data.type"], 2) == cert.type
    assert _u(data, off["certification_data.size"], 4) == len(cert.data)
    assert data[off["certification_data"] :][: len(cert.data)] == cert.data
    assert data[off["trailing_bytes"] :] == quote.trailing_bytes
    assert set(off) - {"body", "signature", "attestation_key", "qe_report"} - {
        "qe_report_signature",
        "qe_auth_data",
        "certification_data",
        "trailing_bytes",
    } <= set(w)


@settings(max_examples=100)
@given(tq.quotes())
def test_structural_offsets_of_generated_quotes(data: bytes) -> None:
    check_offsets(data)


def test_structural_offsets_of_real_quotes(vectors: Path) -> None:
    for entry in QUOTE_FILES:
        check_offsets(entry.read(vectors))


def test_structural_offsets_reject_garbage() -> None:
    with pytest.raises(QuoteParseError):
        tq.structural_offsets(b"\x03\x00" + bytes(100))


# --- mutations --------------------------------------------------------------------------


@settings(max_examples=100)
@given(data=st.data())
def test_mutated_quotes_differ_from_their_base(data: st.DataObject) -> None:
    base = data.draw(tq.quotes(), label="base")
    mutated = data.draw(tq.mutated_quotes(st.just(base)), label="mutated")
    assert mutated != base


@settings(max_examples=30)
@given(st.binary(max_size=64), st.data())
def test_mutated_garbage_differs_too(base: bytes, data: st.DataObject) -> None:
    assert data.draw(tq.mutated_quotes(st.just(base))) != base


def _only_field_rewritten(base: bytes, mutated: bytes, at: int, width: int) -> bool:
    if len(base) != len(mutated):
        return False
    return base[:at] == mutated[:at] and base[at + width :] == mutated[at + width :]


@pytest.fixture(scope="module")
def v5_base() -> bytes:
    """A v5 quote: it has every length and type field."""
    return sample(tq.quotes(versions=(5,), body_types=(3,)), 1)[0]


@pytest.mark.parametrize("field", sorted(tq.FIELD_WIDTHS))
def test_mutations_aim_at_each_field(v5_base: bytes, field: str) -> None:
    at = tq.structural_offsets(v5_base)[field]
    width = tq.FIELD_WIDTHS[field]
    mutated = first(
        tq.mutated_quotes(st.just(v5_base)),
        lambda m: _only_field_rewritten(v5_base, m, at, width),
    )
    assert mutated[at : at + width] != v5_base[at : at + width]


def _near_fields(base: bytes) -> set[int]:
    return {
        at + delta
        for name, at in tq.structural_offsets(base).items()
        for delta in (-1, 0, 1, tq.FIELD_WIDTHS.get(name, 0))
    }


def _is_truncation(base: bytes, mutated: bytes) -> bool:
    return len(mutated) < len(base) and base.startswith(mutated)


def test_mutations_truncate_at_deep_structural_boundaries(v5_base: bytes) -> None:
    near = _near_fields(v5_base)
    deep = tq.structural_offsets(v5_base)["qe_report"]
    first(
        tq.mutated_quotes(st.just(v5_base)),
        lambda m: _is_truncation(v5_base, m) and len(m) in near and len(m) > deep,
    )


def test_mutations_truncate_at_random_points(v5_base: bytes) -> None:
    near = _near_fields(v5_base)
    first(
        tq.mutated_quotes(st.just(v5_base)),
        lambda m: _is_truncation(v5_base, m) and len(m) not in near,
    )


def test_mutations_insert_bytes(v5_base: bytes) -> None:
    first(tq.mutated_quotes(st.just(v5_base)), lambda m: len(m) > len(v5_base))


def test_mutations_delete_bytes(v5_base: bytes) -> None:
    first(
        tq.mutated_quotes(st.just(v5_base)),
        lambda m: len(m) < len(v5_base) and not v5_base.startswith(m),
    )


def _rejected_at(data: bytes) -> str | None:
    try:
        parse_quote(data)
    except QuoteParseError as exc:
        return exc.field
    return None


@pytest.mark.parametrize(
    "field",
    [
        "header",
        "header.version",
        "header.attestation_key_type",
        "header.tee_type",
        "body_descriptor.body_type",
        "body_descriptor.body_size",
        "body",
        "signed_data_size",
        "certification_data_type",
        "qe_report_certification_data.size",
        "qe_auth_data.size",
        "certification_data.type",
        "certification_data.size",
    ],
)
def test_mutated_quotes_are_rejected_at_every_check(v5_base: bytes, field: str) -> None:
    first(tq.mutated_quotes(st.just(v5_base)), lambda data: _rejected_at(data) == field)


def test_mutated_quotes_are_mostly_rejected() -> None:
    outcomes = Counter(_rejected_at(data) is None for data in sample(tq.mutated_quotes(), 100))
    assert outcomes[True] < 25, outcomes


def test_structural_field_widths() -> None:
    assert dict(tq.FIELD_WIDTHS) == {
        "header.version": 2,
        "header.attestation_key_type": 2,
        "header.tee_type": 4,
        "body_descriptor.body_type": 2,
        "body_descriptor.body_size": 4,
        "signed_data_size": 4,
        "certification_data_type": 2,
        "qe_report_certification_data.size": 4,
        "qe_auth_data.size": 2,
        "certification_data.type": 2,
        "certification_data.size": 4,
    }


DOCS = Path(__file__).resolve().parent.parent / "docs" / "testing.md"


def test_docs_example_runs() -> None:
    text = DOCS.read_text(encoding="utf-8")
    start = text.index("## Hypothesis strategies")
    end = text.find("\n## ", start + 1)
    section = text[start : end if end != -1 else len(text)]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    assert blocks, "the section has no python example"
    for block in blocks:
        exec(compile(block, str(DOCS), "exec"), {})
