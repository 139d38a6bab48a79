"""What we know about a video (title, channel, date), and where it is kept: one JSON record
per video in the raw store, written by the feed sensor, `essays run` on a feed, or the
transcript stage, and read by every later stage."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from essay_assets.storage.raw_store import RawStore


@dataclasses.dataclass(frozen=True)
class VideoMetadata:
    """What the essays' front matter and the `videos` table know about a video."""

    video_id: str
    title: str | None
    channel_name: str | None
    channel_id: str | None
    published_at: str | None  # ISO 8601 in UTC, e.g. 2026-01-15T17:00:06+00:00
    url: str
    channel_url: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VideoMetadata:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


VIDEO_RECORD_FIELDS = ("title", "channel_name", "channel_id", "published_at", "url")


def read_video_record(store: RawStore, video_id: str) -> dict[str, Any]:
    """The video's stored record, as the transcript stage left it; never asks the network.

    Only the transcript stage looks metadata up (sources.obtain_video_metadata); the later
    stages read what it stored. No record: every field unknown (an essay needs no title).
    """
    return video_record(video_id, store.read(store.video_metadata_path(video_id)))


def video_record(video_id: str, stored: Mapping[str, Any] | None) -> dict[str, Any]:
    """A stored record (or None: none stored) as read_video_record returns it."""
    stored = stored or {}
    return {"video_id": video_id, **{k: stored.get(k) or None for k in VIDEO_RECORD_FIELDS},
            "metadata_source": stored.get("metadata_source", "feed") if stored else "none"}


def write_video_metadata(raw_dir: Path, metadata: VideoMetadata, *, source: str) -> Path:
    """Store a feed's (or oEmbed's) metadata as the video's record, atomically."""
    store = RawStore(raw_dir)
    target = store.video_metadata_path(metadata.video_id)
    store.write(target, {
        **metadata.to_dict(),
        "source": source,
        "discovered_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    })
    return target
