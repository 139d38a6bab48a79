"""The warehouse tables: one place that names every column, its type, key and meaning.

The Parquet writer, the DuckDB views, the Dagster `dagster/column_schema` metadata and
docs/warehouse.md are all generated from these definitions, so they cannot drift apart.
"""

from __future__ import annotations

import dataclasses

import pyarrow as pa


@dataclasses.dataclass(frozen=True)
class Column:
    name: str
    type: pa.DataType
    doc: str


@dataclasses.dataclass(frozen=True)
class Table:
    name: str
    key: tuple[str, ...]  # rows with the same key replace each other; the newest write wins
    doc: str
    columns: tuple[Column, ...]

    @property
    def arrow_schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, c.type) for c in self.columns] + [pa.field(WRITTEN_AT, pa.int64())])


WRITTEN_AT = "_written_at"  # nanoseconds since the epoch; orders rewrites of one key
S, I, F, B, TS = pa.string(), pa.int64(), pa.float64(), pa.bool_(), pa.timestamp("us", tz="UTC")

VIDEOS = Table(
    "videos",
    ("video_id",),
    "One row per video: what we know about it, from its feed entry, oEmbed or the user.",
    (
        Column("video_id", S, "YouTube video ID (11 characters); the Dagster partition key."),
        Column("title", S, "Video title, or null when no source knew it."),
        Column("channel_name", S, "Channel (author) name."),
        Column("channel_id", S, "YouTube channel ID (UC...)."),
        Column("published_at", S, "Publication time, ISO 8601, as the source gave it."),
        Column("url", S, "Watch URL."),
        Column("metadata_source", S, "feed | oembed | sample | none: where the metadata came from."),
        Column("updated_at", TS, "When this row was written."),
    ),
)

TRANSCRIPTS = Table(
    "transcripts",
    ("video_id",),
    "One row per video: the transcript the essay was written from.",
    (
        Column("video_id", S, "YouTube video ID."),
        Column("source", S, "user_file (data/transcripts/<id>.json|.txt) | youtube | sample."),
        Column("language_code", S, "Language code of the transcript, e.g. en."),
        Column("is_generated", B, "True when YouTube generated the captions automatically."),
        Column("is_translated", B, "True when YouTube machine-translated them into our language."),
        Column("snippet_count", I, "Number of caption snippets."),
        Column("word_count", I, "Words in the transcript (whitespace-separated)."),
        Column("content_sha256", S, "Hash of the transcript text: the data version downstream assets see."),
        Column("path", S, "Where the raw transcript is stored under data/raw/transcripts."),
        Column("fetched_at", TS, "When the transcript was first stored."),
    ),
)

LLM_CALLS = Table(
    "llm_calls",
    ("call_id",),
    "One row per model call, including every map-reduce chunk call and failed calls.",
    (
        Column("call_id", S, "Unique ID of this call."),
        Column("response_id", S, "The essay attempt this call belongs to (all calls of one essay share it)."),
        Column("video_id", S, "YouTube video ID."),
        Column("run_id", S, "Dagster run that made the call."),
        Column("stage", S, "chunk_notes (map step over a transcript chunk) | essay (final essay)."),
        Column("chunk_index", I, "Chunk number for chunk_notes calls, null for the essay call."),
        Column("prompt_revision", I, "System prompt revision used."),
        Column("model_requested", S, "Model name as we asked litellm for it."),
        Column("model_answered", S, "Model name the provider reported in its answer."),
        Column("provider_request_id", S, "The provider's response ID, for support tickets and audits."),
        Column("input_tokens", I, "Prompt tokens as the provider reported them."),
        Column("output_tokens", I, "Completion tokens (including reasoning tokens) as reported."),
        Column("total_tokens", I, "Total tokens as reported."),
        Column("reasoning_tokens", I, "Reasoning tokens; null when the provider did not report them."),
        Column("cached_input_tokens", I, "Prompt tokens served from the provider's cache; null when not reported."),
        Column("response_time_ms", I, "Wall time of the call in milliseconds."),
        Column("cost_usd", F, "Cost of the call in US dollars; null when unknown (never a made-up 0)."),
        Column("cost_source", S, "provider | user_price | litellm_price_table | local_model | unknown."),
        Column("status", S, "ok | retried (succeeded after retries) | failed."),
        Column("error", S, "Error text for failed calls (secrets redacted)."),
        Column("created_at", TS, "When the call finished."),
    ),
)

