"""Nothing in a cache row is trusted: tampered rows cost a refetch and nothing else.

diskcache rows name files (file mode) that diskcache opens and deletes; a tampered row must
never make the cache read or delete a file, inside or outside the cache directory.  Also:
a cache is created on its first write, never by constructing it or reading it.
"""

from __future__ import annotations

import json
import logging
import pickle
import sqlite3
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from _helpers import serving

from tdxquote.cli import main
from tdxquote.collateral import CollateralCache, PcsClient, PcsSource
from tdxquote.collateral.pcs import PcsResponse
from tdxquote.testing.forge import QuoteForge, Scenario
from tdxquote.testing.pccs import PccsServer, bundle_replies
from tdxquote.testing.pki import REFERENCE_TIME, tcb_info
from tdxquote.verification import Verifier

TCB = "/tdx/certification/v4/tcb"
MODE_BINARY, MODE_TEXT, MODE_PICKLE = 2, 3, 4


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return QuoteForge.create(seed=b"cache rows tests").scenario()


@pytest.fixture
def server(scenario: Scenario) -> Iterator[PccsServer]:
    yield from serving(scenario)


def verifier(server: PccsServer, scenario: Scenario, directory: Path) -> Verifier:
    source = PcsSource(PcsClient(server.url, retries=0), CollateralCache(directory))
    return Verifier(trust_root=scenario.trust_root_der, source=source)


def verify_ok(server: PccsServer, scenario: Scenario, directory: Path) -> None:
    verified = verifier(server, scenario, directory).verify(scenario.quote_bytes, now=scenario.now)
    assert str(verified.status) == "UpToDate"


def tcb_key(directory: Path) -> str:
    (key,) = [e.key for e in CollateralCache(directory).entries() if e.artifact == "tcb_info"]
    return key


def tamper(directory: Path, sql: str, *args: object) -> int:
    """Change the database behind the cache's back; returns the rows changed."""
    with sqlite3.connect(directory / "cache.db", isolation_level=None) as db:
        return db.execute(sql, args).rowcount


# --- created on the first write ---------------------------------------------------------


def test_constructing_and_reading_create_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = tmp_path / "not" / "yet"
    cache = CollateralCache(directory)
    assert cache.load("tcb_info http://x") is None
    cache.evict("tcb_info http://x")
    assert cache.entries() == []
    assert cache.volume() == 0
    assert cache.prune(REFERENCE_TIME) == 0
    assert cache.clear() == 0
    cache.close()
    for args in (["cache", "info"], ["cache", "info", "--json"], ["cache", "clear"]):
        assert main([*args, "--cache-dir", str(directory)]) == 0
    assert "entries: 0" in capsys.readouterr().out
    assert not (tmp_path / "not").exists()
    # The first write creates the directory and the database.
    cache.store("k", PcsResponse("root_ca_crl", "u", b"\x30", None), REFERENCE_TIME)
    assert (directory / "cache.db").is_file()
    assert cache.load("k") == PcsResponse("root_ca_crl", "u", b"\x30", None)


def test_a_verifier_with_a_cache_that_gets_nothing_writes_nothing(
    scenario: Scenario, tmp_path: Path
) -> None:
    Verifier.pccs("http://127.0.0.1:1", cache=tmp_path / "cache")
    assert not (tmp_path / "cache").exists()


# --- rows naming files --------------------------------------------------------------------


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """A file (and an empty folder beside it) outside the cache directory."""
    outside = tmp_path / "outside"
    (outside / "empty").mkdir(parents=True)
    target = outside / "victim.txt"
    target.write_text("precious")
    return target


def survives(victim: Path) -> None:
    assert victim.read_text() == "precious"
    assert (victim.parent / "empty").is_dir()


def every_operation(
    cache: CollateralCache, key: str, server: PccsServer, scenario: Scenario, directory: Path
) -> Iterator[str]:
    """Each cache operation in turn; yields its name after running it."""
    assert cache.load(key) is None  # the row is refused: a miss
    yield "load"
    cache.evict(key)
    yield "evict"
    cache.entries()
    yield "entries"
    cache.prune(REFERENCE_TIME + timedelta(days=3650))
    yield "prune"
    cache.store(key, PcsResponse("tcb_info", "u", b"{}", "c"), REFERENCE_TIME)
    yield "store over it"
    small = CollateralCache(directory, size_limit=1)
    small.store("filler", PcsResponse("tcb_info", "u", bytes(1000), "c"), REFERENCE_TIME)
    small.close()
    yield "cull (size limit)"
    verify_ok(server, scenario, directory)
    yield "verify"
    cache.volume()
    cache.clear()
    yield "clear"
    cache.close()
    yield "close"


