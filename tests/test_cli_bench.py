"""``tdxquote bench``: a smoke run of the smallest size; the shape of its output, never timings."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
from pathlib import Path
from typing import Any

import pytest

from tdxquote._cli.bench import GOALS, Report
from tdxquote.cli import main

HAVE_DCAP_QVL = importlib.util.find_spec("dcap_qvl") is not None
SMOKE = ["bench", "--quick", "--rounds", "1"]


def _run_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    assert main([*SMOKE, "--json", *args]) == 0
    document = json.loads(capsys.readouterr().out)
    assert (document["command"], document["ok"], document["error"]) == ("bench", True, None)
    result: dict[str, Any] = document["result"]
    return result


@pytest.fixture(scope="module")
def report(vectors: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One smoke run with the real vectors, a 30-file scan and a chart when matplotlib is there."""
    chart = tmp_path_factory.mktemp("bench") / "chart.png"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(
            [
                *SMOKE,
                "--json",
                "--vectors",
                str(vectors),
                "--scan-files",
                "30",
                "--chart",
                str(chart),
            ]
        )
    assert code == 0
    result: dict[str, Any] = json.loads(out.getvalue())["result"]
    result["_chart"] = str(chart)
    return result


def test_rows_cover_parse_and_verify_of_every_kind(report: dict[str, Any]) -> None:
    keys = {row["key"] for row in report["rows"]}
    for version in ("v3", "v4", "v5"):
        assert f"parse-{version}" in keys
        assert f"materialize-{version}" in keys
    for workload in ("v4-real", "v3-real", "v4-forged", "v5-forged"):
        for kind in ("cold", "warm", "warm-qe-off"):
            assert f"{kind}-{workload}" in keys
    assert {row["section"] for row in report["rows"]} == {"parse", "verify"}
    assert not any("forged quotes" in note for note in report["notes"])


def test_each_row_has_both_columns_and_a_ratio(report: dict[str, Any]) -> None:
    for row in report["rows"]:
        ours = row["tdxquote_us"]
        assert ours["p10"] <= ours["median"] <= ours["p90"]
        if HAVE_DCAP_QVL:
            assert row["dcap_qvl_us"]["median"] > 0
            assert row["ratio"]["p10"] <= row["ratio"]["median"] <= row["ratio"]["p90"]
        else:
            assert row["dcap_qvl_us"] is None
            assert row["ratio"] is None


def test_the_command_reports_measurements_not_the_projects_goals(report: dict[str, Any]) -> None:
    assert "goals" not in report
    assert not any("goal" in row for row in report["rows"])
    summary = report["summary"]
    assert [line.split(":")[0] for line in summary] == ["parsing", "verification", "scanning"]
    if HAVE_DCAP_QVL:
        assert "dcap-qvl's speed" in summary[0]


def test_goals_are_judged_from_the_rows(report: dict[str, Any]) -> None:
    # The benchmarks' report (benchmarks/bench_all.py) still judges the project's goals.
    rows = [{**row, "goal": None} for row in report["rows"]]
    keyed = {row["key"]: row for row in rows}
    for key, goal in (
        *((f"parse-v{v}", "parse") for v in (3, 4, 5)),
        ("warm-v4-forged", "warm"),
        ("warm-v5-forged", "warm"),
        *((f"cold-{w}", "cold") for w in ("v4-real", "v3-real", "v4-forged", "v5-forged")),
    ):
        ratio = keyed[key]["ratio"]
        text, least = GOALS[goal]
        status = "unknown" if ratio is None else ("met" if ratio["median"] >= least else "missed")
        keyed[key]["goal"] = {"key": goal, "text": text, "least_ratio": least, "status": status}
    judged = Report(report["machine"], report["settings"], [], rows, report["scan"])
    goals = {goal["goal"]: goal for goal in judged.goals()}
    parse = goals["validated parse no slower than dcap-qvl's parse_quote"]
    assert set(parse["rows"]) == {"parse-v3", "parse-v4", "parse-v5"}
    warm = goals["warm verification at least 6x dcap-qvl's verify throughput"]
    # Only distinct quotes count for the warm goal: the forged streams, default verifier.
    assert set(warm["rows"]) == {"warm-v4-forged", "warm-v5-forged"}
    cold = goals["cold verification within 1.5x dcap-qvl's verify time"]
    assert len(cold["rows"]) == 4
    expected = {"met", "missed"} if HAVE_DCAP_QVL else {"unknown"}
    for goal in (parse, warm, cold):
        assert set(goal["rows"].values()) <= expected
    assert goals["scan throughput grows with --jobs"]["status"] in ("met", "missed")
    assert goals["scan memory flat with corpus size"]["status"] in ("met", "missed")


def test_scan_counts_every_file_of_the_corpus(report: dict[str, Any]) -> None:
    scan = report["scan"]
    assert scan["files"] == 30
    assert [run["jobs"] for run in scan["throughput"]] == [1, 2]
    for run in scan["throughput"]:
        assert (run["files"], run["parsed"], run["failed"]) == (30, 30, 0)
        assert run["peak_rss_mib"] > 0
    assert [size["files"] for size in scan["memory_by_size"]] == [10, 10, 30]


def test_chart_is_a_png(report: dict[str, Any]) -> None:
    pytest.importorskip("matplotlib")
    assert Path(report["_chart"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_text_tables(vectors: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*SMOKE, "--vectors", str(vectors), "--scan-files", "0"]) == 0
    out = capsys.readouterr().out
    for heading in ("# tdxquote bench", "## Parsing", "## Verification", "## Summary"):
        assert heading in out.splitlines()
    assert "## Scanning" not in out
    assert "## Goals" not in out
    assert "goal" not in out.lower()
    headers = [line for line in out.splitlines() if line.startswith("| row ")]
    assert len(headers) == 2  # parsing and verification
    for column in ("tdxquote µs", "dcap-qvl µs", "dcap-qvl ÷ tdxquote"):
        assert all(column in header for header in headers)
    assert "v4 real TDX: cold" in out


def test_without_vectors_forged_quotes_and_a_note(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("TDXQUOTE_VECTORS", raising=False)
    result = _run_json(capsys, "--scan-files", "0")
    assert any("forged quotes" in note for note in result["notes"])
    keys = {row["key"] for row in result["rows"]}
    assert not any(key.endswith("-real") for key in keys)
    assert {"parse-v3", "parse-v4", "parse-v5", "warm-v4-forged", "cold-v5-forged"} <= keys
    assert result["scan"] is None


def test_missing_vectors_folder_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*SMOKE, "--vectors", str(tmp_path / "absent")]) == 2
    assert "does not exist" in capsys.readouterr().err
