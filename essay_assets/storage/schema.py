"""The warehouse tables: one place that names every column, its type, key and meaning.

The Parquet writer, the DuckDB views, the Dagster `dagster/column_schema` metadata and
docs/warehouse.md are all generated from these definitions, so they cannot drift apart.
"""

from __future__ import annotations

import dataclasses

import pyarrow as pa

from essay_assets import essay_record


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


def _essay_column(name: str) -> Column:
    field = essay_record.FIELDS_BY_COLUMN[name]
    return Column(field.column, field.kind.arrow_type, f"{field.doc.rstrip('.')} (front matter `{field.front_matter}`).")


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
        Column("stage", S, "chunk_notes (map step over a transcript chunk) | essay (final essay) | essay_section "
                           "(one section of a sectioned essay) | quote_repair (re-write of a section whose "
                           "quotations did not match the transcript)."),
        Column("chunk_index", I, "Chunk number for chunk_notes calls, section number for essay_section and "
                                 "quote_repair calls, null for the essay call."),
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
        Column("status", S, "ok | retried (succeeded after retries) | failed | timeout (one row per "
               "timed-out request: the provider may have completed and billed it; cost unknown)."),
        Column("error", S, "Error text for failed and timed-out calls (secrets redacted)."),
        Column("created_at", TS, "When the call finished."),
    ),
)

# The essay's own fields come from the essay record, in front matter order, each column's
# doc naming its front matter field; the key first, and the columns that are not front matter.
ESSAYS = Table(
    "essays",
    ("video_id", "prompt_revision"),
    "One row per video and prompt revision; superseded revisions stay queryable.",
    (
        *(_essay_column(name) for name in ("video_id", "prompt_revision")),
        Column("response_id", S, "Links to llm_calls.response_id: the calls that produced this essay."),
        *(_essay_column(f.column) for f in essay_record.STORED_FIELDS
          if f.column not in ("video_id", "prompt_revision")),
        Column("path", S, "Markdown file of this revision."),
        Column("run_id", S, "Dagster run that wrote the file."),
    ),
)

QUOTES = Table(
    "quotes",
    ("response_id", "quote_index"),
    "One row per quotation found in an essay's draft (and per quotation a quote-repair re-write added), with "
    "what became of it. The rows of an essay's current publication share its `essays.run_id`; a new draft "
    "(new response_id) gets rows of its own.",
    (
        Column("response_id", S, "The draft the quotation was found in: links to essays.response_id and llm_calls."),
        Column("quote_index", I, "Position of the quotation in the draft, from 0; quotations a re-write added "
                                 "come after the drafted ones."),
        Column("video_id", S, "YouTube video ID."),
        Column("prompt_revision", I, "System prompt revision of the essay."),
        Column("llm_model", S, "Model that drafted the quotation."),
        Column("section_index", I, "Which `## ` section holds it, from 0; null before the first section."),
        Column("drafted_text", S, "The quotation as the model wrote it, marks included; null when a re-write "
                                  "added it."),
        Column("published_text", S, "As published, in the transcript's words with its marks; null when it was "
                                    "not published as a quotation."),
        Column("verdict", S, "verified (matched as drafted) | repaired (matched after its section was re-written) "
                             "| unquoted (marks removed, words kept as paraphrase) | removed (the re-write dropped "
                             "it)."),
        Column("reason", S, "Why it did not match the transcript, e.g. \"content words differ: 'never' instead of "
                            "'not'\"; null when verified as drafted."),
        Column("match_score", F, "0..100: similarity to the closest transcript passage (100 = exact)."),
        Column("start_s", F, "Start (seconds) of the caption snippet where the published quotation begins; null "
                             "when not published as a quotation or the transcript has no times."),
        Column("link", S, "The published link to that moment (`watch?v=<id>&t=<N>s`); null when not linked."),
        Column("run_id", S, "Dagster run that published the essay."),
        Column("published_at", TS, "When the essay holding it was published."),
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

TABLES: tuple[Table, ...] = (VIDEOS, TRANSCRIPTS, LLM_CALLS, ESSAYS, QUOTES, FAILURES, DELETIONS)
TABLES_BY_NAME = {t.name: t for t in TABLES}

# The view that mirrors the front matter of current essays one-to-one (reference names first);
# a copy (date) reads its original's column.
FRONT_MATTER_COLUMNS: tuple[tuple[str, str], ...] = tuple((f.front_matter, f.column) for f in essay_record.FIELDS)