NAMES = ("{victim}", "../outside/victim.txt", "../outside/empty/none", "{victim}/../empty/x")


@pytest.mark.parametrize("mode", [MODE_BINARY, MODE_TEXT, MODE_PICKLE])
@pytest.mark.parametrize("when", ["while open", "at rest"])
def test_a_row_naming_a_file_outside_the_cache_cannot_delete_it(
    server: PccsServer,
    scenario: Scenario,
    tmp_path: Path,
    victim: Path,
    mode: int,
    when: str,
) -> None:
    # Before: the row was fetched in file mode (reading the file), found undecodable and
    # evicted, and diskcache deleted the file the row named (and its empty parent folders).
    directory = tmp_path / "cache"
    verify_ok(server, scenario, directory)
    key = tcb_key(directory)
    cache = CollateralCache(directory)
    if when == "while open":
        assert cache.entries()  # opened before the tampering
    keys = sorted(e.key for e in cache.entries())
    for row_key, name in zip(keys, NAMES, strict=True):  # the four rows, four kinds of path
        changed = tamper(
            directory,
            "UPDATE Cache SET mode = ?, filename = ?, value = NULL WHERE key = ?",
            mode,
            name.format(victim=victim),
            row_key,
        )
        assert changed == 1
    for _ in every_operation(cache, key, server, scenario, directory):
        survives(victim)


def test_all_rows_naming_files_at_once(
    server: PccsServer, scenario: Scenario, tmp_path: Path, victim: Path
) -> None:
    directory = tmp_path / "cache"
    verify_ok(server, scenario, directory)
    tamper(directory, "UPDATE Cache SET mode = 2, filename = ?, value = NULL", str(victim))
    server.reset_log()
    verify_ok(server, scenario, directory)
    assert server.count() == 4  # a refetch, and nothing else
    survives(victim)
    assert [p.name for p in directory.iterdir() if not p.name.startswith("cache.db")] == []


# --- rows the cache did not write ---------------------------------------------------------


class Booby:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (print, ("unpickled!",))


def garbage(directory: Path, key: str) -> None:
    tamper(directory, "UPDATE Cache SET value = ? WHERE key = ?", b"\x00\xffgarbage", key)


def text_value(directory: Path, key: str) -> None:
    tamper(directory, "UPDATE Cache SET value = 'text, not bytes' WHERE key = ?", key)


def integer_value(directory: Path, key: str) -> None:
    tamper(directory, "UPDATE Cache SET value = 42 WHERE key = ?", key)


def pickled_value(directory: Path, key: str) -> None:
    tamper(
        directory, "UPDATE Cache SET mode = 4, value = ? WHERE key = ?", pickle.dumps(Booby()), key
    )


def another_keys_row(directory: Path, key: str) -> None:
    # A valid entry, written by this cache, copied under the TCB Info key.
    tamper(
        directory,
        "UPDATE Cache SET value = (SELECT value FROM Cache WHERE key LIKE 'qe_identity %')"
        " WHERE key = ?",
        key,
    )


def huge_value(directory: Path, key: str) -> None:
    tamper(directory, "UPDATE Cache SET value = zeroblob(17 << 20) WHERE key = ?", key)


def deeply_nested(directory: Path, key: str) -> None:
    tamper(directory, "UPDATE Cache SET value = ? WHERE key = ?", b"[" * 100_000, key)


def expired_in_diskcache(directory: Path, key: str) -> None:
    tamper(directory, "UPDATE Cache SET expire_time = 1 WHERE key = ?", key)


