"""The Dask example of docs/performance.md runs, and its report is ``tdxquote scan``'s.

The example's code is taken from the documentation itself and run on a real
``dask.distributed`` ``LocalCluster`` (two worker processes, loopback only)
over a corpus of 2,000 quote files generated in a temporary folder: the real
quotes of the shared vectors and forged ones, one in twenty as hex.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO_ROOT

from tdxquote._cli.bench import write_corpus
from tdxquote.cli import main

pytestmark = pytest.mark.slow

MARKER = "<!-- the Dask example: tests/test_scan_dask.py runs it -->"


def example_source() -> str:
    text = (REPO_ROOT / "docs" / "performance.md").read_text(encoding="utf-8")
    after = text[text.index(MARKER) + len(MARKER) :]
    found = re.search(r"```python\n(.*?)```", after, re.S)
    assert found is not None, "no python block after the marker"
    return found.group(1)


def test_the_example_is_in_the_docs() -> None:
    source = example_source()
    assert "scan_batch" in source
    assert "LocalCluster" in source


def test_dask_report_equals_the_cli_report(
    vectors: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    distributed = pytest.importorskip("distributed")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    written = write_corpus(corpus, 2000, vectors, per_folder=250)
    assert written["files"] == 2000
    (corpus / "d0000" / "loop").symlink_to(corpus, target_is_directory=True)  # a walk problem

    namespace: dict[str, Any] = {"__name__": "dask_example"}
    exec(compile(example_source(), "docs/performance.md", "exec"), namespace)

    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        report = namespace["scan_on_dask"]([str(corpus)], client, batch_size=300)

    assert main(["scan", "--json", str(corpus)]) == 1  # the walk problem is a failure
    cli_report = json.loads(capsys.readouterr().out)["result"]
    # The CLI also echoes its --include/--exclude filters (none here); the rest is the report.
    assert cli_report.pop("filters") == {"exclude": [], "include": []}
    assert report.to_dict() == cli_report
    assert cli_report["files"] == 2001
    assert cli_report["parsed"] >= 1900
    assert len(cli_report["by_fmspc"]) > 2
