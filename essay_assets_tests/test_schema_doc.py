"""docs/warehouse.md is generated from the warehouse schema (storage/schema_doc.py)."""

from __future__ import annotations

from essay_assets.storage.schema import TABLES


def test_docs_warehouse_md_is_generated_from_the_schema():
    from essay_assets.storage.schema_doc import (
        DOC_PATH,
        render_schema_markdown,
        schema_section,
    )

    assert DOC_PATH.exists()
    assert schema_section(DOC_PATH.read_text()) == render_schema_markdown(), (
        "docs/warehouse.md is out of date: run `python -m essay_assets.storage.schema_doc`")
    for table in TABLES:
        for column in table.columns:
            assert f"`{column.name}`" in render_schema_markdown()
