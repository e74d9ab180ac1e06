"""``tdxquote scan`` and :func:`tdxquote._scan.scan_paths`: counts, failures, jobs, exits."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO_ROOT

from tdxquote import QuoteParseError, parse_quote
from tdxquote._cli.scan import Progress
from tdxquote._scan import CHUNK_SIZE, ScanFailure, iter_corpus, scan_paths
from tdxquote.cli import main

# corpus name -> shared vector
GOOD = {
    "v3_sgx.bin": "dcap-qvl/sgx_quote",
    "v4_tdx.bin": "dcap-qvl/tdx_quote",
    "nested/v5_tdx.dat": "go-tdx-guest/quotes/quote_v5_sample.dat",
    "nested/deeper/gcp_v4.dat": "go-tdx-guest/quotes/cos-113-tdx-quote.dat",
    "nested/quote.hex": "dcap-qvl/tdx-quote.hex",
    "intel_tdx.dat": "intel-dcap/qvl-sampleData/tdx/quote.dat",
}


def run_module(*args: str, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "tdxquote", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def corpus(vectors: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``corpus/`` in the current directory: six good quotes, a corrupt file, a text file."""
    root = tmp_path / "corpus"
    for name, source in GOOD.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(vectors / source, target)
    (root / "nested" / "corrupt.bin").write_bytes((vectors / GOOD["v4_tdx.bin"]).read_bytes()[:700])
    (root / "nested" / "deeper" / "notes.txt").write_text("not a quote\n")
    monkeypatch.chdir(tmp_path)
    return Path("corpus")


def scan_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    """Exit code and the report (``filters`` left out); the whole document when it has none."""
    code, out, err = cli(capsys, "scan", "--json", *args)
    assert err == ""
    document: dict[str, Any] = json.loads(out)
    assert (document["schema"], document["command"]) == ("tdxquote/1", "scan")
    if document["result"] is None:
        return code, document
    assert document["ok"] is (code == 0)
    if code == 1:
        assert (document["error"]["kind"], document["error"]["code"]) == ("failed", "scan_failures")
    result: dict[str, Any] = dict(document["result"])
    assert set(result.pop("filters")) == {"include", "exclude"}
    return code, result


def test_counts_and_failures(capsys: pytest.CaptureFixture[str], corpus: Path) -> None:
    code, report = scan_json(capsys, str(corpus))
    assert code == 1
    assert (report["files"], report["parsed"], report["failed"]) == (8, 6, 2)
    assert report["by_version"] == {"3": 1, "4": 4, "5": 1}
    assert report["by_tee"] == {"SGX": 1, "TDX": 5}
    assert report["by_body_type"] == {"sgx": 1, "td10": 4, "td15": 1}
    assert report["by_input_format"] == {"binary": 5, "hex": 1}
    assert report["by_fmspc"] == {
        "00806f050000": 1,
        "00a067110000": 1,
        "90c06f000000": 1,
        "b0c06f000000": 2,
        "unknown": 1,
    }
    assert report["failures"] == [
        {
            "path": "corpus/nested/corrupt.bin",
            "field": "signed_data_size",
            "offset": 632,
            "reason": "signed data size 4300 exceeds the 64 bytes that remain",
        },
        {
            "path": "corpus/nested/deeper/notes.txt",
            "field": "header",
            "offset": 12,
            "reason": "quote is 12 bytes, shorter than the 48-byte header",
        },
    ]


def test_pck_errors_are_counted_apart_from_failures(
    capsys: pytest.CaptureFixture[str], corpus: Path
) -> None:
    quote = parse_quote((corpus / "intel_tdx.dat").read_bytes())
    with pytest.raises(QuoteParseError) as caught:
        _ = quote.pck_chain  # its type-5 data is DER, not PEM
    expected = caught.value
    _, report = scan_json(capsys, str(corpus))
    assert report["pck_errors"] == {
        "count": 1,
        "by_reason": {f"pck_chain: {expected.reason}": 1},
        "files": [
            {
                "path": "corpus/intel_tdx.dat",
                "field": "pck_chain",
                "offset": expected.offset,
                "reason": expected.reason,
            }
        ],
    }
    assert all(f["path"] != "corpus/intel_tdx.dat" for f in report["failures"])


