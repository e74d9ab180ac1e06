"""Regenerate the project's own synthetic vectors: ``python vectors/generate.py [--check]``.

Everything here is forged with ``tdxquote.testing`` from fixed seeds, so the files are
reproducible byte for byte; ``--check`` exits 1 when a file on disk differs from what
the forge produces now (the tests run it).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tdxquote.testing.forge import QuoteForge, sgx_report, td_report

HERE = Path(__file__).resolve().parent / "synthetic"


def build() -> dict[str, bytes]:
    """Every file name under ``vectors/synthetic`` and its content."""
    files: dict[str, bytes] = {}
    forge = QuoteForge.create(seed=b"tdxquote vectors")
    cases = {
        "tdx_v4": forge.quote(td_report(2, report_data=b"tdxquote v4"), version=4),
        "tdx_v5_td10": forge.quote(td_report(2, report_data=b"tdxquote v5 td10"), version=5),
        "tdx_v5_td15": forge.quote(td_report(3, report_data=b"tdxquote v5 td15")),
        "tdx_v4_bad_signature": forge.quote(td_report(2), version=4, bad_quote_signature=True),
        "tdx_v4_swapped_attestation_key": forge.quote(
            td_report(2), version=4, swapped_attestation_key=True
        ),
    }
    for name, quote in cases.items():
        files[f"{name}.quote"] = quote.to_bytes()
    scenario = forge.scenario(cases["tdx_v4"])
    files["tdx_collateral.json"] = scenario.collateral_json().encode()
    files["trust_root.pem"] = scenario.trust_root_pem
    files["now.txt"] = f"{scenario.now_timestamp}\n".encode()
    sgx_forge = QuoteForge.create(seed=b"tdxquote vectors")
    sgx_quote = sgx_forge.quote(sgx_report(report_data=b"tdxquote sgx"))
    files["sgx_v3.quote"] = sgx_quote.to_bytes()
    files["sgx_collateral.json"] = sgx_forge.scenario(sgx_quote).collateral_json().encode()
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args(argv)
    files = build()
    if args.check:
        stale = [
            name
            for name, data in files.items()
            if not (HERE / name).is_file() or (HERE / name).read_bytes() != data
        ]
        for name in stale:
            print(f"stale: vectors/synthetic/{name}", file=sys.stderr)
        return 1 if stale else 0
    HERE.mkdir(exist_ok=True)
    for name, data in files.items():
        (HERE / name).write_bytes(data)
    print(f"wrote {len(files)} files to vectors/synthetic/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
