"""The essay record: one definition of the fields, and everything derived from it agrees."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import jsonschema
import pytest

from essay_assets.essay_record import (
    FIELDS,
    FRONT_MATTER_FIELDS,
    REFERENCE_FIELDS,
    STORED_FIELDS,
    EssayRecord,
    json_schema,
)
from essay_assets.storage.schema import ESSAYS, FRONT_MATTER_COLUMNS
from essay_assets.storage.schema_doc import ESSAY_SCHEMA_PATH, render_essay_schema
from essay_assets.writing.quality import front_matter_problems
from essay_assets.writing.rendering import parse_essay
from essay_assets_tests.support.essay_schema import schema_errors

REFERENCE = Path(__file__).parent / "fixtures" / "reference_000_59b128734f937062.txt"


def reference_front_matter() -> dict:
    fields, _ = parse_essay(REFERENCE.read_text())
    return fields


def a_record(**changes) -> EssayRecord:
    values = {
        "schema_version": "0.1.0", "video_id": "abcdefghijk", "llm_model": "openai/gpt-4o",
        "created_at": datetime(2026, 1, 8, 9, 31, 43, 631999, tzinfo=timezone.utc), "response_time_ms": 1200,
        "input_tokens": 100, "output_tokens": 50, "total_tokens": 150, "estimated_cost_cents": 0.125,
        "prompt_revision": 1, "reasoning_tokens": None, "transcript_word_count": 400,
        "cost_source": "litellm_price_table", "cached_input_tokens": None, "essay_word_count": 900,
        "call_count": 1, "chunk_count": 1, "transcript_source": "user_file", "transcript_language": None,
        "video_title": None, "channel_name": None, "published_at": None, "video_url": None,
        "quotes_verified": 2, "quotes_repaired": 1, "quotes_removed": 1, "links_removed": 0, "quotes_linked": True,
        "essay_title": "On scaling",
    }
    return EssayRecord({**values, **changes})


def test_the_json_schema_file_is_up_to_date():
    assert ESSAY_SCHEMA_PATH.read_text() == render_essay_schema(), (
        "docs/essay.schema.json is out of date: run `python -m essay_assets.storage.schema_doc`")


def test_the_json_schema_is_a_valid_draft_2020_12_schema_that_requires_only_reference_fields():
    schema = json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["required"] == list(REFERENCE_FIELDS)
    assert list(schema["properties"]) == list(FRONT_MATTER_FIELDS)
    assert schema["additionalProperties"] is True
    assert schema["properties"]["estimatedCostCents"]["type"] == ["number", "null"]


def test_the_reference_example_validates_as_it_stands():
    fields = reference_front_matter()
    assert fields["schemaVersion"] == "0.0.1" and fields["estimatedCostCents"] == 0  # old version, old 0
    assert schema_errors(fields) == []
    assert front_matter_problems(fields) == []


def test_unknown_cost_is_null_and_later_fields_do_not_break_readers():
    assert schema_errors({**reference_front_matter(), "estimatedCostCents": None, "someFutureField": [1]}) == []


@pytest.mark.parametrize("change, complaint", [
    ({"inputTokens": "18343"}, "inputTokens"),
    ({"createdAt": "2026-01-08 09:31:43"}, "createdAt"),
    ({"estimatedCostCents": "0"}, "estimatedCostCents"),
    ({"essayWordCount": "many"}, "essayWordCount"),
])
def test_badly_typed_front_matter_fails_the_schema_and_the_check(change, complaint):
    fields = {**reference_front_matter(), **change}
    assert any(error.startswith(complaint) for error in schema_errors(fields))
    assert any(complaint in problem for problem in front_matter_problems(fields))


def test_front_matter_missing_a_reference_field_fails():
    fields = reference_front_matter()
    del fields["reasoningTokens"]
    assert any("reasoningTokens" in error for error in schema_errors(fields))
    assert front_matter_problems(fields) == ["missing reasoningTokens"]


def test_a_record_gives_the_front_matter_in_order_and_the_row_by_column():
    record = a_record()
    front_matter = record.front_matter()
    assert list(front_matter) == list(FRONT_MATTER_FIELDS)
    assert front_matter["createdAt"] == "2026-01-08T09:31:43.631Z"  # the reference's format
    assert front_matter["systemPromptRevision"] == 1 and front_matter["llmCallCount"] == 1
    row = record.warehouse_row()
    assert row["created_at"] == datetime(2026, 1, 8, 9, 31, 43, 631999, tzinfo=timezone.utc)  # exact moment
    assert row["prompt_revision"] == 1 and row["call_count"] == 1
    assert schema_errors(front_matter) == [] and front_matter_problems(front_matter) == []


def test_a_record_refuses_missing_unknown_or_mistyped_values():
    with pytest.raises(ValueError, match="unknown \\['title'\\]"):
        a_record(title="x")
    with pytest.raises(TypeError, match="input_tokens is str"):
        a_record(input_tokens="100")
    with pytest.raises(TypeError, match="response_time_ms is NoneType"):
        a_record(response_time_ms=None)  # not nullable
    with pytest.raises(TypeError, match="essay_word_count is bool"):
        a_record(essay_word_count=True)


def test_the_essays_table_and_the_metadata_view_come_from_the_record():
    by_name = {c.name: c for c in ESSAYS.columns}
    assert set(by_name) == {f.column for f in STORED_FIELDS} | {"response_id", "path", "run_id"}
    for field in STORED_FIELDS:
        assert by_name[field.column].type == field.kind.arrow_type, field.column
        assert field.front_matter in by_name[field.column].doc
    assert FRONT_MATTER_COLUMNS == tuple((f.front_matter, f.column) for f in FIELDS)
