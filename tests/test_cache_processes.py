"""Two processes verifying against one cache directory and one server, at the same time."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import REPO_ROOT

from tdxquote.collateral import CollateralCache
from tdxquote.testing.forge import QuoteForge
from tdxquote.testing.pccs import PccsServer

ROUNDS = 5

WORKER = """
import sys
from tdxquote.collateral import CollateralCache, PcsClient, PcsSource
from tdxquote.testing.forge import QuoteForge, td_report
from tdxquote.verification import Verifier

url, directory, name = sys.argv[1:4]
forge = QuoteForge.create(seed=b"two processes")
scenario = forge.scenario()
for round in range({rounds}):
    # A new verifier and cache handle each round: every round reads the shared directory.
    source = PcsSource(PcsClient(url, retries=2, backoff=0.01), CollateralCache(directory))
    verifier = Verifier(trust_root=scenario.trust_root_der, source=source)
    quote = forge.quote(td_report(report_data=f"{{name}} {{round}}".encode()))
    print(verifier.verify(quote, now=scenario.now).status, flush=True)
    source.close()
"""


def test_two_processes_share_one_cache_directory(tmp_path: Path) -> None:
    scenario = QuoteForge.create(seed=b"two processes").scenario()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    code = WORKER.format(rounds=ROUNDS)
    with PccsServer() as server:
        server.add_collateral(scenario.to_collateral())
        workers = [
            subprocess.Popen(
                [sys.executable, "-c", code, server.url, str(tmp_path), name],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
            )
            for name in ("a", "b")
        ]
        results = [worker.communicate(timeout=120) for worker in workers]
        requests = server.count()
    for worker, (out, err) in zip(workers, results, strict=True):
        assert worker.returncode == 0, err.decode()
        assert out.decode().split() == ["UpToDate"] * ROUNDS
    # Each process fetches at most the four artifacts once (both may miss at the start);
    # every later round is served from the shared directory.
    assert 4 <= requests <= 8
    assert len(CollateralCache(tmp_path).entries()) == 4
