"""Print the layout tables: ``python -m tdxquote.schema``."""

from ._doc import layout_markdown

print(layout_markdown())
