"""Where each video stands: current, stale, failed or missing, as `essays status` prints it.

The same rule as the schedule's (staleness.py): an essay is current when it was written with
the current prompt revision and model; every other video is one the schedule would run.
"""

from __future__ import annotations

import dataclasses
from datetime import timezone

from essay_assets.storage.warehouse import Warehouse

STATES = ("current", "stale", "failed", "missing")


@dataclasses.dataclass(frozen=True)
class VideoStatus:
    video_id: str
    state: str  # one of STATES
    title: str | None = None
    prompt_revision: int | None = None  # of the newest essay, current or not
    llm_model: str | None = None
    estimated_cost_cents: float | None = None  # of that essay; None when unknown
    why: str = ""  # what makes it stale or failed


def video_statuses(warehouse: Warehouse, video_ids: list[str], revision: int, model: str) -> list[VideoStatus]:
    """One status per video, in the order given."""
    if not video_ids:
        return []
    essays = _newest_by_video(warehouse.query(
        "SELECT video_id, prompt_revision, llm_model, estimated_cost_cents, created_at, video_title,"
        " prompt_revision = ? AND llm_model = ? AS is_current FROM essays WHERE video_id IN (SELECT unnest(?))"
        " ORDER BY is_current, created_at", [revision, model, video_ids]))
    failures = _newest_by_video(warehouse.query(
        "SELECT video_id, stage, reason, failed_at FROM failures WHERE video_id IN (SELECT unnest(?))"
        " ORDER BY failed_at", [video_ids]))
    titles = {row["video_id"]: row["title"] for row in warehouse.query(
        "SELECT video_id, title FROM videos WHERE video_id IN (SELECT unnest(?))", [video_ids])}
    return [_status(v, essays.get(v), failures.get(v), titles.get(v), revision, model) for v in video_ids]


def _newest_by_video(rows: list[dict]) -> dict[str, dict]:
    return {row["video_id"]: row for row in rows}  # rows come sorted: the last one per video wins


def _status(video_id: str, essay: dict | None, failure: dict | None, title: str | None,
            revision: int, model: str) -> VideoStatus:
    found = {} if essay is None else dict(
        title=title or essay["video_title"], prompt_revision=essay["prompt_revision"], llm_model=essay["llm_model"],
        estimated_cost_cents=essay["estimated_cost_cents"])
    if essay is not None and essay["is_current"]:
        return VideoStatus(video_id, "current", **found)
    if failure is not None and (essay is None or failure["failed_at"] > essay["created_at"]):
        when = failure["failed_at"].astimezone(timezone.utc)
        why = f"{failure['stage']} failed: {failure['reason']} ({when:%Y-%m-%d %H:%M} UTC)"
        return VideoStatus(video_id, "failed", **(found or {"title": title}), why=why)
    if essay is not None:
        changed = []
        if essay["prompt_revision"] != revision:
            changed.append(f"prompt r{essay['prompt_revision']}, now r{revision}")
        if essay["llm_model"] != model:
            changed.append(f"model {essay['llm_model']}, now {model}")
        return VideoStatus(video_id, "stale", **found, why="written with " + "; ".join(changed))
    return VideoStatus(video_id, "missing", title=title)


def format_cost(cents: float | None) -> str:
    if cents is None:
        return "unknown"  # never a made-up 0
    return f"{cents:.4g}¢"


def render_statuses(statuses: list[VideoStatus]) -> str:
    """A plain-text table, then a one-line tally."""
    header = ("video", "state", "rev", "model", "cost", "title / why")
    rows = [header] + [
        (s.video_id, s.state, "" if s.prompt_revision is None else f"r{s.prompt_revision}", s.llm_model or "",
         "" if s.llm_model is None else format_cost(s.estimated_cost_cents),  # no essay, no cost
         "  ".join(part for part in (_shorten(s.title or ""), s.why) if part))
        for s in statuses]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1] for row in rows]
    counts = {state: sum(1 for s in statuses if s.state == state) for state in STATES}
    tally = f"{len(statuses)} video(s): " + ", ".join(f"{counts[state]} {state}" for state in STATES)
    return "\n".join(line.rstrip() for line in lines) + "\n" + tally


def _shorten(text: str, limit: int = 48) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"