def test_jobs_do_not_change_the_report(capsys: pytest.CaptureFixture[str], corpus: Path) -> None:
    # Enough files for several chunks, so that the processes really share the work.
    for index in range(3 * CHUNK_SIZE):
        shutil.copyfile(corpus / "v4_tdx.bin", corpus / "nested" / f"copy{index:03d}.bin")
    outputs = []
    for jobs in ("1", "2", "3"):
        code, out, err = cli(capsys, "scan", "--json", "--jobs", jobs, str(corpus))
        assert (code, err) == (1, "")
        outputs.append(out)
    assert outputs[0] == outputs[1] == outputs[2]
    assert json.loads(outputs[0])["result"]["files"] == 8 + 3 * CHUNK_SIZE
    code, text_1, _ = cli(capsys, "scan", "-j", "1", str(corpus))
    code, text_2, _ = cli(capsys, "scan", "-j", "2", str(corpus))
    assert text_1 == text_2


def test_library_report_equals_cli_json(capsys: pytest.CaptureFixture[str], corpus: Path) -> None:
    _, report = scan_json(capsys, str(corpus))
    assert scan_paths([corpus]).to_dict() == report
    assert scan_paths([str(corpus)], jobs=2).to_dict() == report


def test_text_report(capsys: pytest.CaptureFixture[str], corpus: Path) -> None:
    code, out, err = cli(capsys, "scan", str(corpus))
    assert (code, err) == (1, "")
    assert out.splitlines() == [
        "Scanned 8 files: 6 parsed, 2 failed",
        "  by version      v3 1, v4 4, v5 1",
        "  by TEE          SGX 1, TDX 5",
        "  by body type    sgx 1, td10 4, td15 1",
        "  by input        binary 5, hex 1",
        "  by FMSPC        00806F050000 1, 00A067110000 1, 90C06F000000 1, B0C06F000000 2, "
        "unknown 1",
        "PCK chain or extension not decoded, FMSPC unknown (1):",
        "  corpus/intel_tdx.dat: pck_chain at offset 1226: "
        "the PCK chain holds bytes other than PEM certificate blocks",
        "Failures (2):",
        "  corpus/nested/corrupt.bin: signed_data_size at offset 632: "
        "signed data size 4300 exceeds the 64 bytes that remain",
        "  corpus/nested/deeper/notes.txt: header at offset 12: "
        "quote is 12 bytes, shorter than the 48-byte header",
    ]


def test_all_good_exits_0(capsys: pytest.CaptureFixture[str], corpus: Path) -> None:
    code, report = scan_json(
        capsys, str(corpus / "v4_tdx.bin"), str(corpus / "nested" / "quote.hex")
    )
    assert code == 0
    assert (report["files"], report["parsed"], report["failures"]) == (2, 2, [])


def test_files_and_directories_mix_in_order(corpus: Path) -> None:
    paths = [path for path, _ in iter_corpus([corpus / "v4_tdx.bin", corpus / "nested"])]
    assert paths == [
        str(corpus / "v4_tdx.bin"),
        str(corpus / "nested" / "corrupt.bin"),
        str(corpus / "nested" / "quote.hex"),
        str(corpus / "nested" / "v5_tdx.dat"),
        str(corpus / "nested" / "deeper" / "gcp_v4.dat"),
        str(corpus / "nested" / "deeper" / "notes.txt"),
    ]


def test_max_size(capsys: pytest.CaptureFixture[str], corpus: Path) -> None:
    code, report = scan_json(capsys, "--max-size", "5000", str(corpus / "nested" / "deeper"))
    assert code == 1
    assert report["failures"][0] == {
        "path": "corpus/nested/deeper/gcp_v4.dat",
        "field": "file",
        "offset": None,
        "reason": "8000 bytes, over the 5000-byte size limit",
    }
    code, report = scan_json(capsys, "--max-size", "8000", str(corpus / "nested" / "deeper"))
    assert report["parsed"] == 1


