"""The essay record: every field of an essay's front matter, defined once.

Each field says its front matter name (camelCase, as readers of the essays know it; `title`
and `date` as site generators read them), its
warehouse column (snake_case), its kind (which fixes the Python types the checks accept,
the JSON Schema type and the Arrow/DuckDB type), whether "unknown" (null) is a legal value,
whether it is a reference field (the old system's contract: required, names and meanings
never change) or one of ours (optional for readers), and what it means. The order of the
fields is the front matter's order: the reference fields first, in the reference's order.
A few fields only repeat another field's value under the name a site generator reads
(`date` is `createdAt`): they have no warehouse column of their own (`copy_of`).

The essay file, the `essays` table, the `essay_metadata` view, the front matter checks and
docs/essay.schema.json are all derived from `FIELDS`, so they cannot drift apart.
`python -m essay_assets.storage.schema_doc` regenerates the docs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

import pyarrow as pa

# 0.0.1 was the old system; 0.1.0 added fields, renamed none; 0.2.0 adds the quote counts, and title and
# date for site generators.
SCHEMA_VERSION = "0.2.0"
SCHEMA_ID = "urn:essay-assets:essay-front-matter"  # a name, not a place: the file lives in docs/


@dataclasses.dataclass(frozen=True)
class Kind:
    """How a field's value is spelled in each place it lives."""

    front_matter_types: tuple[type, ...]  # what YAML loads it as; bool never counts as a number
    json_type: str
    arrow_type: pa.DataType
    record_types: tuple[type, ...]  # what the record holds before rendering
    json_pattern: str | None = None


