"""Synthetic warehouse rows, and the worker processes of the concurrency test.

Kept apart from the test module so that spawned processes import only this (and the bench
script can reuse the row builders).
"""

from __future__ import annotations

import hashlib
import time
import traceback
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb

from essay_assets.storage.warehouse import Warehouse

MODELS = ("openai/gpt-4o", "openai/gpt-4o-mini", "anthropic/claude-sonnet-4", "local/qwen3-4b")


def synthetic_video(video_id: str, *, created_at: datetime, model: str = "openai/gpt-4o", revision: int = 1,
                    calls: int = 2, cost_usd_per_call: float | None = 0.01, words: int = 1000,
                    run_id: str = "run-0", essay_words: int = 800) -> dict[str, list[dict]]:
    """One video's rows in every table, with essay totals that add up over its calls."""
    response_id = f"{video_id}-r{revision}"
    call_rows = []
    for k in range(calls):
        input_tokens, output_tokens = 1300 * max(words // 1000, 1) // calls + 200, 400
        call_rows.append({
            "call_id": f"{video_id}-r{revision}-c{k}", "response_id": response_id, "video_id": video_id,
            "run_id": run_id, "stage": "essay" if k == calls - 1 else "chunk_notes",
            "chunk_index": None if k == calls - 1 else k, "prompt_revision": revision,
            "model_requested": model, "model_answered": model.split("/")[-1],
            "provider_request_id": f"chatcmpl-{video_id}-{k}", "input_tokens": input_tokens,
            "output_tokens": output_tokens, "total_tokens": input_tokens + output_tokens,
            "reasoning_tokens": None, "cached_input_tokens": None, "response_time_ms": 1500 + k,
            "cost_usd": cost_usd_per_call, "cost_source": "unknown" if cost_usd_per_call is None else "provider",
            "status": "ok", "error": None, "created_at": created_at - timedelta(seconds=calls - k),
        })
    cost = None if cost_usd_per_call is None else round(cost_usd_per_call * calls * 100, 6)
    essay = {
        "video_id": video_id, "prompt_revision": revision, "response_id": response_id, "schema_version": "0.1.0",
        "llm_model": model, "created_at": created_at,
        "response_time_ms": sum(c["response_time_ms"] for c in call_rows),
        "input_tokens": sum(c["input_tokens"] for c in call_rows),
        "output_tokens": sum(c["output_tokens"] for c in call_rows),
        "total_tokens": sum(c["total_tokens"] for c in call_rows), "estimated_cost_cents": cost,
        "cost_source": call_rows[0]["cost_source"], "reasoning_tokens": None, "cached_input_tokens": None,
        "transcript_word_count": words, "essay_word_count": essay_words, "call_count": calls,
        "chunk_count": max(calls - 1, 1), "video_title": f"Conversation {video_id}", "channel_name": "Channel",
        "essay_title": f"Reflections on Conversation {video_id}",
        "published_at": "2025-01-01T00:00:00+00:00", "path": f"data/essays/revisions/{video_id}.r{revision}.md",
        "run_id": run_id,
    }
    return {
        "videos": [{"video_id": video_id, "title": f"Conversation {video_id}", "channel_name": "Channel",
                    "channel_id": "UCxxxxxxxxxxxxxxxxxxxxxx", "published_at": "2025-01-01T00:00:00+00:00",
                    "url": f"https://www.youtube.com/watch?v={video_id}", "metadata_source": "feed",
                    "updated_at": created_at}],
        "transcripts": [{"video_id": video_id, "source": "youtube", "language_code": "en", "is_generated": False,
                         "is_translated": False, "snippet_count": words // 12, "word_count": words,
                         "content_sha256": hashlib.sha256(video_id.encode()).hexdigest(),
                         "path": f"data/raw/transcripts/{video_id}.json", "fetched_at": created_at}],
        "llm_calls": call_rows,
        "essays": [essay],
    }


def synthetic_quotes(essay: dict, verdicts: tuple[str, ...]) -> list[dict]:
    """`quotes` rows of one `essays` row (same response_id and run_id), one per verdict."""
    rows = []
    for index, verdict in enumerate(verdicts):
        published = None if verdict in ("unquoted", "removed") else f'"said words {index}"'
        rows.append({
            "response_id": essay["response_id"], "quote_index": index, "video_id": essay["video_id"],
            "prompt_revision": essay["prompt_revision"], "llm_model": essay["llm_model"], "section_index": index,
            "drafted_text": f'"drafted words {index}"', "published_text": published, "verdict": verdict,
            "reason": None if verdict == "verified" else "not in the transcript",
            "match_score": 100.0 if verdict == "verified" else 40.0, "start_s": 12.0 if published else None,
            "link": f"https://www.youtube.com/watch?v={essay['video_id']}&t=12s" if published else None,
            "run_id": essay["run_id"], "published_at": essay["created_at"],
        })
    return rows


def merge(parts: list[dict[str, list[dict]]]) -> dict[str, list[dict]]:
    merged: dict[str, list[dict]] = {}
    for part in parts:
        for table, rows in part.items():
            merged.setdefault(table, []).extend(rows)
    return merged


# ---- the concurrency test's processes ----------------------------------------------------
WRITERS, OWN_VIDEOS, SHARED_VIDEOS, BATCH, REWRITTEN = 8, 150, 50, 10, 10
NOW = datetime(2026, 1, 15, 12, 0, tzinfo=timezone.utc)


def writer_video_ids(index: int) -> list[str]:
    own = [f"w{index}-{j:04d}" for j in range(OWN_VIDEOS)]
    shared = [f"shared-{j:03d}" for j in range(SHARED_VIDEOS)]
    return own + shared  # 200 essays per writer, 50 of them the same keys in every writer


def writer(index: int, root: str, database: str, start, results) -> None:
    """Write 200 essays (+2 llm_calls each) in batches of 10, reading now and then like the
    pipeline does, rewrite 10 of them with newer values, then refresh the views."""
    try:
        warehouse = Warehouse(Path(root), Path(database))
        try:  # the worst case is in effect: the user's session holds the database's lock
            duckdb.connect(database).close()
            raise AssertionError("expected the user's session to hold the lock on the database")
        except duckdb.IOException:
            pass
        start.wait(60)
        ids = writer_video_ids(index)
        for batch_no, first in enumerate(range(0, len(ids), BATCH)):
            rows = merge([synthetic_video(v, created_at=NOW, run_id=f"writer-{index}", essay_words=100)
                          for v in ids[first:first + BATCH]])
            warehouse.write("essays", rows["essays"])
            warehouse.write("llm_calls", rows["llm_calls"])
            if batch_no % 5 == 0:
                warehouse.row_count("essays")  # the pipeline reads while others write and compact
        rewritten = [synthetic_video(v, created_at=NOW, run_id=f"writer-{index}", essay_words=999)["essays"][0]
                     for v in ids[:REWRITTEN]]
        warehouse.write("essays", rewritten)
        if not warehouse.ensure_database():
            raise AssertionError("ensure_database() found the database locked although its views were current")
        results.put((f"writer-{index}", None))
    except BaseException:  # noqa: BLE001 - reported to the test
        results.put((f"writer-{index}", traceback.format_exc()))


def compactor(root: str, database: str, start, stop, results) -> None:
    """Compact whenever 8 segments piled up, until told to stop (maybe_compact also deletes
    what compactions retired more than RETIRED_GRACE_S ago)."""
    try:
        warehouse = Warehouse(Path(root), Path(database))
        start.wait(60)
        rounds = 0
        while not stop.is_set():
            rounds += len(warehouse.maybe_compact(threshold=8))
            time.sleep(0.02)
        results.put(("compactor", rounds))
    except BaseException:  # noqa: BLE001
        results.put(("compactor", traceback.format_exc()))
