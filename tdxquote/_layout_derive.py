"""Offsets derived from the ``construct`` schemas, and the generated layout table.

The fast parser must not import ``construct`` (it costs more to import than
a thousand parses), so the offsets and ``struct`` formats it needs are
written once from the schemas into :mod:`tdxquote._layout_table`::

    python -m tdxquote._layout_derive          # rewrite tdxquote/_layout_table.py
    python -m tdxquote._layout_derive --check  # exit 1 when it is out of date

A test regenerates the table and compares it byte for byte with the file, so
a schema change that is not regenerated fails the tests.
"""

from __future__ import annotations

import sys
from pathlib import Path

import construct as c

__all__ = ["TABLE_PATH", "PrefixLayout", "prefix_layout", "render_layout_table"]

TABLE_PATH = Path(__file__).with_name("_layout_table.py")
"""Where the generated table lives."""

COMMAND = "python -m tdxquote._layout_derive"


class PrefixLayout:
    """Offsets of the fixed-size fields that open a schema, up to its first variable field.

    ``fields`` maps a name to its (offset, size); ``variable`` names the first
    length-prefixed field, found at ``variable_offset`` with a length field of
    ``length_size`` bytes.
    """

    __slots__ = ("fields", "length_size", "variable", "variable_offset")

    def __init__(
        self,
        fields: dict[str, tuple[int, int]],
        variable: str,
        variable_offset: int,
        length_size: int,
    ) -> None:
        self.fields = fields
        self.variable = variable
        self.variable_offset = variable_offset
        self.length_size = length_size


def prefix_layout(schema: c.Struct) -> PrefixLayout:
    """Walk ``schema`` and return the layout up to its first length-prefixed field."""
    fields: dict[str, tuple[int, int]] = {}
    offset = 0
    for sub in schema.subcons:
        inner = sub.subcon if isinstance(sub, c.Renamed) else sub
        if isinstance(inner, c.Prefixed):
            return PrefixLayout(fields, str(sub.name), offset, int(inner.lengthfield.sizeof()))
        size = int(sub.sizeof())
        if sub.name is not None:
            fields[sub.name] = (offset, size)
        offset += size
    raise ValueError("schema has no length-prefixed field")


def _fields_literal(fields: dict[str, tuple[int, int]], indent: str = "    ") -> list[str]:
    return [f'{indent}"{name}": ({offset}, {size}),' for name, (offset, size) in fields.items()]


def _prefix_lines(name: str, layout: PrefixLayout, doc: str) -> list[str]:
    return [
        f"{name}_FIELDS: dict[str, tuple[int, int]] = {{",
        *_fields_literal(layout.fields),
        "}",
        f'"""{doc}: fixed fields, name -> (offset, size)."""',
        f"{name}_VARIABLE = ({layout.variable!r}, {layout.variable_offset}, "
        f"{layout.length_size})".replace("'", '"'),
        '"""Its first length-prefixed field: (name, offset of the length, length size)."""',
        "",
    ]


def render_layout_table() -> str:
    """The source of :mod:`tdxquote._layout_table`, from the schemas as they are now."""
    from .schema import (
        AUTH_DATA_V3,
        AUTH_DATA_V4,
        BODY_DESCRIPTOR,
        BODY_SCHEMAS,
        CERTIFICATION_DATA,
        HEADER,
        QE_REPORT_CERTIFICATION_DATA,
        field_layout,
        struct_format,
    )

    lines = [
        '"""The byte layouts of the quote formats, as the fast parser reads them.',
        "",
        "GENERATED from the ``construct`` schemas of :mod:`tdxquote.schema` by",
        f"``{COMMAND}``; do not edit.  A test regenerates it and",
        "compares it byte for byte.",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        f'HEADER_FORMAT = "{struct_format(HEADER)}"',
        f"HEADER_SIZE = {HEADER.sizeof()}",
        "HEADER_FIELDS: dict[str, tuple[int, int]] = {",
        *_fields_literal(field_layout(HEADER)),
        "}",
        '"""Header field name -> (offset, size)."""',
        "",
        f'BODY_DESCRIPTOR_FORMAT = "{struct_format(BODY_DESCRIPTOR)}"',
        f"BODY_DESCRIPTOR_SIZE = {BODY_DESCRIPTOR.sizeof()}",
        "",
        "REPORT_FORMATS: dict[int, str] = {",
        *[f'    {key}: "{struct_format(schema)}",' for key, schema in BODY_SCHEMAS.items()],
        "}",
        '"""Body type -> ``struct`` format of its report (1: the SGX report, also the QE\'s)."""',
        "REPORT_SIZES: dict[int, int] = {",
        *[f"    {key}: {schema.sizeof()}," for key, schema in BODY_SCHEMAS.items()],
        "}",
        "REPORT_FIELDS: dict[int, tuple[str, ...]] = {",
    ]
    for key, schema in BODY_SCHEMAS.items():
        lines.append(f"    {key}: (")
        lines += [f'        "{name}",' for name in field_layout(schema)]
        lines.append("    ),")
    lines += [
        "}",
        '"""Body type -> its report\'s field names, in wire order."""',
        "",
        *_prefix_lines("AUTH_DATA_V3", prefix_layout(AUTH_DATA_V3), "Quote v3 signature data"),
        *_prefix_lines("AUTH_DATA_V4", prefix_layout(AUTH_DATA_V4), "Quote v4 / v5 signature data"),
        *_prefix_lines(
            "QE_REPORT_CERTIFICATION_DATA",
            prefix_layout(QE_REPORT_CERTIFICATION_DATA),
            "QE report certification data (type 6)",
        ),
        *_prefix_lines(
            "CERTIFICATION_DATA",
            prefix_layout(CERTIFICATION_DATA),
            "PCK certification data (types 1 to 5)",
        ),
    ]
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write the table, or with ``--check`` say whether the file is up to date."""
    args = sys.argv[1:] if argv is None else argv
    text = render_layout_table()
    if args == ["--check"]:
        current = TABLE_PATH.read_text(encoding="utf-8") if TABLE_PATH.exists() else ""
        if current != text:
            print(f"{TABLE_PATH.name} is out of date: run {COMMAND}", file=sys.stderr)
            return 1
        return 0
    if args:
        print(f"usage: {COMMAND} [--check]", file=sys.stderr)
        return 2
    TABLE_PATH.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
