"""Splitting a transcript into chunks that fit a model's context. Pure functions.

Small-context models (the embedded model has 8,192 tokens; an hour of conversation is
~20,000) need map-reduce: notes per chunk, then the essay from the notes. Chunks break only
on snippet boundaries so no sentence fragment is split mid-word, and each chunk carries its
time range so notes can point back into the conversation.

Texts carry `[mm:ss]` markers (`[h:mm:ss]` past an hour) about every 30 s, at snippet
boundaries, so the model can say where a quotation starts (the pipeline later turns a
marker into a verified link). A transcript without times (a user's .txt: every start 0)
gets none: a marker there would point at the wrong moment.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

MARKER_EVERY_S = 30.0  # often enough to find a quote; rare enough to cost few tokens


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
    """Greedy packing of whole snippets into chunks of at most `max_tokens` tokens each,
    time markers included (each chunk of a timed transcript starts with one).

    A single snippet longer than `max_tokens` (e.g. a .txt transcript with one huge line)
    is split on word boundaries, since no model could read it whole.
    """
    if max_tokens < 1:
        raise ValueError("max_tokens must be positive")
    timed = has_times(snippets)
    # Room for the marker that may open a piece's chunk, so that chunk still fits.
    marker_room = count_tokens(timestamp_marker(36_000)) + 1 if timed else 0
    piece_max = max(1, max_tokens - marker_room)
    pieces = [p for s in snippets for p in _split_oversized(s, piece_max, count_tokens)]
    chunks: list[Chunk] = []
    current: list[dict[str, Any]] = []
    current_tokens = 0
    last_marker_s: float | None = None
    for piece, piece_tokens in pieces:
        start = _start(piece)
        # A marker due before this piece costs tokens too; a new chunk always opens with one.
        due = timed and (last_marker_s is None or start >= last_marker_s + MARKER_EVERY_S)
        tokens = piece_tokens + 1 + (count_tokens(timestamp_marker(start)) + 1 if due else 0)  # +1: joining space
        if current and current_tokens + tokens > max_tokens:
            chunks.append(_make_chunk(len(chunks), current, timed))
            current, current_tokens = [], 0
            if timed and not due:
                tokens += count_tokens(timestamp_marker(start)) + 1
        current.append(piece)
        current_tokens += tokens
        if timed and (due or len(current) == 1):
            last_marker_s = start
    if current:
        chunks.append(_make_chunk(len(chunks), current, timed))
    return chunks


def has_times(snippets: Sequence[dict[str, Any]]) -> bool:
    """Whether the snippets carry real start times (a .txt transcript has all starts 0)."""
    return any(_start(s) > 0 for s in snippets)


def timestamp_marker(seconds: float) -> str:
    """`[mm:ss]`, or `[h:mm:ss]` past an hour: where a passage starts in the conversation."""
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"[{hours}:{minutes:02d}:{secs:02d}]" if hours else f"[{minutes:02d}:{secs:02d}]"


def timestamped_text(snippets: Sequence[dict[str, Any]], *, timed: bool | None = None,
                     every_s: float = MARKER_EVERY_S) -> str:
    """The snippets' text joined by spaces, with a marker before the first snippet and then
    before the first snippet at least `every_s` after the previous marker. `timed` None: look
    at these snippets' starts (pass it when they are one part of a longer transcript)."""
    timed = has_times(snippets) if timed is None else timed
    parts: list[str] = []
    last_marker_s: float | None = None
    for snippet in snippets:
        text = snippet["text"].strip()
        if not text:
            continue
        start = _start(snippet)
        if timed and (last_marker_s is None or start >= last_marker_s + every_s):
            parts.append(timestamp_marker(start))
            last_marker_s = start
        parts.append(text)
    return " ".join(parts)


def _start(snippet: dict[str, Any]) -> float:
    return float(snippet.get("start") or 0.0)


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


def _make_chunk(index: int, snippets: list[dict[str, Any]], timed: bool) -> Chunk:
    last = snippets[-1]
    return Chunk(
        index=index,
        text=timestamped_text(snippets, timed=timed),
        start_s=float(snippets[0].get("start", 0.0)),
        end_s=float(last.get("start", 0.0)) + float(last.get("duration", 0.0)),
        snippet_count=len(snippets),
    )


def format_timestamp(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
