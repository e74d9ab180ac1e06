"""Scan's platform cache belongs to the scan run, not to the module.

``scan_batch`` uses the cache it is given (a new one per batch by default);
``scan_paths`` gives all its batches one cache with one job, and each worker
process one (made by the pool's initializer) with several.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tdxquote import _scan, parse_quote
from tdxquote.scan import PlatformCache, scan_batch, scan_paths

QUOTE = "dcap-qvl/tdx_quote"


def fmspc_of(path: Path) -> str:
    return parse_quote(path.read_bytes()).pck_extension.fmspc.hex()


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[bytes | None]:
    """Every PCK chain decoded (by the real decoder), in order."""
    seen: list[bytes | None] = []
    real = _scan._decode_platform

    def counted(pem: bytes | None, offset: int) -> _scan._Platform:
        seen.append(pem)
        return real(pem, offset)

    monkeypatch.setattr(_scan, "_decode_platform", counted)
    return seen


def test_batches_share_nothing_unless_given_a_cache(vectors: Path, decodes: list[bytes]) -> None:
    item = ("q", (vectors / QUOTE).read_bytes())
    fmspc = fmspc_of(vectors / QUOTE)
    first, second = scan_batch([item, item]), scan_batch([item])
    assert first.by_fmspc == {fmspc: 2}
    assert second.by_fmspc == {fmspc: 1}
    assert len(decodes) == 2  # once per batch: no cache outlives its batch
    cache = PlatformCache()
    scan_batch([item], platforms=cache)
    scan_batch([item], platforms=cache)
    assert len(decodes) == 3
    assert len(cache) == 1


def test_one_job_gives_every_batch_one_cache(
    vectors: Path, tmp_path: Path, decodes: list[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_scan, "CHUNK_SIZE", 3)
    raw = (vectors / QUOTE).read_bytes()
    for index in range(10):  # four batches of one platform
        (tmp_path / f"q{index}.bin").write_bytes(raw)
    report = scan_paths([tmp_path], jobs=1)
    assert report.by_fmspc == {fmspc_of(vectors / QUOTE): 10}
    assert len(decodes) == 1
    again = scan_paths([tmp_path], jobs=1)  # another run: its own cache
    assert again.to_dict() == report.to_dict()
    assert len(decodes) == 2


def test_a_worker_process_keeps_one_cache_for_its_batches(
    vectors: Path, decodes: list[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    # What the pool's initializer and task do in each worker process, run here.
    monkeypatch.setattr(_scan, "_worker_platforms", None)
    batch: list[tuple[str, str | None]] = [(str(vectors / QUOTE), None)]
    _scan._start_worker()
    assert isinstance(_scan._worker_platforms, PlatformCache)
    first = _scan._scan_in_worker(batch, _scan.DEFAULT_MAX_SIZE)
    second = _scan._scan_in_worker(batch, _scan.DEFAULT_MAX_SIZE)
    assert first.to_dict() == second.to_dict()
    assert len(decodes) == 1


def test_the_parent_process_keeps_no_cache(vectors: Path, tmp_path: Path) -> None:
    for index in range(4):
        (tmp_path / f"q{index}.bin").write_bytes((vectors / QUOTE).read_bytes())
    report = scan_paths([tmp_path], jobs=2)
    assert report.by_fmspc == {fmspc_of(vectors / QUOTE): 4}
    assert _scan._worker_platforms is None  # made in the workers only
    assert not any(isinstance(value, PlatformCache) for value in vars(_scan).values())
