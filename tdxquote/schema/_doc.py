"""Markdown layout tables generated from the schemas (``python -m tdxquote.schema``).

``docs/quote-format.md`` embeds this output; a test keeps the two equal, so
the documentation cannot drift from the layouts the parser uses.
"""

from __future__ import annotations

import construct as c

from ._layouts import (
    AUTH_DATA_V3,
    AUTH_DATA_V4,
    BODY_DESCRIPTOR,
    CERTIFICATION_DATA,
    HEADER,
    QE_REPORT_CERTIFICATION_DATA,
    SGX_REPORT,
    TD_REPORT_10,
    TD_REPORT_15,
    TD_REPORT_15EX,
    RuleViolation,
)

__all__ = ["layout_markdown"]

_TABLES: tuple[tuple[str, c.Struct], ...] = (
    ("Header (48 bytes)", HEADER),
    ("v5 body descriptor (6 bytes, at 0x30)", BODY_DESCRIPTOR),
    ("TD report, TDX 1.0 (584 bytes; v4 body, v5 body type 2)", TD_REPORT_10),
    ("TD report, TDX 1.5 (648 bytes; v5 body type 3)", TD_REPORT_15),
    ("TD report, TDX 1.5 ex (885 bytes; v5 body type 4, dcap-qvl 0.7.0 layout)", TD_REPORT_15EX),
    ("SGX report (384 bytes; v3/v4 SGX body, v5 body type 1, QE report)", SGX_REPORT),
    ("Signature data, quote v3", AUTH_DATA_V3),
    ("Signature data, quotes v4 and v5", AUTH_DATA_V4),
    ("QE report certification data (certification data type 6)", QE_REPORT_CERTIFICATION_DATA),
    ("Certification data (types 1 to 5)", CERTIFICATION_DATA),
)


def _describe(sub: c.Construct) -> tuple[str, str]:
    inner = sub.subcon if isinstance(sub, c.Renamed) else sub
    if isinstance(inner, c.FormatField):
        return str(inner.sizeof()), f"u{8 * inner.sizeof()} little-endian"
    if isinstance(inner, c.Bytes):
        return str(inner.sizeof()), "bytes"
    if inner is SGX_REPORT:
        return str(inner.sizeof()), "SGX report (table above)"
    if inner is CERTIFICATION_DATA:
        return "6 + n", "certification data (table below)"
    if isinstance(inner, c.Prefixed):
        width = inner.lengthfield.sizeof()
        what = "bytes"
        if inner.subcon is QE_REPORT_CERTIFICATION_DATA:
            what = "QE report certification data (table below)"
        return f"{width} + n", f"u{8 * width} length n, then n {what}"
    raise TypeError(f"undocumented construct {inner!r}")


def layout_markdown() -> str:
    """Every layout as a markdown table: offset, size, field, encoding."""
    out: list[str] = []
    for title, schema in _TABLES:
        out.append(f"### {title}\n")
        out.append("| offset | size | field | encoding |")
        out.append("|---|---|---|---|")
        offset: int | None = 0
        for sub in schema.subcons:
            if sub.name is None:
                continue
            size, encoding = _describe(sub)
            where = f"0x{offset:03x}" if offset is not None else "after the previous"
            out.append(f"| {where} | {size} | `{sub.name}` | {encoding} |")
            try:
                offset = None if offset is None else offset + int(sub.sizeof())
            except (c.SizeofError, RuleViolation):
                offset = None
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    print(layout_markdown())
