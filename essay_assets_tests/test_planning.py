"""Planning the model calls: one call when the transcript fits, map-reduce when not (writing/planning.py)."""

from __future__ import annotations

import pytest

from essay_assets.writing.planning import plan_prompt
from essay_assets.writing.prompts import VideoContext, load_prompts
from essay_assets_tests.support.word_snippets import count_words, snippets


def test_plan_is_one_call_when_it_fits_and_map_reduce_when_it_does_not():
    prompts = load_prompts()
    video = VideoContext("abcdefghijk", "A title")
    text = snippets(*(["word " * 10] * 100))  # 1,000 words
    single = plan_prompt(prompts, video, text, context_window=100_000, essay_max_tokens=500, count_tokens=count_words)
    assert single.mode == "single" and single.fits_context and len(single.calls) == 1
    assert "<transcript>" in single.calls[0]["messages"][1]["content"]
    # Small: the 1,000 words do not fit, while the notes prompt (with its quoting rules) still leaves room.
    small = plan_prompt(prompts, video, text, context_window=900, essay_max_tokens=500, count_tokens=count_words)
    assert small.mode == "map_reduce" and not small.fits_context
    assert small.chunk_count == len(small.calls) >= 2
    for call in small.calls:  # every chunk call fits the context with room for its notes
        tokens = sum(count_words(m["content"]) for m in call["messages"]) + small.notes_max_tokens
        assert tokens <= 900


def test_plan_refuses_a_context_too_small_for_the_prompts():
    with pytest.raises(ValueError, match="too small"):
        plan_prompt(load_prompts(), VideoContext("abcdefghijk"), snippets("a " * 50), context_window=300,
                    essay_max_tokens=100, count_tokens=count_words)


def test_the_single_call_transcript_carries_time_markers_from_the_snippets():
    timed = [{"text": f"part {i}", "start": 20.0 * i, "duration": 20.0} for i in range(4)]  # 0, 20, 40, 60 s
    plan = plan_prompt(load_prompts(), VideoContext("abcdefghijk"), timed, context_window=None,
                       essay_max_tokens=500, count_tokens=count_words)
    assert "<transcript>\n[00:00] part 0 part 1 [00:40] part 2 part 3\n</transcript>" in plan.calls[0]["messages"][1]["content"]
    untimed = [{"text": "a line", "start": 0.0}, {"text": "another", "start": 0.0}]
    plan = plan_prompt(load_prompts(), VideoContext("abcdefghijk"), untimed, context_window=None,
                       essay_max_tokens=500, count_tokens=count_words)
    assert "<transcript>\na line another\n</transcript>" in plan.calls[0]["messages"][1]["content"]
