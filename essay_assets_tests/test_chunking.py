"""Chunking a transcript on snippet boundaries within a token budget (writing/chunking.py)."""

from __future__ import annotations

from essay_assets.writing.chunking import chunk_snippets, format_timestamp
from essay_assets_tests.support.word_snippets import count_words, snippets


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
