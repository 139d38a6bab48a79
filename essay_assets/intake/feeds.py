"""Followed channels and playlists: the follow file and YouTube's Atom feeds.

YouTube publishes an Atom feed per channel and per playlist, with no API key:
`https://www.youtube.com/feeds/videos.xml?channel_id=UC...` / `?playlist_id=PL...`.
It lists only the latest 15 videos, newest first, with the `yt:videoId`,
`yt:channelId`, title, author and publication time the essays' front matter needs.
(Videos that did not come from a feed get their title from oEmbed: intake/oembed.py.)

The follow file (`<data dir>/follow.yaml`):

    channels:
      - id: UCxxxxxxxxxxxxxxxxxxxxxx   # channel ID: UC + 22 characters
        since: 2026-01-01            # optional: ignore videos published before this day (UTC)
        max_new_per_poll: 5          # optional, default 5; 0 pauses the feed
    playlists:
      - id: PLxxxxxxxxxxxxxxxx
      - PLyyyyyyyyyyyyyyyy           # a bare ID is short for `- id: ...`

Everything here is plain Python; `essay_assets.defs.sensors` turns it into run requests.
"""

from __future__ import annotations

import calendar
import dataclasses
import datetime as dt
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import feedparser
import yaml

from essay_assets.intake.video_refs import (
    CHANNEL_ID_RE,
    PLAYLIST_ID_RE,
    VIDEO_ID_RE,
    watch_url,
)
from essay_assets.intake.videos import VideoMetadata
from essay_assets.settings import DEFAULT_FEED_BASE

DEFAULT_MAX_NEW_PER_POLL = 5
FEED_TIMEOUT_S = 10.0

_FEED_KINDS = {"channels": "channel", "playlists": "playlist"}
_ENTRY_KEYS = {"id", "since", "max_new_per_poll"}


class FollowFileError(ValueError):
    """The follow file cannot be used; the message names the file, the entry and the fix."""


@dataclasses.dataclass(frozen=True)
class FollowedFeed:
    kind: str  # "channel" | "playlist"
    id: str
    since: dt.date | None = None
    max_new_per_poll: int = DEFAULT_MAX_NEW_PER_POLL
    feed_base: str = DEFAULT_FEED_BASE

    @property
    def key(self) -> str:
        """Stable name of this feed (cursor key, log context): `channel:UC...`."""
        return f"{self.kind}:{self.id}"

    @property
    def feed_url(self) -> str:
        return f"{self.feed_base}?{self.kind}_id={self.id}"


@dataclasses.dataclass(frozen=True)
class FeedPoll:
    """The outcome of polling one feed. Failures are data (`error`), never exceptions."""

    feed: FollowedFeed
    entries: list[VideoMetadata]  # in feed order: YouTube lists newest first
    etag: str | None = None
    modified: str | None = None
    status: int | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def not_modified(self) -> bool:
        return self.status == 304


# ---- the follow file ----------------------------------------------------------------


def load_follow_file(
    path: Path | str,
    *,
    feed_base: str = DEFAULT_FEED_BASE,
) -> list[FollowedFeed]:
    """Read the follow file; a missing file means nothing is followed.

    `feed_base` (`Settings.youtube_feed_base`) is the feed URL before the `?channel_id=`
    query: tests point it at a loopback server.
    Raises `FollowFileError` listing every bad entry.
    """
    path = Path(path)
    if not path.exists():
        return []
    base = feed_base.rstrip("?")
    try:
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=_DatesAsTextLoader)  # noqa: S506 - a SafeLoader
    except yaml.YAMLError as exc:
        raise FollowFileError(f"{path} is not valid YAML: {exc}") from exc
    return parse_follow_document(document, source=str(path), feed_base=base)


class _DatesAsTextLoader(yaml.SafeLoader):
    """SafeLoader that leaves `2026-01-01` as text.

    PyYAML turns dates into `datetime.date` itself and fails with a bare "month must
    be in 1..12" for `2026-13-01`; parsing them here lets the error name the entry.
    """


_DatesAsTextLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def parse_follow_document(document: Any, *, source: str, feed_base: str = DEFAULT_FEED_BASE) -> list[FollowedFeed]:
    """Validate a loaded follow document (see the module docstring for its shape)."""
    if document is None:
        return []
    if not isinstance(document, dict):
        raise FollowFileError(
            f"{source} must be a mapping with `channels:` and/or `playlists:` lists, "
            f"got {type(document).__name__}."
        )
    errors: list[str] = []
    unknown = sorted(str(k) for k in document if k not in _FEED_KINDS)
    if unknown:
        errors.append(f"unknown section(s) {', '.join(unknown)} (expected channels, playlists)")
    feeds: list[FollowedFeed] = []
    seen: set[str] = set()
    for section, kind in _FEED_KINDS.items():
        items = document.get(section) or []
        if not isinstance(items, list):
            errors.append(f"`{section}` must be a list of entries like `- id: ...`")
            continue
        for index, item in enumerate(items):
            where = f"{section}[{index}]"
            try:
                feed = _parse_entry(item, kind, feed_base)
            except ValueError as exc:
                errors.append(f"{where}: {exc}")
                continue
            if feed.key in seen:
                errors.append(f"{where}: {feed.id} is listed twice")
                continue
            seen.add(feed.key)
            feeds.append(feed)
    if errors:
        raise FollowFileError(
            f"{source} has {len(errors)} problem(s):\n" + "\n".join(f"  - {e}" for e in errors)
        )
    return feeds


def _parse_entry(item: Any, kind: str, feed_base: str) -> FollowedFeed:
    if isinstance(item, str):
        item = {"id": item}
    if not isinstance(item, dict):
        raise ValueError(f"expected `id: ...` (optionally with since, max_new_per_poll), got {item!r}")
    unknown = sorted(str(k) for k in item if k not in _ENTRY_KEYS)
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(unknown)} (allowed: id, since, max_new_per_poll)")
    return FollowedFeed(
        kind=kind,
        id=_parse_feed_id(item.get("id"), kind),
        since=_parse_since(item.get("since")),
        max_new_per_poll=_parse_cap(item.get("max_new_per_poll", DEFAULT_MAX_NEW_PER_POLL)),
        feed_base=feed_base,
    )


def _parse_feed_id(value: Any, kind: str) -> str:
    text = "" if value is None else str(value).strip()
    if kind == "channel":
        if CHANNEL_ID_RE.fullmatch(text):
            return text
        raise ValueError(
            f"channel id {text!r} is not a channel ID: expected UC followed by 22 letters, "
            f"digits, - or _{_channel_id_hint(text)}. Find it on the channel's page under "
            f"About > Share channel > Copy channel ID."
        )
    if PLAYLIST_ID_RE.fullmatch(text):
        return text
    raise ValueError(
        f"playlist id {text!r} is not a playlist ID: expected the `list=` value of a playlist "
        f"URL, e.g. PL followed by 16-32 letters, digits, - or _ (UU..., FL... and OLAK5uy_... "
        f"are accepted too)."
    )


def _channel_id_hint(text: str) -> str:
    if PLAYLIST_ID_RE.fullmatch(text):
        return " (this looks like a playlist ID: list it under `playlists:`)"
    if not text.startswith("UC"):
        return " (an @handle or channel name is not a channel ID)"
    return ""


def _parse_since(value: Any) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise ValueError(f"since {value!r} is not a date: write it as YYYY-MM-DD, e.g. 2026-01-01") from None


def _parse_cap(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"max_new_per_poll {value!r} must be a whole number (0 pauses the feed)")
    if value < 0:
        raise ValueError(f"max_new_per_poll {value} must not be negative (0 pauses the feed)")
    return value


# ---- polling feeds ----------------------------------------------------------------------

FeedFetcher = Callable[..., Any]  # feedparser.parse-compatible: (url, etag=, modified=)


