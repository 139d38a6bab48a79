"""Rendering and parsing an essay file: the reference front matter is a contract (writing/rendering.py)."""

from __future__ import annotations

import math
import random
from datetime import datetime, timezone

import pytest
import yaml

from essay_assets.writing.rendering import (
    FRONT_MATTER_FIELDS,
    REFERENCE_FIELDS,
    iso_timestamp,
    normalize_body,
    parse_essay,
    render_essay,
    render_front_matter,
    section_prose,
    yaml_front_matter,
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


# Values of every kind a front matter field takes, and the shapes YAML treats specially.
TRICKY_VALUES = [
    None, True, False, 0, 1, 7, 10**20, -3, 0.0, -0.0, 0.1, 5.41775, 0.06999999999999999, 1e-07, 1e17, 123456.789,
    float("inf"), float("-inf"), float("nan"), -2.5, "", " ", "a", "yes", "No", "NULL", "on", "Off", "y", "n", "~",
    "null value", "0.2.0", "0.0.1", "1.2", "12", "0x1F", "1:20", "2026-01-08T09:31:43.631Z", "2026-01-15T17:00:06+00:00",
    "2026-01-15T17:00:06.123456-05:00", "2026-01-15", "2026-01-15 17:00:06", "What the Conversation Was Really About",
    "Ilya: the Age of Research", "Q&A with Sam", "C++ and Rust", "What's next?", "a  b", "trailing ", "ends with:",
    "#hash", "a #b", "a#b", "- item", "-dash", "x,y", "(1) two", "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
    "litellm_price_table", "openrouter/openai/gpt-4o", "naïve café", "Tell me — why", "line\nbreak", "'quoted'",
    '"double"', "a: b", "key=value", "!bang", "&anchor", "*alias", "%pct", "@at", "`tick", "|pipe", ">gt", "?q",
    ":colon", "[x]", "{y}", "x" * 199, "x" * 250, ("word " * 60).strip(), ("word " * 250).strip(), "Don't stop!",
]


def _front_matter(**changes) -> dict:
    """A whole front matter in the order the renderer writes it, with `changes` applied."""
    fields = {**reference_fields(), "estimatedCostCents": 5.41775, "costSource": "litellm_price_table",
              "schemaVersion": "0.2.0", "videoTitle": "A title", "videoUrl": "https://www.youtube.com/watch?v=x"}
    fields.update(changes)
    ordered = {name: fields[name] for name in FRONT_MATTER_FIELDS if name in fields}
    return {**ordered, **{k: v for k, v in fields.items() if k not in ordered}}


@pytest.mark.parametrize("field", ["videoTitle", "title", "estimatedCostCents", "reasoningTokens", "createdAt"])
def test_the_front_matter_is_written_exactly_as_pyyaml_writes_it(field):
    """The renderer writes common values itself (PyYAML took 0.4 ms per essay); every value,
    common or not, comes out byte for byte as PyYAML's dump of the whole front matter."""
    for value in TRICKY_VALUES:
        fields = _front_matter(**{field: value})
        assert render_front_matter(fields) == f"---\n{yaml_front_matter(fields)}---\n", repr(value)


def test_random_text_and_extra_keys_are_written_exactly_as_pyyaml_writes_them():
    rng = random.Random(17)
    alphabet = "aZq09 _./()+=&?',!:-#\"\n\tü—~*%@|>[]{}"
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12))) for _ in range(1500)]
    for text in texts:
        fields = _front_matter(videoTitle=text)
        assert render_front_matter(fields) == f"---\n{yaml_front_matter(fields)}---\n", repr(text)
    for key in ("on", "Yes", "custom_key", "with space", "a:b", "x" * 70, "9lives"):
        fields = _front_matter(**{key: "value"})
        assert render_front_matter(fields) == f"---\n{yaml_front_matter(fields)}---\n", repr(key)


def _same(value):
    return "nan" if isinstance(value, float) and math.isnan(value) else (type(value).__name__, value)


@pytest.mark.parametrize("field", ["videoTitle", "estimatedCostCents", "createdAt"])
def test_a_front_matter_is_read_exactly_as_pyyaml_reads_it(field):
    """The checks read every essay: lines the renderer writes itself are read without PyYAML,
    anything else with it; either way the fields are PyYAML's, type for type."""
    edited = ["key: value # a comment", "key:  two spaces", "key: 'single'", "key: 0123", "key: 1_000", "key: ~",
              "Key: Yes", "key: [1, 2]", "key:", "key: \"double\"", "key: 1e5", "key: .5", "key: -7"]
    documents = [render_essay(_front_matter(**{field: value}), "# T\n\nBody") for value in TRICKY_VALUES]
    documents += [f"---\nyoutubeVideoId: abc\n{line}\n---\n# T\n" for line in edited]
    documents += ["---\na: 1\na: 2\n---\n# T\n", "---\na: 1\r\nb: x\n---\n# T\n"]
    rng = random.Random(23)
    documents += [render_essay(_front_matter(videoTitle="".join(rng.choice("aZq09 _./()+=&?',!:-#\"ü—~*%@|")
                                                                for _ in range(rng.randint(1, 12)))), "# T")
                  for _ in range(500)]
    for text in documents:
        fields, body = parse_essay(text)
        expected = yaml.safe_load(text[4:text.index("\n---\n", 4)]) or {}
        assert {k: _same(v) for k, v in fields.items()} == {k: _same(v) for k, v in expected.items()}, text
        assert body == text[text.index("\n---\n", 4) + 5:]
