"""Splitting a transcript into chunks that fit a model's context. Pure functions.

Small-context models (the embedded model has 8,192 tokens; an hour of conversation is
~20,000) need map-reduce: notes per chunk, then the essay from the notes. Chunks break only
on snippet boundaries so no sentence fragment is split mid-word, and each chunk carries its
time range so notes can point back into the conversation.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any


@dataclasses.dataclass(frozen=True)
class Chunk:
    index: int
    text: str
    start_s: float
    end_s: float
    snippet_count: int


def chunk_snippets(
    snippets: Sequence[dict[str, Any]],
    max_tokens: int,
    count_tokens: Callable[[str], int],
) -> list[Chunk]:
    """Greedy packing of whole snippets into chunks of at most `max_tokens` tokens each.

    A single snippet longer than `max_tokens` (e.g. a .txt transcript with one huge line)
    is split on word boundaries, since no model could read it whole.
    """
    if max_tokens < 1:
        raise ValueError("max_tokens must be positive")
    pieces = [p for s in snippets for p in _split_oversized(s, max_tokens, count_tokens)]
    chunks: list[Chunk] = []
    current: list[dict[str, Any]] = []
    current_tokens = 0
    for piece, piece_tokens in pieces:
        tokens = piece_tokens + 1  # +1: the joining space
        if current and current_tokens + tokens > max_tokens:
            chunks.append(_make_chunk(len(chunks), current))
            current, current_tokens = [], 0
        current.append(piece)
        current_tokens += tokens
    if current:
        chunks.append(_make_chunk(len(chunks), current))
    return chunks


def _split_oversized(snippet: dict[str, Any], max_tokens: int, count_tokens: Callable[[str], int]):
    """[(piece, its token count)]: counted once, since counting may be a tokenizer round trip."""
    text = snippet["text"].strip()
    if not text:
        return []
    tokens = count_tokens(text)
    if tokens <= max_tokens:
        return [(snippet, tokens)]
    words, parts, current = text.split(), [], []
    for word in words:
        if current and count_tokens(" ".join(current + [word])) > max_tokens:
            parts.append(" ".join(current))
            current = []
        current.append(word)
    parts.append(" ".join(current))
    return [({**snippet, "text": part}, count_tokens(part)) for part in parts]


def _make_chunk(index: int, snippets: list[dict[str, Any]]) -> Chunk:
    last = snippets[-1]
    return Chunk(
        index=index,
        text=" ".join(s["text"].strip() for s in snippets),
        start_s=float(snippets[0].get("start", 0.0)),
        end_s=float(last.get("start", 0.0)) + float(last.get("duration", 0.0)),
        snippet_count=len(snippets),
    )


def format_timestamp(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
