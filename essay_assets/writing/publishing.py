"""Publishing an essay: front matter from the calls behind it, the markdown files, the row.

Layout: `data/essays/<video_id>.md` is the current essay, one file per video, so the folder
can be a site generator's content folder as it is; `data/essays/revisions/<video_id>.r<N>.md`
keeps the essay of each prompt revision N, so a prompt bump never destroys older work.
Data dirs from before 0.2.0 kept the revisions next to the current essays; the first
publish of a process moves them (`move_revisions_into_their_folder`).
"""

from __future__ import annotations

import dataclasses
import os
import re
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
from essay_assets.storage.warehouse import utc_now
from essay_assets.writing.cleanup import publishable_body
from essay_assets.writing.quotes import LazyTranscriptIndex
from essay_assets.writing.rendering import essay_title, normalize_body, render_essay
from essay_assets.writing.repair import (
    CheckedEssay,
    UnverifiedQuotes,
    check_essay,
    link_video_id,
)

REVISIONS_FOLDER = "revisions"
# `<id>.r<N>.md`; video IDs never contain a dot, so the ID is everything before the first one.
_REVISION_FILE = re.compile(r"^(?P<video_id>[^.]+)\.r(?P<revision>\d+)\.md$")


@dataclasses.dataclass(frozen=True)
class Published:
    path: str
    front_matter: dict[str, Any]
    metadata: dict[str, Any]
    row: dict[str, Any]  # for the essays table
    quote_rows: list[dict[str, Any]] = dataclasses.field(default_factory=list)  # for the quotes table


def essay_path(essays_dir: Path, video_id: str, revision: int | None = None) -> Path:
    """The current essay of a video (revision None), or the essay of one prompt revision."""
    if revision is None:
        return essays_dir / f"{video_id}.md"
    return essays_dir / REVISIONS_FOLDER / f"{video_id}.r{revision}.md"


