"""Plain unit tests of the pure parts: parsing, chunking, planning, rendering, totals, checks."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from essay_assets.cli.runner import contiguous_blocks
from essay_assets.intake.transcripts import (
    TranscriptFileError,
    load_user_transcript,
    parse_json_snippets,
)
from essay_assets.model_calls.budgets import BudgetCheck, BudgetExceeded, enforce_budget
from essay_assets.model_calls.ledger import totals_from_calls
from essay_assets.redaction import redact
from essay_assets.writing.chunking import chunk_snippets, format_timestamp
from essay_assets.writing.planning import plan_prompt
from essay_assets.writing.prompts import VideoContext, essay_sections, load_prompts
from essay_assets.writing.quality import (
    cost_problems,
    front_matter_problems,
    length_problems,
    structure_problems,
)
from essay_assets.writing.rendering import (
    REFERENCE_FIELDS,
    iso_timestamp,
    normalize_body,
    parse_essay,
    render_essay,
    section_prose,
)

# The old system's essay (../shared/examples/ beside the repository): its front matter fields
# are a contract. A copy lives in the fixtures so a clone tests it on any machine.
REFERENCE = Path(__file__).parent / "fixtures" / "reference_000_59b128734f937062.txt"
SHARED_REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "examples" / "000_59b128734f937062.txt"



def count_words(text: str) -> int:  # a stand-in tokenizer: one token per word
    return len(text.split())


def snippets(*texts: str) -> list[dict]:
    return [{"text": t, "start": float(i * 5), "duration": 5.0} for i, t in enumerate(texts)]


# ---- chunking -----------------------------------------------------------------------
def test_chunks_break_only_on_snippet_boundaries_and_respect_the_budget():
    parts = snippets(*(f"w{i} " * 7 for i in range(20)))  # 20 snippets of 7 words
    chunks = chunk_snippets(parts, max_tokens=30, count_tokens=count_words)
    assert all(count_words(c.text) <= 30 for c in chunks)
    assert " ".join(c.text for c in chunks).split() == " ".join(p["text"] for p in parts).split()
    assert [c.snippet_count for c in chunks] == [3] * 6 + [2]  # 3 x (7+1) = 24 <= 30 < 32
    assert chunks[1].start_s == 15.0 and chunks[0].end_s == 15.0


def test_an_oversized_snippet_is_split_on_words():
    chunks = chunk_snippets(snippets("x " * 25), max_tokens=10, count_tokens=count_words)
    assert [count_words(c.text) for c in chunks] == [10, 10, 5]


def test_format_timestamp():
    assert format_timestamp(65) == "1:05" and format_timestamp(3725) == "1:02:05"


# ---- planning -----------------------------------------------------------------------
def test_plan_is_one_call_when_it_fits_and_map_reduce_when_it_does_not():
    prompts = load_prompts()
    video = VideoContext("abcdefghijk", "A title")
    text = snippets(*(["word " * 10] * 100))  # 1,000 words
    single = plan_prompt(prompts, video, text, context_window=100_000, essay_max_tokens=500, count_tokens=count_words)
    assert single.mode == "single" and single.fits_context and len(single.calls) == 1
    assert "<transcript>" in single.calls[0]["messages"][1]["content"]
    small = plan_prompt(prompts, video, text, context_window=800, essay_max_tokens=500, count_tokens=count_words)
    assert small.mode == "map_reduce" and not small.fits_context
    assert small.chunk_count == len(small.calls) >= 2
    for call in small.calls:  # every chunk call fits the context with room for its notes
        tokens = sum(count_words(m["content"]) for m in call["messages"]) + small.notes_max_tokens
        assert tokens <= 800


def test_plan_refuses_a_context_too_small_for_the_prompts():
    with pytest.raises(ValueError, match="too small"):
        plan_prompt(load_prompts(), VideoContext("abcdefghijk"), snippets("a " * 50), context_window=300,
                    essay_max_tokens=100, count_tokens=count_words)


# ---- transcripts --------------------------------------------------------------------
def test_user_transcript_errors_are_actionable(tmp_path):
    bad = tmp_path / "abcdefghijk.json"
    bad.write_text('{"text": "not a list"}')
    with pytest.raises(TranscriptFileError, match="expected a JSON list"):
        load_user_transcript(bad, "abcdefghijk")
    empty = tmp_path / "abcdefghijk.txt"
    empty.write_text("\n\n")
    with pytest.raises(TranscriptFileError, match="no transcript text"):
        load_user_transcript(empty, "abcdefghijk")
    with pytest.raises(TranscriptFileError, match="item 1 has no text"):
        parse_json_snippets(json.dumps([{"text": "ok"}, {"start": 1}]))


# ---- rendering ----------------------------------------------------------------------
def reference_fields() -> dict:
    fields, _ = parse_essay(REFERENCE.read_text())
    return fields


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


# ---- totals and budgets -------------------------------------------------------------
def test_totals_sum_calls_and_keep_unknown_as_null():
    calls = [
        {"status": "ok", "input_tokens": 100, "output_tokens": 10, "total_tokens": 110, "reasoning_tokens": None,
         "cached_input_tokens": 5, "cost_usd": 0.001, "cost_source": "provider", "response_time_ms": 50},
        {"status": "retried", "input_tokens": 200, "output_tokens": 20, "total_tokens": 220, "reasoning_tokens": None,
         "cached_input_tokens": None, "cost_usd": 0.002, "cost_source": "provider", "response_time_ms": 70},
        {"status": "failed", "input_tokens": None, "cost_usd": None, "cost_source": "unknown", "response_time_ms": 9},
    ]
    totals = totals_from_calls(calls)
    assert totals["input_tokens"] == 300 and totals["total_tokens"] == 330 and totals["call_count"] == 2
    assert totals["estimated_cost_cents"] == pytest.approx(0.3)
    assert totals["reasoning_tokens"] is None  # never reported: null, not 0
    assert totals["cached_input_tokens"] == 5 and totals["cost_source"] == "provider"
    assert totals["response_time_ms"] == 120
    calls[1]["cost_usd"], calls[1]["cost_source"] = None, "unknown"
    mixed = totals_from_calls(calls)
    assert mixed["estimated_cost_cents"] is None and mixed["cost_source"] == "mixed"


def test_budget_messages_name_the_estimate_and_the_ceiling():
    enforce_budget("v", "m", BudgetCheck(5.0, None, None, 0.0))  # no ceilings: nothing to enforce
    with pytest.raises(BudgetExceeded, match=r"5\.4200 cents .* ceiling of 5 cents"):
        enforce_budget("v", "m", BudgetCheck(5.42, 5.0, None, 0.0))
    with pytest.raises(BudgetExceeded, match=r"spent today 8\.0000 cents \+ estimate 3\.0000"):
        enforce_budget("v", "m", BudgetCheck(3.0, None, 10.0, 8.0))
    with pytest.raises(BudgetExceeded, match="no price is known"):
        enforce_budget("v", "m", BudgetCheck(None, 5.0, None, 0.0))


# ---- quality checks -----------------------------------------------------------------
def test_reference_front_matter_passes_and_a_string_cost_fails():
    fields = {**reference_fields(), "costSource": "provider"}
    assert front_matter_problems(fields) == []
    assert front_matter_problems({**fields, "estimatedCostCents": "0"}) != []
    assert any("costSource" in p for p in front_matter_problems({**fields, "estimatedCostCents": None}))


def test_structure_and_length_checks():
    good = "# T\n\n## Reflections\nx\n\n## Research directions\ny\n\n## Conclusion\nz\n"
    assert structure_problems(good) == []
    assert len(structure_problems("# T\n\n## Only one\n")) == 2
    assert length_problems(100, 150, 6000) and not length_problems(500, 150, 6000)


# ---- redaction, run blocks ------------------------------------------------------------
def test_redact_hides_env_secrets_key_shapes_and_url_credentials():
    env = {"OPENROUTER_API_KEY": "my-very-secret-value"}
    text = "key my-very-secret-value and sk-abcdefghijklmnop1234 via http://u:pw@proxy:8080/x"
    out = redact(text, env)
    assert "my-very-secret-value" not in out and "sk-abcdefghijklmnop1234" not in out and "u:pw@" not in out


def test_contiguous_blocks_group_neighbouring_partitions():
    order = ["a", "b", "c", "d", "e"]
    assert contiguous_blocks(order, ["b", "c", "e"]) == [("b", "c"), ("e", "e")]
    assert contiguous_blocks(order, ["e", "a"]) == [("a", "a"), ("e", "e")]


def test_cost_problems_flag_unknown_and_over_ceiling_costs():
    assert cost_problems({"estimatedCostCents": None}, None) != []
    assert cost_problems({"estimatedCostCents": 0.0}, None) == []  # a known 0 (local model) is fine
    assert cost_problems({"estimatedCostCents": 5.42}, 5.0) and not cost_problems({"estimatedCostCents": 4.9}, 5.0)


def test_section_prose_keeps_prose_and_drops_echoed_headings_and_tags():
    raw = "## Reflections\n<summary>\nFirst paragraph.\n\n\n\nSecond one.\n```\n"
    assert section_prose(raw) == "First paragraph.\n\nSecond one."


def test_essay_sections_come_from_the_prompt_revision():
    headings = [h for h, _ in essay_sections(load_prompts())]
    assert headings == ["Reflections", "Research directions", "Challenging the assumptions", "Conclusion"]
