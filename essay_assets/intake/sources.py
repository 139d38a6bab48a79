"""Getting a video's transcript and metadata, from the cheapest source that has them.

Transcript: a user file in data/transcripts/ (always wins: the user said so), else what we
stored on an earlier run (never refetch), else the bundled sample, else YouTube.
Metadata: what the feed sensor stored, else the bundled sample's, else YouTube's oEmbed,
else nothing (never a failure: an essay does not need a title).
"""

from __future__ import annotations

import json
import time
from importlib import resources
from typing import Any

from essay_assets.intake import youtube
from essay_assets.intake.oembed import NotAsked, OEmbedLookups
from essay_assets.intake.transcripts import (
    Transcript,
    find_user_transcript,
    load_user_transcript,
)
from essay_assets.intake.video_refs import watch_url
from essay_assets.intake.videos import video_record
from essay_assets.settings import Settings
from essay_assets.storage.raw_store import RawStore

SAMPLE_VIDEO_ID = "demo-sample"

# The HTTP session youtube-transcript-api uses (None: its own). The one seam where tests put
# recorded YouTube responses behind the real library, in the same process as the run.
youtube_http_client_factory = None


def _sample_file(name: str):
    return resources.files("essay_assets.intake") / "sample" / name


def obtain_transcript(settings: Settings, store: RawStore, video_id: str, *, http_client=None) -> Transcript:
    user_file = find_user_transcript(settings.transcripts_dir, video_id)
    if user_file is not None:
        transcript = load_user_transcript(user_file, video_id)
    else:
        stored = store.read(store.transcript_path(video_id))
        if stored is not None:
            return Transcript.from_json(stored)
        if video_id == SAMPLE_VIDEO_ID:
            snippets = json.loads(_sample_file(f"{SAMPLE_VIDEO_ID}.json").read_text(encoding="utf-8"))
            transcript = Transcript(video_id, tuple(snippets), "sample", "en", False, False)
        else:
            client = http_client or (youtube_http_client_factory() if youtube_http_client_factory else None)
            transcript = _fetch_from_youtube(settings, video_id, client)
    # A copy of the user's file or the sample is read again if a crash loses it: no fsync. What
    # YouTube sent is kept durably: asking again may meet its blocking.
    store.write(store.transcript_path(video_id), transcript.to_json(), durable=transcript.source == "youtube")
    return transcript


def _fetch_from_youtube(settings: Settings, video_id: str, http_client) -> Transcript:
    with youtube.YouTubePacer(settings.raw_dir / "youtube_pacer", settings.youtube_min_interval_s):
        fetched = youtube.fetch_transcript(
            video_id,
            languages=settings.languages,
            allow_translation=settings.allow_translation,
            http_client=http_client,
            proxy_config=youtube.proxy_config_for(settings.proxy),
        )
    return Transcript(
        video_id=video_id,
        snippets=tuple(fetched.snippets),
        source="youtube",
        language_code=fetched.language_code,
        is_generated=fetched.is_generated,
        is_translated=fetched.is_translated,
    )


def needs_youtube_fetch(settings: Settings, store: RawStore, video_id: str) -> bool:
    """Whether obtain_transcript would ask YouTube for this video's transcript: no file of the
    user's, none stored yet, and not the bundled sample."""
    return (video_id != SAMPLE_VIDEO_ID and find_user_transcript(settings.transcripts_dir, video_id) is None
            and not store.transcript_path(video_id).exists())


def needs_metadata_lookup(store: RawStore, video_id: str) -> bool:
    """Whether obtain_video_metadata would ask oEmbed for this video (for OEmbedLookups.prefetch)."""
    return video_id != SAMPLE_VIDEO_ID and _current_record(store.read(store.video_metadata_path(video_id))) is None


def _current_record(stored: dict[str, Any] | None) -> dict[str, Any] | None:
    """A stored record, unless it says nothing was known and was written over a day ago: then oEmbed is asked again."""
    if stored is not None and stored.get("metadata_source") == "none" and stored.get("checked_at", 0) < time.time() - 86400:
        return None
    return stored


def obtain_video_metadata(store: RawStore, video_id: str, lookups: OEmbedLookups) -> dict[str, Any]:
    """The transcript stage's lookup, stored for the later stages (intake.videos.read_video_record).
    `lookups`: the step's oEmbed client (several lookups at once; none while the service is down)."""
    path = store.video_metadata_path(video_id)
    stored = _current_record(store.read(path))
    if stored is not None:  # the feed sensor's record (or ours from an earlier run)
        return video_record(video_id, stored)
    if video_id == SAMPLE_VIDEO_ID:
        meta = json.loads(_sample_file(f"{SAMPLE_VIDEO_ID}.meta.json").read_text(encoding="utf-8"))
        record = {**_empty(video_id), **{k: meta.get(k) for k in _empty(video_id)}, "metadata_source": "sample"}
    else:
        try:
            found = lookups.lookup(video_id)
        except NotAsked:  # oEmbed is down: not asked, so not stored either; the next run asks
            return {**_empty(video_id), "metadata_source": "none"}
        if found is None:  # remembered for a day, so one run does not ask again for every stage
            record = {**_empty(video_id), "metadata_source": "none", "checked_at": time.time()}
            store.write(path, record, durable=False)  # a lookup again if a crash loses it
            return record
        record = {**_empty(video_id), **{k: v for k, v in found.to_dict().items() if k in _empty(video_id)},
                  "metadata_source": "oembed"}
    store.write(path, record, durable=False)  # the sample's or oEmbed's: looked up again if a crash loses it
    return record


def _empty(video_id: str) -> dict[str, Any]:
    return {
        "video_id": video_id,
        "title": None,
        "channel_name": None,
        "channel_id": None,
        "published_at": None,
        "url": watch_url(video_id) if video_id != SAMPLE_VIDEO_ID else None,
    }
