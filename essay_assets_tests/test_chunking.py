"""Chunking a transcript on snippet boundaries within a token budget (writing/chunking.py)."""

from __future__ import annotations

import re

from essay_assets.writing.chunking import (
    chunk_snippets,
    format_timestamp,
    timestamp_marker,
    timestamped_text,
)
from essay_assets_tests.support.word_snippets import count_words, snippets


def test_chunks_break_only_on_snippet_boundaries_and_respect_the_budget():
    parts = snippets(*(f"w{i} " * 7 for i in range(20)))  # 20 snippets of 7 words
    chunks = chunk_snippets(parts, max_tokens=30, count_tokens=count_words)
    assert all(count_words(c.text) <= 30 for c in chunks)
    without_markers = re.sub(r"\[[\d:]+\] ", "", " ".join(c.text for c in chunks))
    assert without_markers.split() == " ".join(p["text"] for p in parts).split()
    assert [c.snippet_count for c in chunks] == [3] * 6 + [2]  # 3 x (7+1) = 24 <= 30 < 32
    assert chunks[1].start_s == 15.0 and chunks[0].end_s == 15.0


def test_an_oversized_snippet_is_split_on_words():
    chunks = chunk_snippets(snippets("x " * 25), max_tokens=10, count_tokens=count_words)
    assert [count_words(c.text) for c in chunks] == [10, 10, 5]


def test_format_timestamp():
    assert format_timestamp(65) == "1:05" and format_timestamp(3725) == "1:02:05"


def test_markers_every_30_seconds_at_snippet_boundaries():
    parts = [{"text": f"s{i}", "start": float(i * 12), "duration": 12.0} for i in range(7)]  # 0, 12, ... 72 s
    assert timestamped_text(parts) == "[00:00] s0 s1 s2 [00:36] s3 s4 s5 [01:12] s6"


def test_markers_past_an_hour_and_none_without_times():
    assert timestamp_marker(65) == "[01:05]" and timestamp_marker(3725) == "[1:02:05]"
    assert timestamped_text([{"text": "late", "start": 3725.4}]) == "[1:02:05] late"
    untimed = [{"text": "a user's", "start": 0}, {"text": "txt lines", "start": 0}]  # a .txt transcript
    assert timestamped_text(untimed) == "a user's txt lines"
    assert all("[" not in c.text for c in chunk_snippets(untimed, max_tokens=2, count_tokens=count_words))


def test_each_chunk_of_a_timed_transcript_opens_with_its_marker_within_the_budget():
    parts = snippets(*(f"w{i} " * 7 for i in range(20)))
    chunks = chunk_snippets(parts, max_tokens=30, count_tokens=count_words)
    assert [c.text.split()[0] for c in chunks[:3]] == ["[00:00]", "[00:15]", "[00:30]"]
    assert all(count_words(c.text) <= 30 for c in chunks)
