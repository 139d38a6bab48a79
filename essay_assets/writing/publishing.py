"""Publishing an essay: front matter from the calls behind it, the markdown files, the row.

Layout: `data/essays/<video_id>.md` is the current essay; `data/essays/<video_id>.r<N>.md`
keeps the essay of each prompt revision N, so a prompt bump never destroys older work.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

import dagster as dg

from essay_assets.intake.sources import obtain_video_metadata
from essay_assets.intake.transcripts import Transcript, word_count
from essay_assets.model_calls.ledger import totals_from_calls
from essay_assets.settings import Settings
from essay_assets.storage.files import atomic_write_text
from essay_assets.storage.raw_store import RawStore
from essay_assets.writing.rendering import (
    SCHEMA_VERSION,
    essay_title,
    iso_timestamp,
    normalize_body,
    render_essay,
)


@dataclasses.dataclass(frozen=True)
class Published:
    path: str
    front_matter: dict[str, Any]
    metadata: dict[str, Any]
    row: dict[str, Any]  # for the essays table


def build_front_matter(*, video_id: str, revision: int, response: dict[str, Any], transcript: Transcript,
                       video: dict[str, Any], body: str) -> dict[str, Any]:
    """Every reference field with its old meaning, totals summed over the essay's calls."""
    totals = totals_from_calls(response["calls"])
    created = datetime.fromisoformat(response["created_at"])
    return {
        "schemaVersion": SCHEMA_VERSION,
        "youtubeVideoId": video_id,
        "llmModel": response["model"],
        "createdAt": iso_timestamp(created),
        "responseTimeMs": totals["response_time_ms"],
        "inputTokens": totals["input_tokens"],
        "outputTokens": totals["output_tokens"],
        "totalTokens": totals["total_tokens"],
        "estimatedCostCents": totals["estimated_cost_cents"],
        "systemPromptRevision": revision,
        "reasoningTokens": totals["reasoning_tokens"],
        "transcriptWordCount": transcript.word_count,
        "costSource": totals["cost_source"],
        "cachedInputTokens": totals["cached_input_tokens"],
        "essayWordCount": word_count(body),
        "llmCallCount": totals["call_count"],
        "transcriptChunks": response["chunk_count"],
        "transcriptSource": transcript.source,
        "transcriptLanguage": transcript.language_code,
        "videoTitle": video.get("title"),
        "channelName": video.get("channel_name"),
        "publishedAt": video.get("published_at"),
        "videoUrl": video.get("url"),
    }


def publish_essay(settings: Settings, store: RawStore, video_id: str, revision: int,
                  response: dict[str, Any], run_id: str | None) -> Published:
    transcript = Transcript.from_json(store.read(store.transcript_path(video_id)))
    video = obtain_video_metadata(store, video_id, settings.oembed_url)
    fallback_title = f"Reflections on {video['title']}" if video.get("title") else "Reflections on the conversation"
    body = normalize_body(response["content"], fallback_title)
    fields = build_front_matter(video_id=video_id, revision=revision, response=response, transcript=transcript,
                                video=video, body=body)
    text = render_essay(fields, body)
    revision_path = settings.essays_dir / f"{video_id}.r{revision}.md"
    current_path = settings.essays_dir / f"{video_id}.md"
    atomic_write_text(revision_path, text)
    atomic_write_text(current_path, text)
    row = {
        "video_id": video_id, "prompt_revision": revision, "response_id": response["response_id"],
        "schema_version": SCHEMA_VERSION, "llm_model": response["model"],
        "created_at": datetime.fromisoformat(response["created_at"]),
        "response_time_ms": fields["responseTimeMs"], "input_tokens": fields["inputTokens"],
        "output_tokens": fields["outputTokens"], "total_tokens": fields["totalTokens"],
        "estimated_cost_cents": fields["estimatedCostCents"], "cost_source": fields["costSource"],
        "reasoning_tokens": fields["reasoningTokens"], "cached_input_tokens": fields["cachedInputTokens"],
        "transcript_word_count": fields["transcriptWordCount"], "essay_word_count": fields["essayWordCount"],
        "call_count": fields["llmCallCount"], "chunk_count": fields["transcriptChunks"],
        "video_title": fields["videoTitle"], "channel_name": fields["channelName"],
        "published_at": fields["publishedAt"], "video_url": fields["videoUrl"],
        "transcript_source": fields["transcriptSource"], "transcript_language": fields["transcriptLanguage"],
        "path": str(revision_path), "run_id": run_id,
    }
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
