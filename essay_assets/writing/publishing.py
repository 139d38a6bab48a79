"""Publishing an essay: front matter from the calls behind it, the markdown files, the row.

Layout: `data/essays/<video_id>.md` is the current essay; `data/essays/<video_id>.r<N>.md`
keeps the essay of each prompt revision N, so a prompt bump never destroys older work.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from pathlib import Path
from typing import Any

import dagster as dg

from essay_assets.essay_record import SCHEMA_VERSION, EssayRecord
from essay_assets.intake.transcripts import Transcript, word_count
from essay_assets.intake.videos import read_video_record
from essay_assets.model_calls.ledger import response_totals
from essay_assets.settings import Settings
from essay_assets.storage.files import atomic_write_text
from essay_assets.storage.raw_store import RawStore
from essay_assets.writing.cleanup import publishable_body
from essay_assets.writing.rendering import essay_title, normalize_body, render_essay


@dataclasses.dataclass(frozen=True)
class Published:
    path: str
    front_matter: dict[str, Any]
    metadata: dict[str, Any]
    row: dict[str, Any]  # for the essays table


def essay_path(essays_dir: Path, video_id: str, revision: int | None = None) -> Path:
    """The current essay of a video (revision None), or the essay of one prompt revision."""
    return essays_dir / (f"{video_id}.md" if revision is None else f"{video_id}.r{revision}.md")


def essay_files(essays_dir: Path, video_id: str) -> list[Path]:
    """Every essay file of a video: the current one and one per prompt revision."""
    current = essay_path(essays_dir, video_id)
    # Exactly `<id>.r<N>.md`: a plain `<id>*` would also take another video whose ID starts the same.
    revisions = sorted(p for p in essays_dir.glob(f"{video_id}.r*.md") if p.name[len(video_id) + 2:-3].isdigit())
    return ([current] if current.exists() else []) + revisions


def build_record(*, video_id: str, revision: int, response: dict[str, Any], transcript: Transcript,
                 video: dict[str, Any], body: str) -> EssayRecord:
    """Every reference field with its old meaning; the totals are those stored with the response."""
    totals = response_totals(response)
    return EssayRecord({
        "schema_version": SCHEMA_VERSION,
        "video_id": video_id,
        "llm_model": response["model"],
        "created_at": datetime.fromisoformat(response["created_at"]),
        "response_time_ms": totals["response_time_ms"],
        "input_tokens": totals["input_tokens"],
        "output_tokens": totals["output_tokens"],
        "total_tokens": totals["total_tokens"],
        "estimated_cost_cents": totals["estimated_cost_cents"],
        "prompt_revision": revision,
        "reasoning_tokens": totals["reasoning_tokens"],
        "transcript_word_count": transcript.word_count,
        "cost_source": totals["cost_source"],
        "cached_input_tokens": totals["cached_input_tokens"],
        "essay_word_count": word_count(body),
        "call_count": totals["call_count"],
        "chunk_count": response["chunk_count"],
        "transcript_source": transcript.source,
        "transcript_language": transcript.language_code,
        "video_title": video.get("title"),
        "channel_name": video.get("channel_name"),
        "published_at": video.get("published_at"),
        "video_url": video.get("url"),
    })


def publish_essay(settings: Settings, store: RawStore, video_id: str, revision: int,
                  response: dict[str, Any], run_id: str | None) -> Published:
    transcript = Transcript.from_json(store.read(store.transcript_path(video_id)))
    video = read_video_record(store, video_id)
    fallback_title = f"Reflections on {video['title']}" if video.get("title") else "Reflections on the conversation"
    body = publishable_body(normalize_body(response["content"], fallback_title)).body  # or BrokenEssay
    record = build_record(video_id=video_id, revision=revision, response=response, transcript=transcript,
                          video=video, body=body)
    fields = record.front_matter()
    text = render_essay(fields, body)
    revision_path = essay_path(settings.essays_dir, video_id, revision)
    current_path = essay_path(settings.essays_dir, video_id)
    atomic_write_text(revision_path, text)
    atomic_write_text(current_path, text)
    row = {**record.warehouse_row(), "response_id": response["response_id"], "path": str(revision_path),
           "run_id": run_id}
    cost = fields["estimatedCostCents"]
    metadata = {
        "path": dg.MetadataValue.path(str(current_path)),
        "title": essay_title(body),
        "essay_word_count": fields["essayWordCount"],
        "preview": dg.MetadataValue.md(body[:1500] + ("\n\n..." if len(body) > 1500 else "")),
        "input_tokens": fields["inputTokens"] or 0,
        "output_tokens": fields["outputTokens"] or 0,
        **({"cost_cents": float(cost)} if cost is not None else {"cost_unknown": True}),
        "cost_source": fields["costSource"],
        "prompt_revision": revision,
    }
    return Published(str(current_path), fields, metadata, row)
