"""The layout tables in docs/quote-format.md are the schemas' own output."""

from __future__ import annotations

from conftest import REPO_ROOT

from tdxquote.schema._doc import layout_markdown


def test_quote_format_doc_matches_schemas() -> None:
    text = (REPO_ROOT / "docs" / "quote-format.md").read_text(encoding="utf-8")
    begin = text.index("<!-- BEGIN GENERATED LAYOUT -->") + len("<!-- BEGIN GENERATED LAYOUT -->")
    end = text.index("<!-- END GENERATED LAYOUT -->")
    assert text[begin:end].strip() == layout_markdown().strip(), (
        "docs/quote-format.md is stale: regenerate it with `python -m tdxquote.schema`"
    )