ESSAYS = Table(
    "essays",
    ("video_id", "prompt_revision"),
    "One row per video and prompt revision; superseded revisions stay queryable.",
    (
        Column("video_id", S, "YouTube video ID (front matter youtubeVideoId)."),
        Column("prompt_revision", I, "System prompt revision (systemPromptRevision)."),
        Column("response_id", S, "Links to llm_calls.response_id: the calls that produced this essay."),
        Column("schema_version", S, "Front matter schema version (schemaVersion)."),
        Column("llm_model", S, "Model as requested (llmModel)."),
        Column("created_at", TS, "When the essay was generated (createdAt)."),
        Column("response_time_ms", I, "Sum of model call wall times (responseTimeMs)."),
        Column("input_tokens", I, "Sum over calls (inputTokens)."),
        Column("output_tokens", I, "Sum over calls (outputTokens)."),
        Column("total_tokens", I, "Sum over calls (totalTokens)."),
        Column("estimated_cost_cents", F, "Sum over calls in US cents, fractions kept; null if any call's cost is unknown (estimatedCostCents)."),
        Column("cost_source", S, "Where the cost came from; 'mixed' when calls differ (costSource)."),
        Column("reasoning_tokens", I, "Sum over calls; null when no call reported them (reasoningTokens)."),
        Column("cached_input_tokens", I, "Sum over calls; null when no call reported them (cachedInputTokens)."),
        Column("transcript_word_count", I, "Words in the transcript (transcriptWordCount)."),
        Column("essay_word_count", I, "Words in the essay body (essayWordCount)."),
        Column("call_count", I, "Model calls behind the essay (llmCallCount)."),
        Column("chunk_count", I, "Transcript chunks (1 = the transcript fit in one call) (transcriptChunks)."),
        Column("transcript_source", S, "user_file | youtube | sample (transcriptSource)."),
        Column("transcript_language", S, "Transcript language code (transcriptLanguage)."),
        Column("video_title", S, "Video title (videoTitle)."),
        Column("channel_name", S, "Channel name (channelName)."),
        Column("published_at", S, "Video publication time (publishedAt)."),
        Column("video_url", S, "Watch URL (videoUrl)."),
        Column("path", S, "Markdown file of this revision."),
        Column("run_id", S, "Dagster run that wrote the file."),
    ),
)

FAILURES = Table(
    "failures",
    ("failure_id",),
    "One row per failed attempt at a stage for a video: what failed, why, when.",
    (
        Column("failure_id", S, "Unique ID of this failure."),
        Column("video_id", S, "YouTube video ID."),
        Column("stage", S, "transcript | essay_prompt | llm_response | essay."),
        Column("reason", S, "Short machine-readable reason, e.g. transcripts_disabled, budget_exceeded."),
        Column("message", S, "The message the user saw (secrets redacted)."),
        Column("run_id", S, "Dagster run, when there was one."),
        Column("failed_at", TS, "When it failed."),
    ),
)

DELETIONS = Table(
    "deletions",
    ("video_id",),
    "Videos deleted with `essays delete`: their rows written before the deletion are hidden.",
    (
        Column("video_id", S, "YouTube video ID."),
        Column("deleted_at", TS, "When it was deleted."),
    ),
)

TABLES: tuple[Table, ...] = (VIDEOS, TRANSCRIPTS, LLM_CALLS, ESSAYS, FAILURES, DELETIONS)
TABLES_BY_NAME = {t.name: t for t in TABLES}

# The view that mirrors the front matter of current essays one-to-one (reference names first).
FRONT_MATTER_COLUMNS: tuple[tuple[str, str], ...] = (
    ("schemaVersion", "schema_version"),
    ("youtubeVideoId", "video_id"),
    ("llmModel", "llm_model"),
    ("createdAt", "created_at"),
    ("responseTimeMs", "response_time_ms"),
    ("inputTokens", "input_tokens"),
    ("outputTokens", "output_tokens"),
    ("totalTokens", "total_tokens"),
    ("estimatedCostCents", "estimated_cost_cents"),
    ("systemPromptRevision", "prompt_revision"),
    ("reasoningTokens", "reasoning_tokens"),
    ("transcriptWordCount", "transcript_word_count"),
    ("costSource", "cost_source"),
    ("cachedInputTokens", "cached_input_tokens"),
    ("essayWordCount", "essay_word_count"),
    ("llmCallCount", "call_count"),
    ("transcriptChunks", "chunk_count"),
    ("transcriptSource", "transcript_source"),
    ("transcriptLanguage", "transcript_language"),
    ("videoTitle", "video_title"),
    ("channelName", "channel_name"),
    ("publishedAt", "published_at"),
    ("videoUrl", "video_url"),
)
