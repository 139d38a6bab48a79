"""Tiny hand-made transcripts, and a stand-in tokenizer that counts one token per word."""

from __future__ import annotations


def count_words(text: str) -> int:  # a stand-in tokenizer: one token per word
    return len(text.split())


def snippets(*texts: str) -> list[dict]:
    return [{"text": t, "start": float(i * 5), "duration": 5.0} for i, t in enumerate(texts)]
