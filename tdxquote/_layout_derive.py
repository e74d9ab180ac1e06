"""Offsets derived from the ``construct`` schemas for the fast parser."""

from __future__ import annotations

import construct as c

__all__ = ["PrefixLayout", "prefix_layout"]


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
