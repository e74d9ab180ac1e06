"""``tdxquote scan`` against the same work done with dcap-qvl, with 1 and 2 processes,
and with one platform against a thousand interleaved.

Corpora (written under ``benchmarks/out/``, git-ignored, reused while their size
matches; ``--fresh`` rewrites them):

* ``corpus``: every real quote of the shared vectors once, then forged quotes of
  eight kinds (v4 TD 1.0, v5 TD 1.5, v5 with a TD 1.0 body, v3 SGX, from a
  Platform-CA and a Processor-CA platform), each with its own report data and
  signature, one file in twenty as hex text;
* ``platforms-1`` and ``platforms-N``: forged v4 quotes of one platform, and of
  N platforms (each its own PCK leaf and FMSPC) in turn, file i from platform
  i mod N, same number of files.

Every scan runs in a fresh process (``tdxquote scan --json`` through the CLI's
``main``, or ``benchmarks/scan_dcap_qvl.py``), timed inside the process around
the scan, so interpreter start-up is left out; rounds interleave the runs.

Run from the repository root: ``python benchmarks/bench_scan.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import _timing as timing

timing.use_repo_checkout()

OUT = timing.REPO_ROOT / "benchmarks" / "out"
DEFAULT_FILES = 100_000
DEFAULT_PLATFORM_FILES = 50_000
DEFAULT_PLATFORMS = 1000
PER_FOLDER = 1000
DCAP_SCRIPT = timing.REPO_ROOT / "benchmarks" / "scan_dcap_qvl.py"


def _reuse(name: str, spec: dict[str, Any], fresh: bool) -> tuple[Path, bool]:
    """The folder ``OUT/name``; True when it already holds a corpus written with ``spec``."""
    folder, marker = OUT / name, OUT / f"{name}.json"
    ready = not fresh and marker.is_file() and folder.is_dir()
    if ready and json.loads(marker.read_text()).get("spec") == spec:
        return folder, True
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder, False


def _mark(name: str, spec: dict[str, Any], written: dict[str, Any]) -> None:
    (OUT / f"{name}.json").write_text(json.dumps({"spec": spec, **written}))


def corpus(files: int, *, fresh: bool) -> Path:
    """The mixed corpus (real and forged quotes), written unless already there."""
    from tdxquote._cli import bench

    spec = {"files": files, "kind": "mixed"}
    folder, ready = _reuse("corpus", spec, fresh)
    if not ready:
        written = bench.write_corpus(folder, files, timing.vectors_dir(), per_folder=PER_FOLDER)
        _mark("corpus", spec, written)
    return folder


def platform_corpus(files: int, platforms: int, *, fresh: bool) -> Path:
    """``files`` forged v4 quotes from ``platforms`` platforms in turn (file i: i mod N)."""
    from tdxquote.schema import BODY_SCHEMAS, field_layout
    from tdxquote.testing.forge import QuoteForge, td_report

    name = f"platforms-{platforms}"
    spec = {"files": files, "platforms": platforms, "kind": "platforms"}
    folder, ready = _reuse(name, spec, fresh)
    if ready:
        return folder
    forge = QuoteForge.create(seed=b"tdxquote bench platforms")
    bases = []
    for index in range(platforms):
        fmspc = (0x00906ED5 << 16 | index).to_bytes(6, "big")
        leaf = forge.pki.issue_pck(fmspc=fmspc, serial=1000 + index)
        bases.append(forge.replace(leaf=leaf).quote(td_report(2)).to_bytes())
    report_data = 48 + field_layout(BODY_SCHEMAS[2])["report_data"][0]
    for index in range(files):
        quote = bytearray(bases[index % platforms])
        quote[report_data : report_data + 8] = index.to_bytes(8, "big")  # unsigned: scan only
        sub = folder / f"d{index // PER_FOLDER:04d}"
        if index % PER_FOLDER == 0:
            sub.mkdir()
        (sub / f"q{index:07d}.dat").write_bytes(quote)
    _mark(name, spec, {"files": files, "platforms": platforms})
    return folder


def child_env() -> dict[str, str]:
    """The environment of the timed children: this checkout first, bytecode cached.

    Bytecode goes to ``benchmarks/out/pycache`` (not beside the sources), so every
    package is timed as an installed package runs, from its ``.pyc`` files.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(timing.REPO_ROOT), env.get("PYTHONPATH")])
    )
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(OUT / "pycache")
    return env


