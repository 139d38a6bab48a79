"""Deciding how to put a transcript in front of a model: one call, or map-reduce. Pure.

The plan is what the `essay_prompt` asset stores: the exact messages of every call the
`llm_response` asset will make (the reduce call's messages depend on the notes, so for
map-reduce only the chunk calls are fixed here).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from essay_assets.writing.chunking import Chunk, chunk_snippets, timestamped_text
from essay_assets.writing.prompts import (
    PromptSet,
    VideoContext,
    chunk_notes_messages,
    essay_messages,
)

PROMPT_OVERHEAD_TOKENS = 64  # chat template tokens litellm's counter does not see
_EMPTY_CHUNK = Chunk(index=0, text="", start_s=0.0, end_s=0.0, snippet_count=0)


@dataclasses.dataclass(frozen=True)
class PromptPlan:
    mode: str  # "single" | "map_reduce"
    prompt_revision: int
    context_window: int | None
    prompt_tokens: int  # tokens of the whole transcript in one prompt
    fits_context: bool
    essay_max_tokens: int
    notes_max_tokens: int
    calls: tuple[dict[str, Any], ...]  # {"stage", "chunk_index", "messages"}
    essay_style: str = "whole"  # "whole": one essay call | "sectioned": one call per section

    @property
    def chunk_count(self) -> int:
        return len(self.calls) if self.mode == "map_reduce" else 1

    def to_json(self) -> dict[str, Any]:
        # Shallow: dataclasses.asdict deep-copies every message only for json.dumps to read it.
        return {**{f.name: getattr(self, f.name) for f in dataclasses.fields(self)}, "calls": list(self.calls)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "PromptPlan":
        return cls(**{**data, "calls": tuple(data["calls"])})


def messages_tokens(messages: list[dict[str, str]], count_tokens: Callable[[str], int]) -> int:
    return sum(count_tokens(m["content"]) for m in messages) + PROMPT_OVERHEAD_TOKENS


def plan_prompt(
    prompts: PromptSet,
    video: VideoContext,
    snippets: list[dict[str, Any]],
    *,
    context_window: int | None,
    essay_max_tokens: int,
    count_tokens: Callable[[str], int],
    chunk_max_tokens: int = 3000,
    notes_max_tokens: int = 400,
    essay_style: str = "whole",
) -> PromptPlan:
    """One call when the transcript and the essay fit the context; else notes per chunk."""
    text = timestamped_text(snippets)  # markers let the model say where a quotation starts
    single = essay_messages(prompts, video, text)
    single_tokens = messages_tokens(single, count_tokens)
    # An unknown context window: assume it fits and let the provider say otherwise.
    fits = context_window is None or single_tokens + essay_max_tokens <= context_window
    common = dict(
        prompt_revision=prompts.revision,
        context_window=context_window,
        prompt_tokens=single_tokens,
        fits_context=fits,
        essay_max_tokens=essay_max_tokens,
        notes_max_tokens=notes_max_tokens,
        essay_style=essay_style,
    )
    if fits:
        return PromptPlan(mode="single", calls=({"stage": "essay", "chunk_index": None, "messages": single},), **common)

    assert context_window is not None
    scaffold = chunk_notes_messages(prompts, video, _EMPTY_CHUNK, 1)
    room = context_window - messages_tokens(scaffold, count_tokens) - notes_max_tokens - 32
    if room < 200:
        raise ValueError(
            f"The model's context window ({context_window} tokens) is too small for the prompts; "
            "choose a model with a larger context or set ESSAYS_CONTEXT_WINDOW if it is wrong."
        )
    chunks = chunk_snippets(snippets, min(room, chunk_max_tokens), count_tokens)
    calls = tuple(
        {"stage": "chunk_notes", "chunk_index": c.index, "messages": chunk_notes_messages(prompts, video, c, len(chunks))}
        for c in chunks
    )
    return PromptPlan(mode="map_reduce", calls=calls, **common)