def test_default_max_size_is_one_mib(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(bytes((1 << 20) + 1))
    code, report = scan_json(capsys, str(big))
    assert code == 1
    assert report["failures"][0]["reason"] == "1048577 bytes, over the 1048576-byte size limit"


def test_directory_symlinks_are_not_followed(
    capsys: pytest.CaptureFixture[str], corpus: Path
) -> None:
    (corpus / "loop").symlink_to(Path("..") / "corpus", target_is_directory=True)
    (corpus / "link.bin").symlink_to("v4_tdx.bin")
    _, report = scan_json(capsys, str(corpus))
    assert report["files"] == 10
    assert report["by_fmspc"]["b0c06f000000"] == 3
    assert report["failures"][0] == {
        "path": "corpus/loop",
        "field": "file",
        "offset": None,
        "reason": "symbolic link to a directory (not followed)",
    }


@pytest.mark.parametrize(
    "args",
    [[], ["missing-dir"], ["--jobs", "0", "corpus"], ["--max-size", "x", "corpus"]],
)
def test_usage_errors_exit_2(
    capsys: pytest.CaptureFixture[str], corpus: Path, args: list[str]
) -> None:
    code, out, err = cli(capsys, "scan", *args)
    assert code == 2
    assert out == ""
    assert "Traceback" not in err
    assert err.startswith(("usage:", "tdxquote: error: missing-dir: no such file or directory"))


def test_missing_path_json_error(capsys: pytest.CaptureFixture[str], corpus: Path) -> None:
    code, report = scan_json(capsys, str(corpus), "missing-dir")
    assert code == 2
    assert report == {
        "schema": "tdxquote/1",
        "command": "scan",
        "ok": False,
        "result": None,
        "error": {
            "kind": "bad_input",
            "code": "usage_error",
            "field": None,
            "offset": None,
            "message": "missing-dir: no such file or directory",
            "details": {},
        },
    }


def test_library_rejects_bad_arguments(corpus: Path) -> None:
    with pytest.raises(FileNotFoundError):
        scan_paths([corpus / "absent"])
    with pytest.raises(ValueError, match="jobs"):
        scan_paths([corpus], jobs=0)
    with pytest.raises(ValueError, match="max_size"):
        scan_paths([corpus], max_size=0)


def test_progress_callback_sees_every_chunk(corpus: Path) -> None:
    for index in range(2 * CHUNK_SIZE):
        shutil.copyfile(corpus / "v3_sgx.bin", corpus / f"sgx{index:02d}.bin")
    calls: list[tuple[int, int | None]] = []
    report = scan_paths([corpus], jobs=2, progress=lambda done, total: calls.append((done, total)))
    total = 8 + 2 * CHUNK_SIZE
    assert report.files == total
    assert calls == [
        (min(n, total), total) for n in range(CHUNK_SIZE, total + CHUNK_SIZE, CHUNK_SIZE)
    ]


def test_progress_display_is_throttled_and_cleared() -> None:
    stream = io.StringIO()
    now = [0.0]
    progress = Progress(stream, interval=0.1, clock=lambda: now[0])
    progress(16, 64)
    progress(32, 64)  # same instant: skipped
    now[0] = 0.5
    progress(48, 64)
    progress(64, 64)  # the last one is always shown
    progress.clear()
    assert stream.getvalue().split("\r") == [
        "",
        "scanning [#######.......................] 16/64 files",
        "scanning [######################........] 48/64 files",
        "scanning [##############################] 64/64 files",
        " " * 60,
        "",
    ]


def test_progress_without_total() -> None:
    stream = io.StringIO()
    Progress(stream)(5, None)
    assert stream.getvalue() == "\rscanning: 5 files"


def test_no_progress_when_stderr_is_not_a_terminal(corpus: Path) -> None:
    done = run_module("scan", "--jobs", "2", "corpus", cwd=corpus.resolve().parent)
    assert done.returncode == 1
    assert done.stderr == b""
    assert done.stdout.decode().startswith("Scanned 8 files: 6 parsed, 2 failed\n")


def test_unreadable_entries_are_failures_not_crashes(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    report = scan_paths([tmp_path])
    assert report.failures == [ScanFailure(str(fifo), "file", None, "not a regular file")]


def _peak_scan_memory(directory: Path) -> int:
    tracemalloc.start()
    try:
        scan_paths([directory])
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_stays_flat_with_corpus_size(vectors: Path, tmp_path: Path) -> None:
    quote = (vectors / GOOD["v4_tdx.bin"]).read_bytes()
    small, large = tmp_path / "small", tmp_path / "large"
    for directory, count in ((small, 40), (large, 400)):
        directory.mkdir()
        for index in range(count):
            (directory / f"q{index:03d}.bin").write_bytes(quote)
    _peak_scan_memory(small)  # warm caches and imports
    grown = _peak_scan_memory(large) - _peak_scan_memory(small)
    # Holding the bytes of the 360 extra quotes alone would take 1.8 MB.
    assert grown < 360 * len(quote) // 4
