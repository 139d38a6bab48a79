"""The call ledger: every model call made, persisted and reused, and the totals of an essay's
calls.

Every answered call is written to the raw store *before* anything else happens; its
`llm_calls` row follows in batches (one warehouse segment per batch, not per call). An
identical request already answered is reused and its row written again, so a crash, a kill
or a re-run never pays twice for the same answer nor loses its row.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import os
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from essay_assets.model_calls import client as llm
from essay_assets.model_calls.costs import round_significant, usd_to_cents
from essay_assets.redaction import redact
from essay_assets.settings import Settings
from essay_assets.storage.files import stable_hash
from essay_assets.storage.raw_store import RawStore
from essay_assets.storage.warehouse import Warehouse, utc_now

ROWS_FLUSH_EVERY_S = 15.0  # how stale `llm_calls` may be while a long step is still calling
LEASE_POLL_S = 0.1  # how often a call waits for another process's identical call to finish
ANSWERED = ("ok", "retried")  # statuses of calls that returned an answer (the rest: failed, timeout)
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def ensure_room_for_answers(settings: Settings) -> None:
    """Refuse to spend money when the raw store's disk is nearly full: an answer that cannot
    be stored is paid for again by the next run."""
    where = Path(settings.raw_dir) / "llm_calls"
    probe = where
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    needed = settings.min_free_disk_mb * 1024 * 1024
    if free < needed:
        raise llm.ModelCallError(
            f"Only {free / 1024 / 1024:.1f} MB free on the disk of {where}; model calls need at least "
            f"{settings.min_free_disk_mb:g} MB (ESSAYS_MIN_FREE_DISK_MB) so every paid answer can be stored. "
            "Free some space and run again; nothing was sent.",
            reason="disk_full", transient=False)


def disk_full_error(path: Path, exc: OSError, *, paid: bool) -> llm.ModelCallError:
    what = "The answer was paid for but could not be stored" if paid else "Nothing was sent"
    return llm.ModelCallError(
        f"No space left on the disk of {path.parent} ({exc.strerror}). {what}; free some space and run again.",
        reason="disk_full", transient=False)


@contextlib.asynccontextmanager
async def request_lease(path: Path, wait_s: float) -> AsyncIterator[None]:
    """An inter-process lease on one request (`flock` on `<entry>.lock`): whoever holds it is
    the only one calling the model for that request; the others wait, polling without
    blocking the event loop, then find the stored answer. The kernel drops the lock of a
    killed process, so a lease is never stuck."""
    lock_path = path.with_name(path.name + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        give_up = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > give_up:
                    raise llm.ModelCallError(
                        f"Another process has been making the same model call for over {wait_s:.0f} s "
                        f"(lease {lock_path}); will retry.", reason="lease_wait", transient=True) from None
                await asyncio.sleep(LEASE_POLL_S)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def call_row_from_json(row: dict[str, Any]) -> dict[str, Any]:
    """An `llm_calls` row as the raw store keeps it (timestamps as text), ready for the table."""
    created = row.get("created_at")
    return {**row, "created_at": datetime.fromisoformat(created) if isinstance(created, str) else created}


def totals_from_calls(calls: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Front-matter totals: sums over the calls. Unknown stays unknown (null), never 0."""
    answered = [c for c in calls if c.get("status") in ANSWERED]

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
                   prompt_revision: int, messages: list[dict[str, str]], max_tokens: int,
                   attempt: int = 0, prose_only: bool = False) -> tuple[str, dict[str, Any]]:
        """`attempt` > 0 asks the same request anew (its stored answer was unusable): a new
        key, so the stored answer is not handed back; attempt 0 keeps the key it always had.
        `prose_only` (see client.call_model) is not part of the key: it changes how the answer
        is sampled, not what was asked, so answers stored before it are still reused."""
        request = {"model": self.endpoint.model, "messages": messages, "max_tokens": max_tokens,
                   "temperature": self.settings.temperature, "response_id": response_id}
        request_key = stable_hash(request if attempt == 0 else {**request, "attempt": attempt})
        path = self.store.call_path(video_id, request_key)
        stored = None if self.force_refresh else self.store.read(path)
        if stored is not None:
            return self._reuse(stored)
        base_row = {
            "response_id": response_id, "video_id": video_id, "run_id": self.run_id, "stage": stage,
            "chunk_index": chunk_index, "prompt_revision": prompt_revision, "model_requested": self.endpoint.model,
        }
        async with self.semaphore:
            try:
                async with request_lease(path, wait_s=self.settings.llm_call_deadline_s + 60):
                    # Another process may have answered it while we waited for the lease.
                    stored = None if self.force_refresh else self.store.read(path)
                    if stored is not None:
                        return self._reuse(stored)
                    ensure_room_for_answers(self.settings)  # never send what cannot be stored
                    outcome = await llm.call_model(
                        self.endpoint, messages, settings=self.settings, max_tokens=max_tokens, prose_only=prose_only,
                        on_failed_attempt=lambda error, ms, attempt: self._record_failure(base_row, error, ms))
                    row = self._answered_row(base_row, outcome)
                    # The paid answer goes to disk first; the table row can always be rebuilt from it.
                    try:
                        self.store.write(path, {"content": outcome.content, "row": row,
                                                "raw_response": outcome.raw_response,
                                                "cost_warning": outcome.cost.warning})
                    except OSError as exc:
                        if exc.errno not in _DISK_FULL:
                            raise
                        error = disk_full_error(path, exc, paid=True)
                        self._add_row({**row, "status": "failed", "error": str(error)})
                        raise error from None
            except OSError as exc:  # the lease file or its folder on a full disk: nothing was sent
                if exc.errno not in _DISK_FULL:
                    raise
                raise disk_full_error(path, exc, paid=False) from None
        # It is safe on disk: let calls waiting for a slot go out before the bookkeeping below,
        # so the provider is never left idle while rows and events are written.
        await asyncio.sleep(0)
        self.new_calls += 1
        self._add_row(row)
        if outcome.cost.warning and self.log:
            self.log.warning(f"{video_id}: {outcome.cost.warning}")
        return outcome.content, row

    def _reuse(self, stored: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        # Answered before (maybe by a run killed before its row reached the warehouse, or by
        # another process): write the row again; the same call_id replaces, never duplicates.
        self._add_row(call_row_from_json(stored["row"]))
        return stored["content"], stored["row"]

    @staticmethod
    def _answered_row(base_row: dict[str, Any], outcome: llm.CallOutcome) -> dict[str, Any]:
        return {
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

    def _record_failure(self, base_row: dict[str, Any], exc: llm.ModelCallError, elapsed_ms: int) -> None:
        """One row per failed attempt. A timed-out request may still be completed and billed by
        the provider: its row says so, with the cost unknown (null), never 0."""
        timed_out = exc.reason == "timeout"
        error = redact(str(exc)) + (" May have been billed: the provider may have completed it." if timed_out else "")
        self._add_row({
            **base_row, "call_id": uuid.uuid4().hex, "status": "timeout" if timed_out else "failed", "error": error,
            "cost_usd": None, "cost_source": "unknown", "response_time_ms": elapsed_ms, "created_at": utc_now(),
        })

    def _add_row(self, row: dict[str, Any]) -> None:
        self._pending_rows.append(row)
        if time.monotonic() - self._last_flush >= ROWS_FLUSH_EVERY_S:
            self.flush_rows()

    def flush_rows(self) -> None:
        """Write the pending `llm_calls` rows as one segment (call it when the step ends)."""
        rows, self._pending_rows = self._pending_rows, []
        self._last_flush = time.monotonic()
        try:
            self.warehouse.write("llm_calls", rows)
        except OSError as exc:  # a full disk under the warehouse: the answers themselves are safe
            self._pending_rows = rows + self._pending_rows  # tried again at the next flush
            if self.log:
                self.log.warning(
                    f"{len(rows)} llm_calls row(s) could not be written to {self.warehouse.root / 'llm_calls'} "
                    f"({exc.strerror or exc}). Every paid answer is stored in {self.store.raw_dir / 'llm_calls'}; "
                    "the next run that reuses them writes their rows again.")
