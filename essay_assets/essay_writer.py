"""Turning a prompt plan into an essay draft: the model calls of one video, with their
bookkeeping. Every answered call is written to the raw store *before* anything else
happens; its `llm_calls` row follows in batches (one warehouse segment per batch, not per
call). An identical request already answered is reused and its row written again, so a
crash, a kill or a re-run never pays twice for the same answer nor loses its row."""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from essay_assets import llm
from essay_assets.planning import PromptPlan, messages_tokens
from essay_assets.prompts import (
    WHOLE_ESSAY_INSTRUCTION,
    PromptSet,
    VideoContext,
    essay_from_notes_messages,
    essay_sections,
    section_instruction,
)
from essay_assets.raw_store import RawStore, stable_hash
from essay_assets.redaction import redact
from essay_assets.rendering import section_prose
from essay_assets.settings import Settings
from essay_assets.warehouse import Warehouse, utc_now

MAX_REDUCE_ROUNDS = 4
ROWS_FLUSH_EVERY_S = 15.0  # how stale `llm_calls` may be while a long step is still calling


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


def call_row_from_json(row: dict[str, Any]) -> dict[str, Any]:
    """An `llm_calls` row as the raw store keeps it (timestamps as text), ready for the table."""
    created = row.get("created_at")
    return {**row, "created_at": datetime.fromisoformat(created) if isinstance(created, str) else created}


def totals_from_calls(calls: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Front-matter totals: sums over the calls. Unknown stays unknown (null), never 0."""
    answered = [c for c in calls if c.get("status") != "failed"]

    def total(field: str, *, null_if_any_null: bool) -> int | float | None:
        values = [c.get(field) for c in answered]
        if not values or (null_if_any_null and any(v is None for v in values)):
            return None
        present = [v for v in values if v is not None]
        return sum(present) if present else None

    cost_usd = total("cost_usd", null_if_any_null=True)
    sources = sorted({c.get("cost_source") for c in answered})
    return {
        "response_time_ms": sum(c.get("response_time_ms") or 0 for c in answered),
        "input_tokens": total("input_tokens", null_if_any_null=True),
        "output_tokens": total("output_tokens", null_if_any_null=True),
        "total_tokens": total("total_tokens", null_if_any_null=True),
        "reasoning_tokens": total("reasoning_tokens", null_if_any_null=False),
        "cached_input_tokens": total("cached_input_tokens", null_if_any_null=False),
        "estimated_cost_cents": None if cost_usd is None else cost_usd * 100.0,
        "cost_source": sources[0] if len(sources) == 1 else ("mixed" if sources else "unknown"),
        "call_count": len(answered),
    }


class CallLedger:
    """Where calls are made, persisted and reused."""

    def __init__(self, settings: Settings, endpoint: llm.Endpoint, warehouse: Warehouse, run_id: str | None,
                 semaphore: asyncio.Semaphore, force_refresh: bool = False, log=None):
        self.settings = settings
        self.endpoint = endpoint
        self.warehouse = warehouse
        self.store = RawStore(settings.raw_dir)
        self.run_id = run_id
        self.semaphore = semaphore
        self.force_refresh = force_refresh
        self.log = log
        self.new_calls = 0
        self._pending_rows: list[dict[str, Any]] = []
        self._last_flush = time.monotonic()

    async def call(self, *, video_id: str, response_id: str, stage: str, chunk_index: int | None,
                   prompt_revision: int, messages: list[dict[str, str]], max_tokens: int) -> tuple[str, dict[str, Any]]:
        request_key = stable_hash({"model": self.endpoint.model, "messages": messages, "max_tokens": max_tokens,
                                   "temperature": self.settings.temperature, "response_id": response_id})
        path = self.store.call_path(video_id, request_key)
        stored = None if self.force_refresh else self.store.read(path)
        if stored is not None:
            # Answered before (maybe by a run killed before its row reached the warehouse):
            # write the row again; the same call_id replaces, never duplicates.
            self._add_row(call_row_from_json(stored["row"]))
            return stored["content"], stored["row"]
        base_row = {
            "response_id": response_id, "video_id": video_id, "run_id": self.run_id, "stage": stage,
            "chunk_index": chunk_index, "prompt_revision": prompt_revision, "model_requested": self.endpoint.model,
        }
        async with self.semaphore:
            try:
                outcome = await llm.call_model(self.endpoint, messages, settings=self.settings, max_tokens=max_tokens)
            except llm.ModelCallError as exc:
                self._record_failure(base_row, exc)
                raise
        row = {
            **base_row,
            "call_id": uuid.uuid4().hex,
            "model_answered": outcome.model_answered,
            "provider_request_id": outcome.provider_request_id,
            "input_tokens": outcome.usage.input_tokens,
            "output_tokens": outcome.usage.output_tokens,
            "total_tokens": outcome.usage.total_tokens,
            "reasoning_tokens": outcome.usage.reasoning_tokens,
            "cached_input_tokens": outcome.usage.cached_input_tokens,
            "response_time_ms": outcome.response_time_ms,
            "cost_usd": outcome.cost.usd,
            "cost_source": outcome.cost.source,
            "status": "ok" if outcome.attempts == 1 else "retried",
            "error": None,
            "created_at": utc_now(),
        }
        # The paid answer goes to disk first; the table row can always be rebuilt from it.
        self.store.write(path, {"content": outcome.content, "row": row, "raw_response": outcome.raw_response,
                                "cost_warning": outcome.cost.warning})
        # It is safe on disk: let calls waiting for a slot go out before the bookkeeping below,
        # so the provider is never left idle while rows and events are written.
        await asyncio.sleep(0)
        self.new_calls += 1
        self._add_row(row)
        if outcome.cost.warning and self.log:
            self.log.warning(f"{video_id}: {outcome.cost.warning}")
        return outcome.content, row

    def _record_failure(self, base_row: dict[str, Any], exc: llm.ModelCallError) -> None:
        self._add_row({
            **base_row, "call_id": uuid.uuid4().hex, "status": "failed", "error": redact(str(exc)),
            "cost_source": "unknown", "created_at": utc_now(),
        })

    def _add_row(self, row: dict[str, Any]) -> None:
        self._pending_rows.append(row)
        if time.monotonic() - self._last_flush >= ROWS_FLUSH_EVERY_S:
            self.flush_rows()

    def flush_rows(self) -> None:
        """Write the pending `llm_calls` rows as one segment (call it when the step ends)."""
        rows, self._pending_rows = self._pending_rows, []
        self._last_flush = time.monotonic()
        self.warehouse.write("llm_calls", rows)


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
                                  {"role": "user", "content": "<transcript_part>\n" + "\n\n".join(g) + "\n</transcript_part>"}],
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
    section, in order: the shared prefix stays in the server's prompt cache between calls."""
    if plan.essay_style != "sectioned":
        content, row = await ledger.call(stage="essay", chunk_index=None, messages=messages,
                                         max_tokens=plan.essay_max_tokens, **common)
        return content, [row]
    sections = essay_sections(prompts)
    parts, rows = [], []
    for index, (heading, description) in enumerate(sections):
        text, row = await ledger.call(stage="essay_section", chunk_index=index,
                                      messages=_with_instruction(messages, section_instruction(heading, description)),
                                      max_tokens=max(64, plan.essay_max_tokens // len(sections)), **common)
        parts.append(f"## {heading}\n\n{section_prose(text)}")
        rows.append(row)
    return "\n\n".join(parts), rows


def _with_instruction(messages: list[dict[str, str]], instruction: str) -> list[dict[str, str]]:
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
