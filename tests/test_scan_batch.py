"""``tdxquote.scan``: the picklable batch function, merging, reading, the platform cache."""

from __future__ import annotations

import itertools
import os
import pickle
import shutil
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import tdxquote.scan as scan_module
from tdxquote import _scan
from tdxquote.scan import (
    PlatformCache,
    ScanFailure,
    ScanReport,
    iter_corpus,
    scan_batch,
    scan_paths,
)
from tdxquote.testing import strategies as tq

SOURCES = {
    "a_v3.bin": "dcap-qvl/sgx_quote",
    "b_v4.bin": "dcap-qvl/tdx_quote",
    "c_v5.dat": "go-tdx-guest/quotes/quote_v5_sample.dat",
    "d_der_chain.dat": "intel-dcap/qvl-sampleData/tdx/quote.dat",
    "e_quote.hex": "dcap-qvl/tdx-quote.hex",
}


@pytest.fixture
def corpus(vectors: Path, tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    root.mkdir()
    for name, source in SOURCES.items():
        shutil.copyfile(vectors / source, root / name)
    (root / "f_short.bin").write_bytes(b"\x04\x00\x02\x00")
    (root / "g_v4_again.bin").write_bytes((vectors / SOURCES["b_v4.bin"]).read_bytes())
    return root


def files_of(root: Path) -> list[str]:
    return [path for path, _ in iter_corpus([root])]


def test_public_module_exports() -> None:
    assert set(scan_module.__all__) >= {"scan_batch", "ScanReport", "scan_paths", "PlatformCache"}
    for name in scan_module.__all__:
        assert getattr(scan_module, name) is not None


def test_batch_of_paths_is_the_cli_engines_report(corpus: Path) -> None:
    whole = scan_paths([corpus])
    assert scan_batch(files_of(corpus)).to_dict() == whole.to_dict()
    assert (whole.files, whole.parsed, whole.failed) == (7, 6, 1)
    assert whole.by_fmspc["b0c06f000000"] == 3  # v4 twice, and the hex copy of it
    assert whole.by_input_format == {"binary": 5, "hex": 1}


def test_batch_of_walk_entries_is_the_cli_engines_report(corpus: Path) -> None:
    (corpus / "loop").symlink_to(corpus, target_is_directory=True)
    entries = list(iter_corpus([corpus]))
    assert "loop" in entries[-1][0]
    assert entries[-1][1] is not None
    report = scan_batch(entries)
    assert report.failures[-1].reason == "symbolic link to a directory (not followed)"
    assert report.to_dict() == scan_paths([corpus]).to_dict()


def test_batch_of_bytes_equals_batch_of_paths(corpus: Path) -> None:
    paths = files_of(corpus)
    in_memory = [(path, Path(path).read_bytes()) for path in paths]
    assert scan_batch(in_memory).to_dict() == scan_batch(paths).to_dict()


@pytest.mark.parametrize("cut", [[1], [3, 5], [1, 2, 3, 4, 5, 6]])
def test_merged_batches_equal_one_batch(corpus: Path, cut: list[int]) -> None:
    paths = files_of(corpus)
    bounds = [0, *cut, len(paths)]
    merged = ScanReport()
    for start, end in itertools.pairwise(bounds):
        merged.merge(pickle.loads(pickle.dumps(scan_batch(paths[start:end]))))
    assert merged.to_dict() == scan_batch(paths).to_dict()


def test_scan_batch_and_its_arguments_pickle(corpus: Path) -> None:
    restored = pickle.loads(pickle.dumps(scan_batch))
    assert restored is scan_batch
    report = restored(files_of(corpus), max_size=1 << 16)
    assert pickle.loads(pickle.dumps(report)) == report


def test_items_that_cannot_be_read_are_failures(tmp_path: Path) -> None:
    report = scan_batch(
        [
            str(tmp_path / "absent"),
            str(tmp_path),
            ("in-memory", b"\x00" * 10),
            ("not-bytes", 12),  # type: ignore[list-item]
            ("too-big", bytes(65)),
        ],
        max_size=64,
    )
    assert [(f.path, f.field) for f in report.failures] == [
        (str(tmp_path / "absent"), "file"),
        (str(tmp_path), "file"),
        ("in-memory", "header"),
        ("not-bytes", "file"),
        ("too-big", "file"),
    ]
    reasons = [f.reason for f in report.failures]
    assert reasons[0].startswith("cannot read: ")
    assert reasons[1] == "not a regular file"
    assert reasons[3] == "expected bytes, got int"
    assert reasons[4] == "65 bytes, over the 64-byte size limit"
    assert (report.files, report.parsed) == (5, 0)


def test_malformed_items_are_failures_not_exceptions(tmp_path: Path) -> None:
    report = scan_batch(
        [
            12,  # type: ignore[list-item]
            ("a", "b", "c"),  # type: ignore[list-item]
            str(tmp_path / "nul\x00byte"),
        ]
    )
    assert [f.field for f in report.failures] == ["file", "file", "file"]
    assert report.failures[0].path == "12"
    assert report.failures[0].reason.startswith("not a path or a (name, bytes) pair")
    assert report.failures[2].reason.startswith("cannot read: ")
    assert report.files == 3


def test_bad_max_size_is_refused() -> None:
    with pytest.raises(ValueError, match="max_size"):
        scan_batch([], max_size=0)


# --- reading --------------------------------------------------------------------------------


def test_regression_reads_the_file_size_not_a_mebibyte(
    corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The scan used to read(1 MiB + 1) per file, allocating a mebibyte for a 5 KB quote.
    asked: list[int] = []
    real_read = os.read

    def recording_read(fd: int, size: int) -> bytes:
        asked.append(size)
        return real_read(fd, size)

    monkeypatch.setattr(_scan.os, "read", recording_read)
    path = corpus / "b_v4.bin"
    assert scan_batch([str(path)]).parsed == 1
    assert asked == [path.stat().st_size + 1]


def test_a_file_longer_than_its_stat_is_read_to_the_end(
    corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = corpus / "b_v4.bin"
    real = path.read_bytes()
    real_stat = os.stat

    def stale_stat(name: str) -> os.stat_result:
        info = real_stat(name)
        fields = list(info)
        fields[6] = 100  # st_size: the file "grew" after stat
        return os.stat_result(fields)

    monkeypatch.setattr(_scan.os, "stat", stale_stat)
    assert _scan._read(str(path), 1 << 20) == real
    assert _scan._read(str(path), len(real) - 1) == (
        f"grew over the {len(real) - 1}-byte size limit while read"
    )


# --- the platform cache -----------------------------------------------------------------------


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Record every chain the platform cache decodes (decoding stubbed: FMSPC = first bytes)."""
    seen: list[bytes] = []

    def decode(pem: bytes | None, offset: int) -> _scan._Platform:
        assert pem is not None
        seen.append(pem)
        return _scan._Platform(pem[:6].hex(), None)

    monkeypatch.setattr(_scan, "_decode_platform", decode)
    return seen


def test_thousand_interleaved_platforms_decode_once_each(decodes: list[bytes]) -> None:
    # The old caches held 256 chains: 1,000 interleaved platforms decoded on every quote.
    cache = PlatformCache()
    chains = [index.to_bytes(6, "big") + bytes(3000) for index in range(1000)]
    for _ in range(3):
        for chain in chains:
            assert cache.lookup(chain, 1000).fmspc == chain[:6].hex()
    assert len(decodes) == 1000
    assert len(cache) == 1000


def test_cache_is_keyed_by_bytes_and_offset(decodes: list[bytes]) -> None:
    cache = PlatformCache()
    chain = b"A" * 100
    cache.lookup(chain, 10)
    cache.lookup(bytes(bytearray(chain)), 10)  # equal bytes, another object: a hit
    cache.lookup(chain, 20)  # errors carry the offset: another entry
    cache.lookup(b"B" * 100, 10)
    assert len(decodes) == 3


def test_chains_sharing_their_first_bytes_are_told_apart(decodes: list[bytes]) -> None:
    cache = PlatformCache(max_entries=3)
    head = bytes(PlatformCache._HEAD)
    first, second, third = head + b"leaf one", head + b"leaf two", head + b"leaf three"
    for chain in (first, second, first, second, third):
        cache.lookup(chain, 0)
    assert decodes == [first, second, third]
    cache.lookup(b"other", 0)  # evicts the oldest, ``first``, from its shared bucket
    cache.lookup(second, 0)
    cache.lookup(first, 0)
    assert decodes == [first, second, third, b"other", first]
    assert len(cache) == 3


def test_cache_is_bounded_by_entries_and_bytes(decodes: list[bytes]) -> None:
    by_entries = PlatformCache(max_entries=2)
    for name in (b"a", b"b", b"c", b"a"):
        by_entries.lookup(name * 10, 0)
    assert len(by_entries) == 2
    assert decodes == [b"a" * 10, b"b" * 10, b"c" * 10, b"a" * 10]  # "a" was evicted first
    by_bytes = PlatformCache(max_key_bytes=25)
    for name in (b"a", b"b", b"c"):
        by_bytes.lookup(name * 10, 0)
    assert len(by_bytes) == 2
    huge = PlatformCache(max_key_bytes=5)
    huge.lookup(b"x" * 10, 0)
    assert len(huge) == 0  # larger than the whole budget: not remembered


def test_cache_refuses_no_room() -> None:
    with pytest.raises(ValueError, match="at least one"):
        PlatformCache(max_entries=0)


def test_cache_remembers_decoding_errors(vectors: Path) -> None:
    cache = PlatformCache()
    bad = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    first = cache.lookup(bad, 1234)
    assert first.fmspc is None
    assert first.error is not None
    assert first.error[0] == "pck_chain"
    assert cache.lookup(bad, 1234) is first


def test_pck_errors_match_the_quotes_own(corpus: Path) -> None:
    from tdxquote import QuoteParseError, parse_quote

    path = corpus / "d_der_chain.dat"
    with pytest.raises(QuoteParseError) as caught:
        _ = parse_quote(path.read_bytes()).pck_extension
    report = scan_batch([str(path)])
    assert report.pck_errors == [
        ScanFailure(str(path), caught.value.field, caught.value.offset, caught.value.reason)
    ]
    assert report.by_fmspc == {"unknown": 1}


# --- against the parser, on generated inputs -----------------------------------------------


def _expected(data: bytes) -> tuple[str, object]:
    """What scan_batch must say about ``data``: the parser's verdict, computed directly."""
    from tdxquote import QuoteParseError
    from tdxquote._input import parse_quote_input

    try:
        quote, input_format = parse_quote_input(data)
    except QuoteParseError as exc:
        return "failure", (exc.field, exc.offset, exc.reason)
    try:
        fmspc: object = quote.pck_extension.fmspc.hex()
        error = None
    except QuoteParseError as exc:
        fmspc, error = "unknown", (exc.field, exc.offset, exc.reason)
    return "parsed", (quote.version, quote.tee_type.name, input_format, fmspc, error)


@given(
    data=st.one_of(
        tq.quotes(),
        tq.mutated_quotes(),
        tq.quotes().map(lambda raw: raw.hex().encode()),
        st.binary(max_size=200),
    )
)
def test_scan_batch_agrees_with_the_parser(data: bytes) -> None:
    report = scan_batch([("item", data)], platforms=PlatformCache())
    kind, detail = _expected(data)
    assert report.files == 1
    if kind == "failure":
        assert report.parsed == 0
        assert [(f.field, f.offset, f.reason) for f in report.failures] == [detail]
        return
    version, tee, input_format, fmspc, error = detail  # type: ignore[misc]
    assert (report.parsed, report.failed) == (1, 0)
    assert report.by_version == {str(version): 1}
    assert report.by_tee == {tee: 1}
    assert report.by_input_format == {input_format: 1}
    assert report.by_fmspc == {fmspc: 1}
    assert [(e.field, e.offset, e.reason) for e in report.pck_errors] == (
        [] if error is None else [error]
    )
