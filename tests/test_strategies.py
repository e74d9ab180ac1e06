"""The public hypothesis strategies generate what they claim."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import TypeVar

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

import tdxquote.testing
from tdxquote import (
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
    assert tdxquote.testing.__all__ == ["strategies"]
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


def test_certification_data_default_is_a_pem_chain() -> None:
    drawn = sample(tq.certification_data(), 80)
    assert {cd.type for cd in drawn} == {5}
    nul_endings = set()
    block_counts = set()
    for cd in drawn:
        pem = cd.data[:-1] if cd.data.endswith(b"\x00") else cd.data
        nul_endings.add(pem != cd.data)
        blocks = _PEM_BLOCK.findall(pem)
        assert b"".join(blocks) == pem, cd.data[:200]
        block_counts.add(len(blocks))
    assert nul_endings == {True, False}
    assert block_counts == {1, 2, 3}


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


def test_quotes_reach_every_layout_and_certification_type() -> None:
    layouts: Counter[tuple[int, int]] = Counter()
    cert_types: Counter[int] = Counter()
    auth_sizes = set()
    trailing = set()
    for data in sample(tq.quotes(), 200):
        quote = parse_quote(data)
        effective = quote.body_type or (2 if quote.is_tdx else 1)
        layouts[(quote.version, effective)] += 1
        cert_types[quote.certification_data.type] += 1
        auth_sizes.add(len(quote.qe_auth_data))
        trailing.add(
            "none"
            if not quote.trailing_bytes
            else "zeros"
            if not any(quote.trailing_bytes)
            else "random"
        )
    assert set(layouts) == set(tq.QUOTE_LAYOUTS)
    assert set(cert_types) == {1, 2, 3, 4, 5}
    assert min(auth_sizes) == 0
    assert max(auth_sizes) <= 64
    assert len(auth_sizes) > 10
    assert trailing == {"none", "zeros", "random"}


def test_quotes_reach_the_largest_qe_auth_data() -> None:
    sizes = {len(parse_quote(d).qe_auth_data) for d in sample(tq.quotes(), 400)}
    assert 64 in sizes


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
    from test_fuzz_parser import CORPUS, _corpus_quote

    for relative in CORPUS:
        check_offsets(_corpus_quote(vectors, relative))


def test_structural_offsets_reject_garbage() -> None:
    with pytest.raises(QuoteParseError):
        tq.structural_offsets(b"\x03\x00" + bytes(100))


# --- mutations --------------------------------------------------------------------------


@settings(max_examples=150)
@given(data=st.data())
def test_mutated_quotes_differ_from_their_base(data: st.DataObject) -> None:
    base = data.draw(tq.quotes(), label="base")
    mutated = data.draw(tq.mutated_quotes(st.just(base)), label="mutated")
    assert mutated != base


@settings(max_examples=30)
@given(st.binary(max_size=64), st.data())
def test_mutated_garbage_differs_too(base: bytes, data: st.DataObject) -> None:
    assert data.draw(tq.mutated_quotes(st.just(base))) != base


def _touched_field(base: bytes, mutated: bytes, offsets: dict[str, int]) -> str | None:
    """The one length/type field a same-size mutation rewrote, if that is all it did."""
    if len(base) != len(mutated):
        return None
    changed = [i for i, (a, b) in enumerate(zip(base, mutated, strict=True)) if a != b]
    for name, at in offsets.items():
        if (
            name in tq.FIELD_WIDTHS
            and at <= changed[0]
            and changed[-1] < at + tq.FIELD_WIDTHS[name]
        ):
            return name
    return None


def test_mutations_aim_at_every_field() -> None:
    pairs = sample(
        tq.quotes().flatmap(
            lambda base: st.tuples(st.just(base), tq.mutated_quotes(st.just(base)))
        ),
        400,
    )
    touched: Counter[str] = Counter()
    shorter = longer = 0
    for base, mutated in pairs:
        assert mutated != base
        field = _touched_field(base, mutated, tq.structural_offsets(base))
        if field is not None:
            touched[field] += 1
        shorter += len(mutated) < len(base)
        longer += len(mutated) > len(base)
    assert set(touched) == set(tq.FIELD_WIDTHS), touched
    assert shorter > 40
    assert longer > 20


def test_mutated_quotes_are_mostly_rejected_at_many_fields() -> None:
    fields: Counter[str] = Counter()
    for data in sample(tq.mutated_quotes(), 400):
        try:
            parse_quote(data)
        except QuoteParseError as exc:
            fields[exc.field] += 1
        else:
            fields["accepted"] += 1
    assert fields["accepted"] < 0.2 * sum(fields.values())
    expected = {
        "header",
        "header.version",
        "header.attestation_key_type",
        "header.tee_type",
        "body_descriptor.body_type",
        "body_descriptor.body_size",
        "signed_data_size",
        "qe_report_certification_data.size",
        "certification_data.size",
    }
    assert expected <= set(fields), fields


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