_TDXQUOTE_CHILD = """
import contextlib, io, json, sys, time
from tdxquote.cli import main
jobs, paths = sys.argv[1], sys.argv[2:]
out = io.StringIO()
start = time.perf_counter()
with contextlib.redirect_stdout(out):
    main(["scan", "--json", "--jobs", jobs, *paths])
seconds = time.perf_counter() - start
print(json.dumps({"files": json.loads(out.getvalue())["result"]["files"], "seconds": seconds}))
"""


def _run(argv: list[str]) -> dict[str, Any]:
    done = subprocess.run(argv, capture_output=True, env=child_env(), check=False, timeout=1800)
    try:
        result: dict[str, Any] = json.loads(done.stdout.decode().strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        raise RuntimeError(f"a scan child failed: {done.stderr.decode()[-800:]}") from None
    result["files_per_second"] = result["files"] / result["seconds"]
    return result


def scan_tdxquote(paths: Sequence[Path], jobs: int) -> dict[str, Any]:
    """``tdxquote scan --json --jobs N`` in a fresh process: files and seconds."""
    return _run([sys.executable, "-c", _TDXQUOTE_CHILD, str(jobs), *map(str, paths)])


def scan_dcap_qvl(paths: Sequence[Path]) -> dict[str, Any]:
    """``benchmarks/scan_dcap_qvl.py`` in a fresh process: files and seconds."""
    return _run([sys.executable, str(DCAP_SCRIPT), *map(str, paths)])


def _spread(values: Sequence[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "median": statistics.median(ordered),
        "p10": timing.percentile(ordered, 10),
        "p90": timing.percentile(ordered, 90),
    }


def measure(
    *,
    files: int,
    platform_files: int,
    platforms: int,
    repeats: int,
    fresh: bool,
    dcap_qvl: bool,
) -> dict[str, Any]:
    """The scan rows' measurements: throughputs, and ratios taken round by round."""
    mixed = corpus(files, fresh=fresh)
    one = platform_corpus(platform_files, 1, fresh=fresh)
    many = platform_corpus(platform_files, platforms, fresh=fresh)
    scan_tdxquote([one], 1)  # warm the bytecode cache and the page cache
    runs: dict[str, list[dict[str, Any]]] = {"dcap": [], "j1": [], "j2": [], "one": [], "many": []}
    for _ in range(repeats):
        if dcap_qvl:
            runs["dcap"].append(scan_dcap_qvl([mixed]))
        runs["j1"].append(scan_tdxquote([mixed], 1))
        runs["j2"].append(scan_tdxquote([mixed], 2))
        runs["one"].append(scan_tdxquote([one], 1))
        runs["many"].append(scan_tdxquote([many], 1))

    def rates(key: str) -> dict[str, float] | None:
        found = runs[key]
        return _spread([r["files_per_second"] for r in found]) if found else None

    def paired(top: str, bottom: str, field: str) -> dict[str, float] | None:
        pairs = list(zip(runs[top], runs[bottom], strict=False))
        if not pairs:
            return None
        return _spread([a[field] / b[field] for a, b in pairs])

    return {
        "files": files,
        "platform_files": platform_files,
        "platforms": platforms,
        "repeats": repeats,
        "rates": {key: rates(key) for key in runs},
        "j1_vs_dcap": paired("j1", "dcap", "files_per_second"),
        "j2_vs_j1": paired("j2", "j1", "files_per_second"),
        "many_vs_one_time": paired("many", "one", "seconds"),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run the scan rows and print them (or JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=DEFAULT_FILES, help="mixed corpus size")
    parser.add_argument("--platform-files", type=int, default=DEFAULT_PLATFORM_FILES)
    parser.add_argument("--platforms", type=int, default=DEFAULT_PLATFORMS)
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--fresh", action="store_true", help="rewrite the corpora")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)
    if min(args.files, args.platform_files, args.platforms, args.repeats) < 1:
        parser.error("sizes and --repeats must be at least 1")
    try:
        import dcap_qvl  # noqa: F401
    except ImportError:
        have_dcap = False
    else:
        have_dcap = True
    result = measure(
        files=args.files,
        platform_files=args.platform_files,
        platforms=args.platforms,
        repeats=args.repeats,
        fresh=args.fresh,
        dcap_qvl=have_dcap,
    )
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    for key, value in result["rates"].items():
        if value:
            low, high = value["p10"], value["p90"]
            print(f"{key:>5}: {value['median']:,.0f} files/s ({low:,.0f}-{high:,.0f})")
    for key in ("j1_vs_dcap", "j2_vs_j1", "many_vs_one_time"):
        if result[key]:
            print(f"{key}: {result[key]['median']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
