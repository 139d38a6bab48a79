"""Follow channels and playlists: turn new videos in their feeds into essay runs.

Every tick (hourly by default) `followed_feeds_sensor` polls each feed in
`<data dir>/follow.yaml` (see `essay_assets.feeds`) and, for each video it has not
requested before, adds a `videos` partition, stores the video's metadata at
`<data dir>/raw/videos/<video_id>.json` and requests an `essays_job` run.

Choices worth knowing:

* Oldest new video first. With `max_new_per_poll: 5` and eight new videos, this tick
  takes the five oldest and the next tick the other three, so a backlog drains in
  publication order and nothing is skipped. (YouTube feeds list only the latest 15
  videos: more than 15 uploads between two polls cannot all be seen.)
* While a feed still has a backlog its ETag is not stored, so the next poll fetches
  the whole feed again instead of getting `304 Not Modified` and stalling the backlog.
* A video that already is a `videos` partition (added by hand, or by another feed) is
  recorded as seen but not requested again: re-running it could pay for a second essay.
* A failing feed is logged as a warning and keeps its cursor entry unchanged, so it is
  simply retried next tick. Nothing a feed does can fail the tick; a broken follow file
  or broken settings do fail it, with a message saying what to fix.

The cursor is JSON: `{"version": 1, "feeds": {"channel:UC...": {"etag": ..., "modified":
..., "requested": [video ids, oldest first, at most 500]}}}`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable, Iterable
from typing import Any

import dagster as dg

from essay_assets.defs.jobs import essays_job
from essay_assets.defs.partitions import video_partitions
from essay_assets.defs.resources import EssaySettings
from essay_assets.intake.feeds import (
    FeedPoll,
    FollowedFeed,
    load_follow_file,
    poll_feed,
    published_date,
)
from essay_assets.intake.videos import VideoMetadata, write_video_metadata

FEED_POLL_INTERVAL_S = 3600
CURSOR_VERSION = 1
MAX_REMEMBERED_PER_FEED = 500
RUN_KEY_PREFIX = "feed:"


# ---- cursor -----------------------------------------------------------------------------


@dataclasses.dataclass
class FeedState:
    etag: str | None = None
    modified: str | None = None
    requested: list[str] = dataclasses.field(default_factory=list)  # oldest first

    def to_json(self) -> dict[str, Any]:
        return {"etag": self.etag, "modified": self.modified, "requested": self.requested}


def parse_cursor(raw: str | None) -> dict[str, FeedState]:
    """Cursor JSON -> per-feed state. Raises ValueError on a cursor we cannot read."""
    if not raw:
        return {}
    data = json.loads(raw)
    if not isinstance(data, dict) or data.get("version") != CURSOR_VERSION:
        raise ValueError(f"unsupported cursor (expected version {CURSOR_VERSION})")
    states = {}
    for key, value in (data.get("feeds") or {}).items():
        states[key] = FeedState(
            etag=value.get("etag"),
            modified=value.get("modified"),
            requested=[str(v) for v in value.get("requested") or []],
        )
    return states


def serialize_cursor(states: dict[str, FeedState]) -> str:
    feeds = {key: state.to_json() for key, state in sorted(states.items())}
    return json.dumps({"version": CURSOR_VERSION, "feeds": feeds}, sort_keys=True)


# ---- pure selection -----------------------------------------------------------------------


def select_new_videos(
    entries: Iterable[VideoMetadata],
    *,
    already_seen: set[str],
    since: dt.date | None,
    limit: int,
) -> tuple[list[VideoMetadata], bool]:
    """Pick the videos to request from one feed's entries.

    Returns `(chosen, backlog_left)`: unseen videos published on or after `since`
    (videos with no date are skipped when `since` is set), oldest first, at most
    `limit`; `backlog_left` says whether eligible videos were left for a later poll.
    """
    eligible = [
        entry
        for entry in entries
        if entry.video_id not in already_seen and _published_since(entry, since)
    ]
    # Oldest first; videos without a date sort last. sorted() is stable, so ties keep feed order.
    eligible.sort(key=lambda e: (e.published_at is None, e.published_at or ""))
    unique: list[VideoMetadata] = []
    ids: set[str] = set()
    for entry in eligible:  # a feed should not repeat a video, but a glitch must not double-bill
        if entry.video_id not in ids:
            ids.add(entry.video_id)
            unique.append(entry)
    return unique[:limit], len(unique) > limit


def _published_since(entry: VideoMetadata, since: dt.date | None) -> bool:
    if since is None:
        return True
    day = published_date(entry)
    return day is not None and day >= since


def remember(requested: list[str], new_ids: Iterable[str], limit: int = MAX_REMEMBERED_PER_FEED) -> list[str]:
    """Append `new_ids` to the per-feed memory, keeping the newest `limit` entries."""
    merged = list(requested)
    for vid in new_ids:
        if vid not in merged:
            merged.append(vid)
    return merged[-limit:]


# ---- one tick, as a plain function ----------------------------------------------------------


@dataclasses.dataclass
class TickOutcome:
    new_videos: list[tuple[FollowedFeed, VideoMetadata]]
    states: dict[str, FeedState]
    failures: list[str]


def poll_followed_feeds(
    feeds: list[FollowedFeed],
    states: dict[str, FeedState],
    *,
    known_partitions: set[str],
    poll: Callable[..., FeedPoll] = poll_feed,
    warn: Callable[[str], None] = lambda message: None,
) -> TickOutcome:
    """Poll every feed; return the videos to request and the next cursor state.

    `states` is not modified. A feed that fails keeps its previous state; feeds no longer
    in the follow file are dropped from the cursor (should one be followed again, its
    videos that already are partitions are still not requested twice).
    """
    next_states = {key: dataclasses.replace(state, requested=list(state.requested)) for key, state in states.items()}
    # Any feed's earlier request counts: a video in both a channel and a playlist is
    # requested once, even before its partition shows up in `known_partitions`.
    requested_anywhere: set[str] = {vid for state in states.values() for vid in state.requested}
    new_videos: list[tuple[FollowedFeed, VideoMetadata]] = []
    failures: list[str] = []
    for feed in feeds:
        state = next_states.setdefault(feed.key, FeedState())
        if feed.max_new_per_poll == 0:
            continue  # paused in follow.yaml
        result = poll(feed, etag=state.etag, modified=state.modified)
        if not result.ok:
            failures.append(f"{feed.key}: {result.error}")
            warn(f"Feed {feed.key} failed and will be retried next tick: {result.error}")
            continue
        if result.not_modified:
            continue
        already_known = [e.video_id for e in result.entries if e.video_id in known_partitions]
        chosen, backlog_left = select_new_videos(
            result.entries,
            already_seen=requested_anywhere | known_partitions,
            since=feed.since,
            limit=feed.max_new_per_poll,
        )
        requested_anywhere.update(e.video_id for e in chosen)
        new_videos.extend((feed, entry) for entry in chosen)
        state.requested = remember(state.requested, already_known + [e.video_id for e in chosen])
        if backlog_left:
            # Forget the validators so the next poll re-reads the feed and drains the rest.
            state.etag, state.modified = None, None
        else:
            state.etag, state.modified = result.etag, result.modified
    followed = {feed.key: next_states[feed.key] for feed in feeds}
    return TickOutcome(new_videos, followed, failures)


# ---- the sensor -------------------------------------------------------------------------------


@dg.sensor(
    job=essays_job,
    minimum_interval_seconds=FEED_POLL_INTERVAL_S,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Polls the YouTube channels and playlists listed in <data dir>/follow.yaml and "
        "requests an essay run for each new video. Does nothing while there is no follow file."
    ),
)
def followed_feeds_sensor(context: dg.SensorEvaluationContext, essay_settings: EssaySettings):
    settings = essay_settings.get()
    follow_file = settings.follow_file
    if not follow_file.exists():
        return dg.SkipReason(f"No follow file at {follow_file}: no channels or playlists are followed.")
    feeds = load_follow_file(follow_file, feed_base=settings.youtube_feed_base)
    if not feeds:
        return dg.SkipReason(f"{follow_file} lists no channels or playlists.")

    try:
        states = parse_cursor(context.cursor)
    except ValueError as exc:
        # Starting over is safe: per-poll caps, `since` and the known-partition check
        # bound what a fresh cursor can request.
        context.log.warning(f"Ignoring an unreadable sensor cursor ({exc}); starting with an empty one.")
        states = {}

    outcome = poll_followed_feeds(
        feeds,
        states,
        known_partitions=set(context.instance.get_dynamic_partitions(video_partitions.name)),
        warn=context.log.warning,
    )
    cursor = serialize_cursor(outcome.states)
    if not outcome.new_videos:
        summary = f"No new videos in {len(feeds)} followed feed(s)"
        if outcome.failures:
            summary += f"; {len(outcome.failures)} failed and will be retried"
        return dg.SensorResult(skip_reason=summary + ".", cursor=cursor)

    run_requests = []
    for feed, metadata in outcome.new_videos:
        write_video_metadata(settings.raw_dir, metadata, source=feed.key)
        run_requests.append(
            dg.RunRequest(
                partition_key=metadata.video_id,
                run_key=f"{RUN_KEY_PREFIX}{metadata.video_id}",
                tags={"essays/source": feed.key},
            )
        )
    new_ids = [metadata.video_id for _, metadata in outcome.new_videos]
    context.log.info(f"Requesting essays for {len(new_ids)} new video(s): {', '.join(new_ids)}")
    return dg.SensorResult(
        run_requests=run_requests,
        dynamic_partitions_requests=[video_partitions.build_add_request(new_ids)],
        cursor=cursor,
    )
