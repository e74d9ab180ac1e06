"""``python benchmarks/bench_all.py --quick`` prints every row of the performance table.

Only that the rows are there, filled and judged; never the timings themselves.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO_ROOT

pytestmark = pytest.mark.slow

sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
import bench_all  # noqa: E402


def test_quick_run_prints_every_row(vectors: Path, tmp_path: Path) -> None:
    pytest.importorskip("dcap_qvl")
    chart = tmp_path / "chart.png"
    env = dict(os.environ, TDXQUOTE_VECTORS=str(vectors))
    done = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "benchmarks" / "bench_all.py"),
            "--quick",
            "--out",
            str(tmp_path / "out"),
            "--chart",
            str(chart),
            "--save",
            str(tmp_path / "saved.json"),
        ],
        capture_output=True,
        env=env,
        cwd=REPO_ROOT,
        timeout=600,
        check=False,
    )
    out = done.stdout.decode()
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    table = [line for line in out.splitlines() if line.startswith("| ")]
    headers = [cell.strip() for cell in table[0].split("|")[1:-1]]
    assert headers == ["what", "tdxquote", "dcap-qvl", "ratio", "goal", "met/missed"]
    rows = table[1:]
    assert len(rows) == len(bench_all.ROWS)
    for row, line in zip(bench_all.ROWS, rows, strict=True):
        cells = [cell.strip() for cell in line.split("|")[1:-1]]
        assert cells[0].startswith(row.what), (row.key, cells)
        assert cells[1] not in ("", "n/a", "error"), (row.key, cells)
        assert cells[4] == row.goal.text()
        assert cells[5] in ("met", "missed"), (row.key, cells)
    assert chart.stat().st_size > 1000
    replotted = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "benchmarks" / "bench_all.py"),
            "--replot",
            str(tmp_path / "saved.json"),
            "--chart",
            "",
        ],
        capture_output=True,
        env=env,
        timeout=120,
        check=True,
    ).stdout.decode()
    assert [line for line in replotted.splitlines() if line.startswith("| ")] == table


@pytest.mark.parametrize(
    ("kind", "value", "measured", "met"),
    [
        ("speed", 7, 7.5, True),
        ("speed", 7, 6.9, False),
        ("time", 1.3, 1.2, True),
        ("time", 1.3, 1.4, False),
        ("us", 300, 250, True),
        ("us", 300, 301, False),
    ],
)
def test_goal_attainment(kind: str, value: float, measured: float, met: bool) -> None:
    assert (bench_all.Goal(kind, value).attainment(measured) >= 1) is met
