"""Turning a prompt plan into an essay draft: the model calls of one video, single or
map-reduce, whole or section by section. Every call goes through the ledger
(model_calls/ledger.py), which stores each paid answer before anything else happens."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from essay_assets.model_calls.ledger import CallLedger
from essay_assets.settings import Settings
from essay_assets.storage.files import stable_hash
from essay_assets.writing.cleanup import BrokenEssay, broken_sections, clean_body
from essay_assets.writing.planning import PromptPlan, messages_tokens
from essay_assets.writing.prompts import (
    WHOLE_ESSAY_INSTRUCTION,
    PromptSet,
    VideoContext,
    essay_from_notes_messages,
    essay_sections,
    neutralise_fences,
    section_instruction,
)
from essay_assets.writing.rendering import normalize_body, section_prose

MAX_REDUCE_ROUNDS = 4
# A section with no prose after cleaning is asked again, at most this many more times: the
# embedded model answers a section in seconds, and two more samples usually give prose.
SECTION_RETRIES = 2
# A whole essay with empty sections is written again once: on a hosted model each essay is
# the expensive call, and an essay broken twice is better reported than paid for again.
ESSAY_RETRIES = 1


@dataclasses.dataclass(frozen=True)
class Draft:
    video_id: str
    response_id: str
    content: str
    calls: tuple[dict[str, Any], ...]  # llm_calls rows behind the essay
    chunk_count: int
    new_calls: int  # calls actually made now (0 = everything reused)


def response_fingerprint(plan: PromptPlan, settings: Settings, transcript_sha: str) -> dict[str, Any]:
    """Everything that changes the answer: same fingerprint, same (reusable) response."""
    return {
        "transcript_sha256": transcript_sha,
        "prompt_revision": plan.prompt_revision,
        "model": settings.model,
        "temperature": settings.temperature,
        "essay_max_tokens": plan.essay_max_tokens,
        "plan": stable_hash(plan.to_json()),
    }


async def write_draft(*, video: VideoContext, plan: PromptPlan, prompts: PromptSet, ledger: CallLedger,
                      response_id: str, count_tokens) -> Draft:
    """Single call, or notes per chunk (concurrently) and then the essay from the notes."""
    before = ledger.new_calls
    common = dict(video_id=video.video_id, response_id=response_id, prompt_revision=plan.prompt_revision)
    if plan.mode == "single":
        content, rows = await _write_essay(plan, prompts, ledger, plan.calls[0]["messages"], common)
        return Draft(video.video_id, response_id, content, tuple(rows), 1, ledger.new_calls - before)

    results = await asyncio.gather(*(
        ledger.call(stage="chunk_notes", chunk_index=c["chunk_index"], messages=c["messages"],
                    max_tokens=plan.notes_max_tokens, **common)
        for c in plan.calls
    ))
    notes = [content for content, _ in results]
    rows = [row for _, row in results]
    messages = essay_from_notes_messages(prompts, video, notes)
    # Very long transcripts on small models: the notes themselves may not fit; condense them.
    for round_number in range(MAX_REDUCE_ROUNDS):
        if plan.context_window is None or messages_tokens(messages, count_tokens) + plan.essay_max_tokens <= plan.context_window:
            break
        half = max(1, len(notes) // 2)
        groups = [notes[i:i + half] for i in range(0, len(notes), half)]
        condensed = await asyncio.gather(*(
            ledger.call(stage="chunk_notes", chunk_index=1000 * (round_number + 1) + i,
                        messages=[{"role": "system", "content": prompts.chunk_notes_system},
                                  {"role": "user", "content": "<transcript_part>\n" + neutralise_fences("\n\n".join(g))
                                   + "\n</transcript_part>"}],
                        max_tokens=plan.notes_max_tokens, **common)
            for i, g in enumerate(groups)
        ))
        notes = [content for content, _ in condensed]
        rows += [row for _, row in condensed]
        messages = essay_from_notes_messages(prompts, video, notes)
    content, essay_rows = await _write_essay(plan, prompts, ledger, messages, common)
    return Draft(video.video_id, response_id, content, tuple(rows + essay_rows), len(plan.calls),
                 ledger.new_calls - before)


async def _write_essay(plan: PromptPlan, prompts: PromptSet, ledger: CallLedger, messages: list[dict[str, str]],
                       common: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """The essay in one call, or (for models too small to hold the outline) one call per
    section, in order: the shared prefix stays in the server's prompt cache between calls.
    An answer whose sections are empty after cleaning is asked again, a bounded number of
    times; every attempt is a real call, in the ledger and in the totals. Still broken:
    BrokenEssay, and nothing is published."""
    rows: list[dict[str, Any]] = []
    if plan.essay_style != "sectioned":
        for attempt in range(1 + ESSAY_RETRIES):
            content, row = await ledger.call(stage="essay", chunk_index=None, messages=messages,
                                             max_tokens=plan.essay_max_tokens, attempt=attempt, **common)
            rows.append(row)
            broken = broken_sections(clean_body(normalize_body(content, "Essay")).body)
            if not broken:
                return content, rows
        raise BrokenEssay(_still_broken(broken, 1 + ESSAY_RETRIES))
    sections = essay_sections(prompts)
    parts: list[str] = []
    for index, (heading, description) in enumerate(sections):
        messages_for_section = section_messages(messages, heading, description)
        for attempt in range(1 + SECTION_RETRIES):
            text, row = await ledger.call(stage="essay_section", chunk_index=index, messages=messages_for_section,
                                          max_tokens=max(64, plan.essay_max_tokens // len(sections)),
                                          attempt=attempt, prose_only=True, **common)
            rows.append(row)
            section = f"## {heading}\n\n{section_prose(text)}"
            # Cleaned with the sections before it, as publishing will: a repeat of them is no prose.
            broken = broken_sections(clean_body("\n\n".join(parts + [section])).body)
            if not broken:
                break
        else:
            raise BrokenEssay(_still_broken(broken, 1 + SECTION_RETRIES))
        parts.append(section)
    return "\n\n".join(parts), rows


def _still_broken(broken: list[str], answers: int) -> str:
    return (f"{'; '.join(broken)} in each of {answers} answers, so nothing was published. The answers are "
            "stored (a re-run reuses them); `essays run --force-refresh <video>` asks the model anew.")


def section_messages(messages: list[dict[str, str]], heading: str, description: str) -> list[dict[str, str]]:
    """The whole-essay request turned into the request for one section."""
    instruction = section_instruction(heading, description)
    last = messages[-1]["content"]
    assert last.endswith(WHOLE_ESSAY_INSTRUCTION), "essay messages end with the whole-essay instruction"
    return messages[:-1] + [{"role": "user", "content": last[: -len(WHOLE_ESSAY_INSTRUCTION)] + instruction}]


def estimated_tokens(plan: PromptPlan, count_tokens) -> tuple[int, int]:
    """(input, output) tokens a plan will use at most: for budget checks before any call."""
    if plan.mode == "single":
        return plan.prompt_tokens, plan.essay_max_tokens  # counted when the plan was made
    notes_in = sum(messages_tokens(c["messages"], count_tokens) for c in plan.calls)
    reduce_in = len(plan.calls) * plan.notes_max_tokens + 600
    return notes_in + reduce_in, len(plan.calls) * plan.notes_max_tokens + plan.essay_max_tokens