TEXT = Kind((str,), "string", pa.string(), (str,))
COUNT = Kind((int,), "integer", pa.int64(), (int,))
FLAG = Kind((bool,), "boolean", pa.bool_(), (bool,))
AMOUNT = Kind((int, float), "number", pa.float64(), (int, float))
# The record holds the exact moment (the warehouse keeps microseconds); the front matter
# shows it the reference's way, milliseconds and a Z.
TIMESTAMP = Kind((str,), "string", pa.timestamp("us", tz="UTC"), (datetime,),
                 json_pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
VERSION = dataclasses.replace(TEXT, json_pattern=r"^\d+\.\d+\.\d+$")


@dataclasses.dataclass(frozen=True)
class EssayField:
    front_matter: str
    column: str  # the warehouse column the value lives in (for a copy: the original's column)
    kind: Kind
    nullable: bool
    reference: bool
    doc: str
    copy_of: str | None = None  # front matter name of the field this one repeats

    @property
    def stored(self) -> bool:
        """Whether the field has a warehouse column of its own (a copy reads its original's)."""
        return self.copy_of is None

    @property
    def accepted_types(self) -> tuple[type, ...]:
        """Python types a parsed front matter value may have."""
        return self.kind.front_matter_types + ((type(None),) if self.nullable else ())

    def json_schema(self) -> dict[str, Any]:
        types = [self.kind.json_type] + (["null"] if self.nullable else [])
        schema: dict[str, Any] = {"type": types[0] if len(types) == 1 else types, "description": self.doc}
        if self.kind.json_pattern:
            schema["pattern"] = self.kind.json_pattern
        return schema


def _reference(front_matter: str, column: str, kind: Kind, doc: str, *, nullable: bool = False) -> EssayField:
    return EssayField(front_matter, column, kind, nullable, reference=True, doc=doc)


def _ours(front_matter: str, column: str, kind: Kind, doc: str, *, nullable: bool = False) -> EssayField:
    return EssayField(front_matter, column, kind, nullable, reference=False, doc=doc)


def _copy(front_matter: str, original: EssayField, doc: str) -> EssayField:
    """A field of ours that repeats `original`'s value under another name; not stored twice."""
    return EssayField(front_matter, original.column, original.kind, original.nullable, reference=False, doc=doc,
                      copy_of=original.front_matter)


_CREATED_AT = _reference("createdAt", "created_at", TIMESTAMP, "When the essay was generated (UTC).")

FIELDS: tuple[EssayField, ...] = (
    _reference("schemaVersion", "schema_version", VERSION, "Front matter schema version (0.0.1: the old system)."),
    _reference("youtubeVideoId", "video_id", TEXT, "YouTube video ID; the Dagster partition key."),
    _reference("llmModel", "llm_model", TEXT, "Model as requested."),
    _CREATED_AT,
    _reference("responseTimeMs", "response_time_ms", COUNT, "Sum of model call wall times in milliseconds."),
    _reference("inputTokens", "input_tokens", COUNT, "Prompt tokens, summed over calls; null if a call did not "
               "report them.", nullable=True),
    _reference("outputTokens", "output_tokens", COUNT, "Completion tokens, summed over calls; null if a call did "
               "not report them.", nullable=True),
    _reference("totalTokens", "total_tokens", COUNT, "Total tokens, summed over calls; null if a call did not "
               "report them.", nullable=True),
    _reference("estimatedCostCents", "estimated_cost_cents", AMOUNT, "Sum over calls in US cents, fractions kept; "
               "null if any call's cost is unknown (0 is a real price, never 'unknown').", nullable=True),
    _reference("systemPromptRevision", "prompt_revision", COUNT, "System prompt revision."),
    _reference("reasoningTokens", "reasoning_tokens", COUNT, "Reasoning tokens, summed over calls; null when no "
               "call reported them.", nullable=True),
    _reference("transcriptWordCount", "transcript_word_count", COUNT, "Words in the transcript."),
    _ours("costSource", "cost_source", TEXT, "Where the cost came from: provider | user_price | "
          "litellm_price_table | local_model | unknown; 'mixed' when calls differ."),
    _ours("cachedInputTokens", "cached_input_tokens", COUNT, "Prompt tokens served from the provider's cache, "
          "summed over calls; null when no call reported them.", nullable=True),
    _ours("essayWordCount", "essay_word_count", COUNT, "Words in the essay body."),
    _ours("llmCallCount", "call_count", COUNT, "Model calls behind the essay."),
    _ours("transcriptChunks", "chunk_count", COUNT, "Transcript chunks (1 = the transcript fit in one call)."),
    _ours("transcriptSource", "transcript_source", TEXT, "user_file | youtube | sample."),
    _ours("transcriptLanguage", "transcript_language", TEXT, "Transcript language code, e.g. en.", nullable=True),
    _ours("videoTitle", "video_title", TEXT, "Video title.", nullable=True),
    _ours("channelName", "channel_name", TEXT, "Channel name.", nullable=True),
    _ours("publishedAt", "published_at", TEXT, "Video publication time, ISO 8601, as the source gave it.",
          nullable=True),
    _ours("videoUrl", "video_url", TEXT, "Watch URL.", nullable=True),
    _ours("quotesVerified", "quotes_verified", COUNT, "Quotations in the published essay: each one matched the "
          "transcript word for word and (when quotesLinked) links to the moment it starts."),
    _ours("quotesRepaired", "quotes_repaired", COUNT, "Of those, quotations that did not match in the draft and "
          "were verified after their section was re-written (ESSAYS_QUOTE_POLICY=repair)."),
    _ours("quotesRemoved", "quotes_removed", COUNT, "Drafted quotations not published as quotations: unverified "
          "ones whose quotation marks were removed (kept as paraphrase), or that a re-write dropped."),
    _ours("linksRemoved", "links_removed", COUNT, "Links removed from the body (neither this video nor a URL "
          "said in the transcript); their link text is kept."),
    _ours("quotesLinked", "quotes_linked", FLAG, "True when quotations link to their moment in the video; false "
          "when the transcript has no times (a .txt file) or the video has no YouTube page (the sample)."),
    # Site generators (Hugo, Jekyll, MkDocs plugins) read a page's title and date only from these keys.
    _ours("title", "essay_title", TEXT, "The essay's title: its `# ` heading."),
    _copy("date", _CREATED_AT, "Same instant as createdAt, under the key site generators read as the page date."),
)
FIELDS_BY_NAME = {f.front_matter: f for f in FIELDS}
STORED_FIELDS = tuple(f for f in FIELDS if f.stored)  # the `essays` table's front matter columns
FIELDS_BY_COLUMN = {f.column: f for f in STORED_FIELDS}
REFERENCE_FIELDS = tuple(f.front_matter for f in FIELDS if f.reference)
ADDED_FIELDS = tuple(f.front_matter for f in FIELDS if not f.reference)
FRONT_MATTER_FIELDS = REFERENCE_FIELDS + ADDED_FIELDS


def iso_timestamp(moment: datetime) -> str:
    """`2026-01-08T09:31:43.631Z`, the reference's createdAt format."""
    moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclasses.dataclass(frozen=True)
class EssayRecord:
    """One essay's field values, by warehouse column; checked against FIELDS when built."""

    values: Mapping[str, Any]

    def __post_init__(self) -> None:
        missing = [f.column for f in STORED_FIELDS if f.column not in self.values]
        unknown = sorted(set(self.values) - set(FIELDS_BY_COLUMN))
        if missing or unknown:
            raise ValueError(f"essay record: missing {missing}, unknown {unknown}")
        wrong = [f"{f.column} is {type(value).__name__}" for f in STORED_FIELDS
                 if not _fits(value := self.values[f.column], f.kind.record_types, f.nullable)]
        if wrong:
            raise TypeError(f"essay record: {', '.join(wrong)}")

    def front_matter(self) -> dict[str, Any]:
        """Front matter names in the front matter's order, as the essay file shows them."""
        return {f.front_matter: _front_matter_value(f, self.values[f.column]) for f in FIELDS}

    def warehouse_row(self) -> dict[str, Any]:
        """The `essays` row's front matter columns (the caller adds response_id, path, run_id)."""
        return {f.column: self.values[f.column] for f in STORED_FIELDS}


def _fits(value: Any, types: tuple[type, ...], nullable: bool) -> bool:
    if value is None:
        return nullable
    # bool is an int in Python: it fits only a field whose kind is a flag.
    return isinstance(value, types) and (bool in types or not isinstance(value, bool))


def _front_matter_value(field: EssayField, value: Any) -> Any:
    return iso_timestamp(value) if field.kind is TIMESTAMP and value is not None else value


def front_matter_type_problems(fields: Mapping[str, Any]) -> list[str]:
    """Fields of a parsed front matter whose value has a type FIELDS does not allow."""
    problems = []
    for field in FIELDS:
        if field.front_matter in fields and not _fits(value := fields[field.front_matter],
                                                      field.kind.front_matter_types, field.nullable):
            expected = "/".join(t.__name__ for t in field.accepted_types)
            problems.append(f"{field.front_matter} is {type(value).__name__}, expected {expected}")
    return problems


def front_matter_copy_problems(fields: Mapping[str, Any]) -> list[str]:
    """Copies (date) whose value differs from their original's (createdAt) in a parsed front matter."""
    return [f"{f.front_matter} is {fields[f.front_matter]!r}, not {f.copy_of}'s {fields[f.copy_of]!r}"
            for f in FIELDS if f.copy_of and f.front_matter in fields and f.copy_of in fields
            and fields[f.front_matter] != fields[f.copy_of]]


def json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of an essay's front matter, as docs/essay.schema.json."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "Essay front matter",
        "description": (
            f"The YAML front matter of an essay (schema version {SCHEMA_VERSION}). Reference fields (the old "
            "system's, schemaVersion 0.0.1) are required; later fields are optional, and fields this schema "
            "does not know are allowed, so readers keep working when fields are added. null means unknown. "
            "Generated from essay_assets/essay_record.py by `python -m essay_assets.storage.schema_doc`."
        ),
        "type": "object",
        "required": list(REFERENCE_FIELDS),
        "properties": {f.front_matter: f.json_schema() for f in FIELDS},
        "additionalProperties": True,
    }