def poll_feed(
    feed: FollowedFeed,
    *,
    etag: str | None = None,
    modified: str | None = None,
    fetch: FeedFetcher | None = None,
) -> FeedPoll:
    """Fetch `feed` conditionally (ETag / Last-Modified) and parse its entries.

    Never raises: a failure comes back as `FeedPoll.error` so that one broken feed cannot
    stop the others. A 304 comes back with `not_modified` and no entries.
    """
    fetch = fetch or parse_feed_url
    try:
        parsed = fetch(feed.feed_url, etag=etag, modified=modified)
    except Exception as exc:  # noqa: BLE001 - a feed must never crash its caller
        error = f"fetching {feed.feed_url} failed: {type(exc).__name__}: {exc}"
        return FeedPoll(feed, [], etag=etag, modified=modified, error=error)
    status = parsed.get("status")
    new_etag = parsed.get("etag") or etag
    new_modified = parsed.get("modified") or modified
    if status == 304:
        return FeedPoll(feed, [], etag=new_etag, modified=new_modified, status=status)
    if status is not None and status >= 400:
        error = f"{feed.feed_url} answered HTTP {status}"
        return FeedPoll(feed, [], etag=etag, modified=modified, status=status, error=error)
    entries = [m for m in (_entry_metadata(e) for e in parsed.get("entries", [])) if m is not None]
    if parsed.get("bozo") and not entries:
        problem = parsed.get("bozo_exception")
        if status is None:  # feedparser swallowed a network error (URLError)
            error = f"fetching {feed.feed_url} failed: {problem}"
        else:
            error = f"{feed.feed_url} is not a readable feed: {problem}"
        return FeedPoll(feed, [], etag=etag, modified=modified, status=status, error=error)
    return FeedPoll(feed, entries, etag=new_etag, modified=new_modified, status=status)


def parse_feed_url(url: str, *, etag: str | None = None, modified: str | None = None) -> Any:
    """`feedparser.parse` with a socket timeout (feedparser itself has none)."""
    return feedparser.parse(
        url,
        etag=etag,
        modified=modified,
        handlers=[_TimeoutHTTPHandler(FEED_TIMEOUT_S), _TimeoutHTTPSHandler(FEED_TIMEOUT_S)],
    )


class _TimeoutHTTPHandler(urllib.request.HTTPHandler):
    # Replaces urllib's default handler (build_opener drops defaults that a given
    # handler subclasses); the request's timeout is otherwise the global default: none.
    def __init__(self, timeout: float):
        super().__init__()
        self._timeout = timeout

    def http_open(self, req):
        req.timeout = self._timeout
        return super().http_open(req)


class _TimeoutHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, timeout: float):
        super().__init__()
        self._timeout = timeout

    def https_open(self, req):
        req.timeout = self._timeout
        return super().https_open(req)


def _entry_metadata(entry: Mapping[str, Any]) -> VideoMetadata | None:
    """One feed entry as VideoMetadata; None for entries that do not name a video."""
    video_id = str(entry.get("yt_videoid") or "").strip()
    if not VIDEO_ID_RE.fullmatch(video_id):
        return None
    channel_id = str(entry.get("yt_channelid") or "").strip() or None
    author_detail = entry.get("author_detail") or {}
    return VideoMetadata(
        video_id=video_id,
        title=(entry.get("title") or None),
        channel_name=(entry.get("author") or None),
        channel_id=channel_id,
        published_at=_iso_utc(entry.get("published_parsed")),
        url=watch_url(video_id),
        channel_url=author_detail.get("href") or None,
    )


def _iso_utc(parsed_time: Any) -> str | None:
    # feedparser normalises dates to a UTC struct_time whatever offset the feed used.
    if not parsed_time:
        return None
    stamp = calendar.timegm(parsed_time)
    return dt.datetime.fromtimestamp(stamp, tz=dt.timezone.utc).isoformat()


def published_date(metadata: VideoMetadata) -> dt.date | None:
    """The UTC day a video was published, if known."""
    if not metadata.published_at:
        return None
    try:
        return dt.datetime.fromisoformat(metadata.published_at).astimezone(dt.timezone.utc).date()
    except ValueError:
        return None