@pytest.mark.parametrize(
    "spoil",
    [
        garbage,
        text_value,
        integer_value,
        pickled_value,
        another_keys_row,
        huge_value,
        deeply_nested,
        expired_in_diskcache,
    ],
)
@pytest.mark.parametrize("when", ["while open", "at rest"])
def test_a_spoiled_row_costs_one_refetch(
    server: PccsServer,
    scenario: Scenario,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    spoil: Callable[[Path, str], None],
    when: str,
) -> None:
    directory = tmp_path / "cache"
    verify_ok(server, scenario, directory)
    key = tcb_key(directory)
    source = PcsSource(PcsClient(server.url, retries=0), CollateralCache(directory))
    open_verifier = Verifier(trust_root=scenario.trust_root_der, source=source)
    if when == "while open":
        open_verifier.verify(scenario.quote_bytes, now=scenario.now)  # the database is open
    spoil(directory, key)
    server.reset_log()
    chosen = open_verifier if when == "while open" else verifier(server, scenario, directory)
    assert str(chosen.verify(scenario.quote_bytes, now=scenario.now).status) == "UpToDate"
    assert [r.path.split("?")[0] for r in server.requests] == [TCB]
    assert "unpickled!" not in capsys.readouterr().out
    # Fetched again and stored afresh: the next verification makes no request.
    verify_ok(server, scenario, directory)
    assert server.count() == 1


def test_an_entry_whose_content_expired_is_refetched(
    server: PccsServer, scenario: Scenario, tmp_path: Path
) -> None:
    # A genuine, signed TCB Info that has expired, stored as if valid for ten years.
    directory = tmp_path / "cache"
    verify_ok(server, scenario, directory)
    key = tcb_key(directory)
    stale = scenario.forge.pki.collateral(
        tcb_info(next_update=scenario.now - timedelta(seconds=1))
    ).to_collateral()
    reply = bundle_replies(stale)["tcb"]
    url = key.split(" ", 1)[1]
    response = PcsResponse("tcb_info", url, reply.body, reply.headers[0][1])
    CollateralCache(directory).store(key, response, scenario.now + timedelta(days=3650))
    server.reset_log()
    verify_ok(server, scenario, directory)
    assert [r.path.split("?")[0] for r in server.requests] == [TCB]


def test_tampered_settings_change_nothing(
    server: PccsServer, scenario: Scenario, tmp_path: Path
) -> None:
    directory = tmp_path / "cache"
    verify_ok(server, scenario, directory)
    for sql, args in [
        ("INSERT INTO Settings VALUES ('disk_evil', 1)", ()),
        ("INSERT INTO Settings VALUES ('get', 'not callable')", ()),
        ("INSERT INTO Settings VALUES ('sqlite_temp_store_directory', '''/tmp''')", ()),
        ("UPDATE Settings SET value = 'abc' WHERE key = 'size'", ()),
        ("UPDATE Settings SET value = 0 WHERE key = 'disk_min_file_size'", ()),
        ("UPDATE Settings SET value = 'bogus' WHERE key = 'eviction_policy'", ()),
        ("UPDATE Settings SET value = 1 WHERE key = 'size_limit'", ()),
    ]:
        tamper(directory, sql, *args)
    server.reset_log()
    verify_ok(server, scenario, directory)
    assert server.count() == 0  # still served from the cache
    cache = CollateralCache(directory)
    cache.store("big", PcsResponse("tcb_info", "u", bytes(100_000), "c"), REFERENCE_TIME)
    assert isinstance(cache.volume(), int)
    assert sorted(p.name for p in directory.iterdir()) == [
        "cache.db",
        "cache.db-shm",
        "cache.db-wal",
    ]


def test_a_database_that_is_not_sqlite_is_bypassed(
    server: PccsServer,
    scenario: Scenario,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    directory = tmp_path / "cache"
    directory.mkdir()
    (directory / "cache.db").write_bytes(b"this is not a database" * 100)
    with caplog.at_level(logging.WARNING, "tdxquote.collateral.cache"):
        verify_ok(server, scenario, directory)
    assert [r.getMessage().split(" (")[0] for r in caplog.records] == [
        f"collateral cache {directory} is unusable"
    ]
    assert server.count() == 4
    assert main(["cache", "info", "--cache-dir", str(directory), "--json"]) == 0
    assert "not a database" in json.loads(capsys.readouterr().out)["result"]["problem"]
    assert main(["cache", "clear", "--cache-dir", str(directory)]) == 0
    verify_ok(server, scenario, directory)
    assert {e.artifact for e in CollateralCache(directory).entries()} == {
        "tcb_info",
        "qe_identity",
        "pck_crl",
        "root_ca_crl",
    }
