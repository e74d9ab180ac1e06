"""CollateralCache on disk: hits make no request, expiry refetches exactly what expired,
corrupt and tampered entries are detected on load and refetched, pickles are never loaded.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import diskcache
import pytest
from _helpers import serving

from tdxquote.collateral import CollateralCache, PcsClient, PcsSource, default_cache_dir
from tdxquote.collateral.pcs import PcsResponse
from tdxquote.testing.forge import QuoteForge, Scenario
from tdxquote.testing.pccs import PccsServer
from tdxquote.testing.pki import REFERENCE_TIME, tcb_info
from tdxquote.verification import Verifier

TCB = "/tdx/certification/v4/tcb"
PCK_CRL = "/sgx/certification/v4/pckcrl"
DAY = timedelta(days=1)


@pytest.fixture(scope="module")
def forge() -> QuoteForge:
    # The PCK CRL expires first (5 days after REFERENCE_TIME), the rest after 29 days.
    pki = QuoteForge.create(seed=b"cache tests").pki.replace(
        pck_crl_next_update=REFERENCE_TIME + 5 * DAY
    )
    return QuoteForge.create(pki=pki)


@pytest.fixture(scope="module")
def scenario(forge: QuoteForge) -> Scenario:
    return forge.scenario()


@pytest.fixture
def server(scenario: Scenario) -> Iterator[PccsServer]:
    yield from serving(scenario)


def verifier(server: PccsServer, scenario: Scenario, directory: Path) -> Verifier:
    source = PcsSource(PcsClient(server.url, retries=0), CollateralCache(directory))
    return Verifier(trust_root=scenario.trust_root_der, source=source)


def verify_ok(verifier: Verifier, scenario: Scenario, now: object = None) -> None:
    when = scenario.now if now is None else now
    verified = verifier.verify(scenario.quote_bytes, now=when)  # type: ignore[arg-type]
    assert str(verified.status) == "UpToDate"


def test_a_cache_hit_makes_no_request(
    server: PccsServer, scenario: Scenario, tmp_path: Path
) -> None:
    first = verifier(server, scenario, tmp_path)
    verify_ok(first, scenario)
    assert server.count() == 4
    verify_ok(first, scenario)
    # Another process's verifier on the same directory: still no request.
    verify_ok(verifier(server, scenario, tmp_path), scenario)
    assert server.count() == 4


def test_entries_expire_one_by_one(
    forge: QuoteForge, server: PccsServer, scenario: Scenario, tmp_path: Path
) -> None:
    verify_ok(verifier(server, scenario, tmp_path), scenario)
    assert server.count() == 4
    expiries = {e.artifact: e.expires for e in CollateralCache(tmp_path).entries()}
    assert expiries["pck_crl"] == REFERENCE_TIME + 5 * DAY
    assert expiries["tcb_info"] == REFERENCE_TIME + 29 * DAY
    # The PCS publishes the next PCK CRL; every other artifact stays byte-identical.
    renewed = forge.pki.replace(
        pck_crl_this_update=REFERENCE_TIME + 4 * DAY, pck_crl_next_update=REFERENCE_TIME + 34 * DAY
    )
    server.add_collateral(forge.scenario(collateral=renewed.collateral()).to_collateral())
    server.reset_log()
    later = REFERENCE_TIME + 6 * DAY
    # Just before the PCK CRL expires, nothing is fetched; at its nextUpdate exactly one request.
    verify_ok(
        verifier(server, scenario, tmp_path),
        scenario,
        REFERENCE_TIME + 5 * DAY - timedelta(seconds=1),
    )
    assert server.count() == 0
    verify_ok(verifier(server, scenario, tmp_path), scenario, later)
    assert [r.path for r in server.requests] == [f"{PCK_CRL}?ca=platform&encoding=der"]
    verify_ok(verifier(server, scenario, tmp_path), scenario, later)
    assert server.count() == 1
    # After the 29 days, TCB Info and QE identity (and the old root CRL) are due.
    server.reset_log()
    renewed_all = renewed.replace(
        root_crl_this_update=REFERENCE_TIME + 28 * DAY,
        root_crl_next_update=REFERENCE_TIME + 60 * DAY,
    )
    fresh_docs = forge.scenario(
        collateral=renewed_all.collateral(
            tcb_info(next_update=REFERENCE_TIME + 60 * DAY),
            forge.scenario().collateral.qe_identity.value | {"nextUpdate": "2025-07-31T00:00:00Z"},
        )
    )
    server.add_collateral(fresh_docs.to_collateral())
    verify_ok(verifier(server, scenario, tmp_path), scenario, REFERENCE_TIME + 30 * DAY)
    assert sorted(r.path.split("?")[0] for r in server.requests) == [
        "/sgx/certification/v4/rootcacrl",
        "/tdx/certification/v4/qe/identity",
        TCB,
    ]


def stored(cache_dir: Path, artifact: str) -> str:
    keys = [e.key for e in CollateralCache(cache_dir).entries() if e.artifact == artifact]
    assert len(keys) == 1
    return keys[0]


def test_corrupt_entry_is_refetched(server: PccsServer, scenario: Scenario, tmp_path: Path) -> None:
    verify_ok(verifier(server, scenario, tmp_path), scenario)
    key = stored(tmp_path, "tcb_info")
    with diskcache.Cache(str(tmp_path)) as raw:
        raw.set(key, b"\x00garbage, not an entry")
    server.reset_log()
    verify_ok(verifier(server, scenario, tmp_path), scenario)
    assert [r.path for r in server.requests] == [f"{TCB}?fmspc=B0C06F000000"]
    assert CollateralCache(tmp_path).load(key) is not None


def rewrite(cache_dir: Path, key: str, change: object) -> None:
    with diskcache.Cache(str(cache_dir)) as raw:
        entry = json.loads(raw.get(key))
        assert callable(change)
        change(entry)
        raw.set(key, json.dumps(entry).encode())


def test_tampered_body_is_detected_on_load(
    server: PccsServer, scenario: Scenario, tmp_path: Path
) -> None:
    verify_ok(verifier(server, scenario, tmp_path), scenario)
    key = stored(tmp_path, "tcb_info")

    def downgrade(entry: dict[str, str]) -> None:
        body = base64.b64decode(entry["body"]).replace(
            b'"tcbEvaluationDataNumber":17', b'"tcbEvaluationDataNumber":99'
        )
        entry["body"] = base64.b64encode(body).decode()

    rewrite(tmp_path, key, downgrade)
    server.reset_log()
    checked = verifier(server, scenario, tmp_path)
    verified = checked.verify(scenario.quote_bytes, now=scenario.now)
    assert verified.supplemental.tcb_evaluation_data_number == 17
    assert server.count() == 1


def test_tampered_chain_is_detected_on_load(
    server: PccsServer, scenario: Scenario, tmp_path: Path
) -> None:
    verify_ok(verifier(server, scenario, tmp_path), scenario)
    key = stored(tmp_path, "qe_identity")
    other = QuoteForge.create(seed=b"another PKI").pki.tcb_signing_chain

    def swap(entry: dict[str, str]) -> None:
        entry["issuer_chain"] = other

    rewrite(tmp_path, key, swap)
    server.reset_log()
    verify_ok(verifier(server, scenario, tmp_path), scenario)
    assert [r.path for r in server.requests] == ["/tdx/certification/v4/qe/identity"]


def test_stored_expiry_is_not_trusted(
    server: PccsServer, scenario: Scenario, tmp_path: Path
) -> None:
    verify_ok(verifier(server, scenario, tmp_path), scenario)
    key = stored(tmp_path, "pck_crl")

    def extend(entry: dict[str, str]) -> None:
        entry["expires"] = "2099-01-01T00:00:00Z"

    rewrite(tmp_path, key, extend)
    server.reset_log()
    with pytest.raises(Exception, match="already expired"):
        # Past the CRL's real nextUpdate: refetched (and the server still has the old one).
        verifier(server, scenario, tmp_path).verify(
            scenario.quote_bytes, now=REFERENCE_TIME + 6 * DAY
        )
    assert server.count(PCK_CRL) == 1


UNPICKLED: list[str] = []


def _mark() -> str:
    UNPICKLED.append("unpickled")
    return "unpickled"


class Booby:
    def __reduce__(self) -> tuple[object, tuple[()]]:
        return (_mark, ())


def test_pickled_values_are_never_loaded(
    server: PccsServer, scenario: Scenario, tmp_path: Path
) -> None:
    verify_ok(verifier(server, scenario, tmp_path), scenario)
    key = stored(tmp_path, "root_ca_crl")
    with diskcache.Cache(str(tmp_path)) as raw:
        raw.set(key, Booby())  # stored pickled by plain diskcache
        raw.set(Booby(), b"value under a pickled key")
    server.reset_log()
    verify_ok(verifier(server, scenario, tmp_path), scenario)
    assert server.count() == 1
    entries = CollateralCache(tmp_path).entries()
    assert UNPICKLED == []
    assert {e.artifact for e in entries} == {"tcb_info", "qe_identity", "pck_crl", "root_ca_crl"}


def test_only_bytes_are_stored(tmp_path: Path) -> None:
    cache = CollateralCache(tmp_path)
    with pytest.raises(TypeError):
        cache._store.set("key", "text")  # type: ignore[arg-type]


def test_size_limit(tmp_path: Path) -> None:
    cache = CollateralCache(tmp_path, size_limit=256 << 10)
    assert cache.size_limit == 256 << 10
    for index in range(200):
        response = PcsResponse("pck_crl", f"http://127.0.0.1/{index}", bytes(5000), "chain")
        cache.store(f"pck_crl {index}", response, REFERENCE_TIME)
    assert cache.volume() <= 256 << 10
    kept = {e.key for e in cache.entries()}
    assert 0 < len(kept) < 200
    assert "pck_crl 199" in kept  # the least recently stored go first
    assert "pck_crl 0" not in kept


def test_clear_prune_and_info(tmp_path: Path) -> None:
    cache = CollateralCache(tmp_path)
    for index, expires in enumerate((REFERENCE_TIME, REFERENCE_TIME + DAY)):
        response = PcsResponse("tcb_info", f"http://127.0.0.1/{index}", b"{}", "chain", "id")
        cache.store(f"tcb_info {index}", response, expires)
    loaded = cache.load("tcb_info 1")
    assert loaded == PcsResponse("tcb_info", "http://127.0.0.1/1", b"{}", "chain", "id")
    assert cache.prune(REFERENCE_TIME) == 1
    assert [e.url for e in cache.entries()] == ["http://127.0.0.1/1"]
    assert cache.clear() == 1
    assert cache.entries() == []
    assert cache.load("tcb_info 1") is None


def test_memory_cache() -> None:
    cache = CollateralCache.memory()
    assert cache.directory is None
    cache.store("k", PcsResponse("root_ca_crl", "u", b"\x30", None), REFERENCE_TIME)
    assert cache.load("k") == PcsResponse("root_ca_crl", "u", b"\x30", None)
    assert cache.volume() > 0


def test_default_directory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("TDXQUOTE_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / "tdxquote" / "collateral"
    assert CollateralCache().directory == tmp_path / "tdxquote" / "collateral"
    # Created on the first write only (tests/test_cache_rows.py covers every operation).
    assert not (tmp_path / "tdxquote").exists()
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/path")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "tdxquote" / "collateral"
    monkeypatch.setenv("TDXQUOTE_CACHE_DIR", str(tmp_path / "explicit"))
    assert default_cache_dir() == tmp_path / "explicit"