def _revision_files(folder: Path, video_id: str | None = None) -> list[Path]:
    """`<id>.r<N>.md` files in `folder` (of one video, or of all); a plain `<id>*` glob would
    also take another video whose ID starts the same."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob(f"{video_id or '*'}.r*.md")
                  if (m := _REVISION_FILE.match(p.name)) and (video_id is None or m["video_id"] == video_id))


def essay_files(essays_dir: Path, video_id: str) -> list[Path]:
    """Every essay file of a video: the current one and one per prompt revision, including
    revisions a data dir from before 0.2.0 still keeps next to the current essays."""
    current = essay_path(essays_dir, video_id)
    return (([current] if current.exists() else []) + _revision_files(essays_dir / REVISIONS_FOLDER, video_id)
            + _revision_files(essays_dir, video_id))


_moved_revisions: set[Path] = set()  # essays dirs this process already moved; a listing per publish is O(n²)


def move_revisions_into_their_folder(essays_dir: Path) -> list[Path]:
    """Move `<id>.r<N>.md` files left next to the current essays (data dirs from before 0.2.0)
    into `revisions/`; idempotent, and never loses a file: a revision that is already in
    `revisions/` with other content stays where it is (`essay_files` still finds it)."""
    moved = []
    for old in _revision_files(essays_dir):
        new = essays_dir / REVISIONS_FOLDER / old.name
        new.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(old, new)  # fails when `new` exists, so two processes moving at once never overwrite
        except FileExistsError:
            if new.read_bytes() != old.read_bytes():
                # In a run, the warning shows in the run's log.
                dg.get_dagster_logger().warning("kept %s: %s exists with other content", old, new)
                continue
        except OSError:  # a file system without hard links
            if new.exists():
                continue
            os.replace(old, new)
            moved.append(new)
            continue
        old.unlink()
        moved.append(new)
    return moved


def _move_revisions_once(essays_dir: Path) -> None:
    if essays_dir in _moved_revisions:  # as given: resolving it costs a system call per folder, per essay
        return
    if essays_dir.resolve() not in _moved_revisions:
        move_revisions_into_their_folder(essays_dir)
    _moved_revisions.add(essays_dir.resolve())
    if essays_dir.is_absolute():  # a relative one could mean another folder after a chdir
        _moved_revisions.add(essays_dir)


def build_record(*, video_id: str, revision: int, response: dict[str, Any], transcript: Transcript,
                 video: dict[str, Any], body: str, quotes: CheckedEssay) -> EssayRecord:
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
        "quotes_verified": quotes.quotes_verified,
        "quotes_repaired": quotes.quotes_repaired,
        "quotes_removed": quotes.quotes_removed,
        "links_removed": quotes.links_removed,
        "quotes_linked": quotes.linked,
        "essay_title": essay_title(body),
    })


def publish_essay(settings: Settings, store: RawStore, video_id: str, revision: int,
                  response: dict[str, Any], run_id: str | None, transcript: Transcript | None = None) -> Published:
    """`transcript`: the stored one, when the caller has already read it."""
    if transcript is None:
        transcript = Transcript.from_json(store.read(store.transcript_path(video_id)))
    video = read_video_record(store, video_id)
    fallback_title = f"Reflections on {video['title']}" if video.get("title") else "Reflections on the conversation"
    body = publishable_body(normalize_body(response["content"], fallback_title)).body  # or BrokenEssay
    # The raw answer stays as the model wrote it (in the ledger and the response record); what is
    # published is the verified body: foreign links out, quotations checked (README "How quotes are verified").
    policy = settings.resolved_quote_policy
    # No index unless the body quotes: removing foreign links needs only the transcript's URLs.
    quotes = check_essay(body, LazyTranscriptIndex(transcript.snippets),
                         video_id=link_video_id(video_id, transcript.source), policy=policy,
                         repairs=response.get("repairs") or ())
    if policy == "fail" and quotes.unverified:
        raise UnverifiedQuotes(video_id, quotes.unverified)
    body = quotes.body
    record = build_record(video_id=video_id, revision=revision, response=response, transcript=transcript,
                          video=video, body=body, quotes=quotes)
    fields = record.front_matter()
    text = render_essay(fields, body)
    _move_revisions_once(settings.essays_dir)
    revision_path = essay_path(settings.essays_dir, video_id, revision)
    current_path = essay_path(settings.essays_dir, video_id)
    atomic_write_text(revision_path, text)
    atomic_write_text(current_path, text)
    row = {**record.warehouse_row(), "response_id": response["response_id"], "path": str(revision_path),
           "run_id": run_id}
    published_at = utc_now()
    quote_rows = [{
        "response_id": response["response_id"], "quote_index": number, "video_id": video_id,
        "prompt_revision": revision, "llm_model": response["model"], "section_index": verdict.section,
        "drafted_text": verdict.drafted, "published_text": verdict.published, "verdict": verdict.verdict,
        "reason": verdict.reason, "match_score": verdict.score, "start_s": verdict.start_s, "link": verdict.link,
        "run_id": run_id, "published_at": published_at,
    } for number, verdict in enumerate(quotes.verdicts)]
    cost = fields["estimatedCostCents"]
    metadata = {
        "path": dg.MetadataValue.path(str(current_path)),
        "title": fields["title"],
        "essay_word_count": fields["essayWordCount"],
        "preview": dg.MetadataValue.md(body[:1500] + ("\n\n..." if len(body) > 1500 else "")),
        "input_tokens": fields["inputTokens"] or 0,
        "output_tokens": fields["outputTokens"] or 0,
        **({"cost_cents": float(cost)} if cost is not None else {"cost_unknown": True}),
        "cost_source": fields["costSource"],
        "prompt_revision": revision,
        "quotes_verified": quotes.quotes_verified,
        "quotes_repaired": quotes.quotes_repaired,
        "quotes_removed": quotes.quotes_removed,
        "links_removed": quotes.links_removed,
    }
    return Published(str(current_path), fields, metadata, row, quote_rows)
