"""The call ledger: every model call made, persisted and reused, and the totals of an essay's
calls.

Every answered call is written to the raw store *before* anything else happens; its
`llm_calls` row follows in batches (one warehouse segment per batch, not per call). An
identical request already answered is reused and its row written again, so a crash, a kill
or a re-run never pays twice for the same answer nor loses its row.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from essay_assets.model_calls import client as llm
from essay_assets.model_calls.costs import round_significant, usd_to_cents
from essay_assets.redaction import redact
from essay_assets.settings import Settings
from essay_assets.storage.files import stable_hash
from essay_assets.storage.raw_store import RawStore
from essay_assets.storage.warehouse import Warehouse, utc_now

ROWS_FLUSH_EVERY_S = 15.0  # how stale `llm_calls` may be while a long step is still calling


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

    cost_usd = total("cost_usd", null_if_any_null=True)  # rounded by usd_to_cents (the sum adds noise)
    sources = sorted({c.get("cost_source") for c in answered})
    return {
        "response_time_ms": sum(c.get("response_time_ms") or 0 for c in answered),
        "input_tokens": total("input_tokens", null_if_any_null=True),
        "output_tokens": total("output_tokens", null_if_any_null=True),
        "total_tokens": total("total_tokens", null_if_any_null=True),
        "reasoning_tokens": total("reasoning_tokens", null_if_any_null=False),
        "cached_input_tokens": total("cached_input_tokens", null_if_any_null=False),
        "estimated_cost_cents": usd_to_cents(cost_usd),
        "cost_source": sources[0] if len(sources) == 1 else ("mixed" if sources else "unknown"),
        "call_count": len(answered),
    }


def response_totals(response: dict[str, Any]) -> dict[str, Any]:
    """The totals of a stored response record: computed once when llm_response wrote it.

    Records written before totals were stored have none: sum their calls instead, so
    existing data dirs keep working.
    """
    stored = response.get("totals")
    if stored is None:
        return totals_from_calls(response["calls"])
    # Records stored before cents were rounded carry float noise (0.06999999999999999).
    return {**stored, "estimated_cost_cents": round_significant(stored.get("estimated_cost_cents"))}


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
            "cost_usd": round_significant(outcome.cost.usd),  # what `essays sql` shows: no float noise
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
