"""Rendering and parsing an essay file: the reference front matter is a contract (writing/rendering.py)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from essay_assets.writing.rendering import (
    REFERENCE_FIELDS,
    iso_timestamp,
    normalize_body,
    parse_essay,
    render_essay,
    section_prose,
)
from essay_assets_tests.support.reference_essay import (
    REFERENCE,
    SHARED_REFERENCE,
    reference_fields,
)


def test_the_fixture_is_the_shared_reference_where_that_is_present():
    expected = SHARED_REFERENCE.read_text() if SHARED_REFERENCE.exists() else REFERENCE.read_text()
    assert REFERENCE.read_text() == expected
    assert "estimatedCostCents: 0" in expected  # the old bug the contract's fields carry


def test_reference_front_matter_round_trips_with_every_field_in_order():
    fields = reference_fields()
    assert list(fields)[: len(REFERENCE_FIELDS)] == list(REFERENCE_FIELDS)
    text = render_essay({**fields, "estimatedCostCents": 5.41775, "costSource": "litellm_price_table"}, "# T\n\nBody")
    parsed, body = parse_essay(text)
    assert parsed["estimatedCostCents"] == 5.41775  # fractions kept
    assert parsed["createdAt"] == "2026-01-08T09:31:43.631Z" and body == "# T\n\nBody\n"
    assert "createdAt: '2026-01-08T09:31:43.631Z'" in text  # quoted like the reference


def test_render_refuses_front_matter_missing_a_reference_field():
    fields = reference_fields()
    del fields["reasoningTokens"]
    with pytest.raises(ValueError, match="reasoningTokens"):
        render_essay(fields, "# T")


def test_iso_timestamp_matches_the_reference_format():
    assert iso_timestamp(datetime(2026, 1, 8, 9, 31, 43, 631999, tzinfo=timezone.utc)) == "2026-01-08T09:31:43.631Z"


@pytest.mark.parametrize("raw, expected_first", [
    ("```markdown\n# Title\n\n## A\ntext\n```", "# Title"),
    ("## Reflections\ntext", "# Fallback"),
    ("Some prose first.", "# Fallback"),
])
def test_normalize_body_gives_exactly_one_title_first(raw, expected_first):
    body = normalize_body(raw + "\n# Second title\n", "Fallback")
    lines = body.splitlines()
    assert lines[0] == expected_first
    assert sum(1 for line in lines if line.startswith("# ")) == 1
    assert "## Second title" in lines and "```" not in body


def test_section_prose_keeps_prose_and_drops_echoed_headings_and_tags():
    raw = "## Reflections\n<summary>\nFirst paragraph.\n\n\n\nSecond one.\n```\n"
    assert section_prose(raw) == "First paragraph.\n\nSecond one."
