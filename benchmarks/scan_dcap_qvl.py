"""What ``tdxquote scan --jobs 1`` does, done with dcap-qvl: the scan benchmark's baseline.

Walks the folders (sorted, files before subfolders), skips files over 1 MiB,
reads each file, tells hex from binary as tdxquote does, parses it with
``dcap_qvl.parse_quote`` and counts versions, TEEs, body types, input formats
and FMSPCs.  ``quote.fmspc()`` decodes the PCK leaf (about 100 µs), so FMSPCs
are remembered by the chain's PEM bytes, as tdxquote does.  Prints the counts
as JSON, with the seconds the scan took (interpreter start-up and imports left
out): ``python benchmarks/scan_dcap_qvl.py FOLDER...``.
"""

import json
import os
import re
import sys
import time
from collections import Counter

import dcap_qvl

BODY = {"PySgxEnclaveReport": "sgx", "PyTdReport10": "td10", "PyTdReport15": "td15"}
HEX = re.compile(rb"\s*(?:0[xX])?[0-9A-Fa-f\s]+")
counts = {name: Counter() for name in ("version", "tee", "body", "input", "fmspc")}
fmspcs = {}
started = time.perf_counter()
files = failed = 0
for top in sys.argv[1:]:
    for folder, subfolders, names in os.walk(top):
        subfolders.sort()
        for name in sorted(names):
            files += 1
            path = os.path.join(folder, name)
            if os.stat(path).st_size > 1 << 20:
                failed += 1
                continue
            with open(path, "rb") as handle:
                data = handle.read()
            is_hex = data.isascii() and HEX.fullmatch(data) is not None
            try:
                text = data.decode().replace("0x", "").replace("0X", "") if is_hex else ""
                quote = dcap_qvl.parse_quote(bytes.fromhex(text) if is_hex else data)
            except Exception:  # dcap-qvl raises ValueError and others on bad input
                failed += 1
                continue
            pem = quote.cert_chain_pem_bytes()
            if pem not in fmspcs:
                try:
                    fmspcs[pem] = quote.fmspc().lower()
                except Exception:
                    fmspcs[pem] = "unknown"
            fmspc = fmspcs[pem]
            for key, value in (
                ("version", str(quote.header.version)),
                ("tee", "TDX" if quote.is_tdx() else "SGX"),
                ("body", BODY.get(type(quote.report).__name__, "other")),
                ("input", "hex" if is_hex else "binary"),
                ("fmspc", fmspc),
            ):
                counts[key][value] += 1
seconds = time.perf_counter() - started
result = {"files": files, "parsed": files - failed, "failed": failed, "seconds": seconds}
print(json.dumps({**result, **{key: dict(sorted(c.items())) for key, c in counts.items()}}))
