"""Turn whatever a user pastes (a bare ID or a YouTube URL) into an 11-character video ID.

The video ID is the partition key of the whole pipeline, so it must be exact: a URL
pasted as a key would create a partition nobody can fetch. Parsing goes through
`urllib.parse` so that query parameters may come in any order (`?t=42&v=ID`), and so
that look-alike hosts (`youtube.com.evil.com`) are rejected by comparing the parsed
host name, never by matching substrings.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import parse_qs, urlsplit

VIDEO_ID_RE = re.compile(r"[A-Za-z0-9_-]{11}")
CHANNEL_ID_RE = re.compile(r"UC[A-Za-z0-9_-]{22}")
# Playlists with a feed: user playlists (PL), a channel's uploads (UU), favourites (FL)
# and album/auto-generated playlists (OLAK5uy_...). Lengths vary with the kind.
PLAYLIST_ID_RE = re.compile(r"(PL|UU|FL|OL)[A-Za-z0-9_-]{10,70}")
WATCH_URL = "https://www.youtube.com/watch?v={video_id}"

ACCEPTED_FORMS = (
    "an 11-character video ID (e.g. dQw4w9WgXcQ), youtube.com/watch?v=ID, youtu.be/ID, "
    "youtube.com/shorts/ID, /live/ID, /embed/ID or /v/ID (also on www., m., music. and "
    "youtube-nocookie.com for embeds), with or without http(s)://"
)

# Host names compared exactly (after lower-casing and dropping a trailing dot).
_YOUTUBE_HOSTS = frozenset({"youtube.com", "www.youtube.com", "m.youtube.com", "music.youtube.com"})
_NOCOOKIE_HOSTS = frozenset({"youtube-nocookie.com", "www.youtube-nocookie.com"})
_SHORT_HOSTS = frozenset({"youtu.be", "www.youtu.be"})

# `/<prefix>/<ID>` paths on youtube.com that name exactly one video.
_ID_PATH_PREFIXES = frozenset({"shorts", "live", "embed", "v"})

# 11 characters from the ID alphabet, but a playlist embed (`/embed/videoseries?list=...`).
_RESERVED_PATH_WORDS = frozenset({"videoseries"})

_SHOWN_CHARS = 100


class InvalidVideoReference(ValueError):
    """One or more inputs are not a YouTube video ID or video URL.

    `invalid` holds `(received text, why it was rejected)` for every bad input.
    """

    def __init__(self, invalid: list[tuple[str, str]]):
        self.invalid = list(invalid)
        super().__init__(_format_errors(self.invalid))


def parse_video_ref(text: str) -> str:
    """Return the 11-character video ID named by `text` (a bare ID or a YouTube video URL).

    Raises `InvalidVideoReference` with the received text and the accepted forms.
    """
    if not isinstance(text, str):
        raise InvalidVideoReference([(str(text), f"expected a string, got {type(text).__name__}")])
    problem, video_id = _extract(text)
    if video_id is None:
        raise InvalidVideoReference([(text, problem)])
    return video_id


def watch_url(video_id: str) -> str:
    """The video's page on YouTube: the one place its URL is built."""
    return WATCH_URL.format(video_id=video_id)


def parse_feed_ref(text: str) -> tuple[str, str] | None:
    """`("playlist", ID)` for a playlist URL, `("channel", UC...)` for a /channel/ URL, else None.

    `essays run` and `essays add` take these for the videos in the feed (YouTube's feeds list
    the newest 15); an @handle names no channel ID without asking YouTube, so it is not one.
    """
    text = text.strip() if isinstance(text, str) else ""
    if not text or any(ch.isspace() for ch in text) or "/" not in text:
        return None
    parts = urlsplit(_with_scheme(text))
    if parts.scheme not in ("http", "https") or parts.username is not None or parts.password is not None:
        return None
    if (parts.hostname or "").rstrip(".") not in _YOUTUBE_HOSTS:
        return None
    segments = [segment for segment in parts.path.split("/") if segment]
    if segments == ["playlist"]:
        lists = set(parse_qs(parts.query).get("list", []))
        if len(lists) == 1 and PLAYLIST_ID_RE.fullmatch(playlist := lists.pop()):
            return "playlist", playlist
    if len(segments) in (2, 3) and segments[0] == "channel" and CHANNEL_ID_RE.fullmatch(segments[1]):
        if len(segments) == 2 or segments[2] in ("videos", "streams", "featured"):
            return "channel", segments[1]
    return None


def parse_video_refs(texts: Iterable[str]) -> list[str]:
    """Parse many references; return unique IDs in first-seen order.

    Every bad input is reported at once (one `InvalidVideoReference` listing all of
    them) so that a user fixing a list of 30 URLs does not have to rerun 30 times.
    """
    if isinstance(texts, str):
        # Iterating a string would parse it one character at a time.
        raise TypeError("parse_video_refs() takes a list of references; use parse_video_ref() for one.")
    ids: list[str] = []
    seen: set[str] = set()
    invalid: list[tuple[str, str]] = []
    for text in texts:
        try:
            video_id = parse_video_ref(text)
        except InvalidVideoReference as exc:
            invalid.extend(exc.invalid)
            continue
        if video_id not in seen:
            seen.add(video_id)
            ids.append(video_id)
    if invalid:
        raise InvalidVideoReference(invalid)
    return ids


# ---- parsing ----------------------------------------------------------------------


def _extract(raw: str) -> tuple[str, str | None]:
    """Return `(problem, None)` or `("", video_id)`; never raises."""
    text = raw.strip()
    if not text:
        return "it is empty", None
    if VIDEO_ID_RE.fullmatch(text):
        return "", text
    if any(ch.isspace() for ch in text):
        return "it contains spaces", None
    if not any(ch in text for ch in "./:"):
        # Nothing URL-like: the user meant a bare ID, so say what is wrong with it.
        return _bare_id_problem(text), None
    opaque = re.match(r"([A-Za-z][A-Za-z0-9+-]*):(?!//)", text)
    if opaque and not text[opaque.end() :].split("/")[0].isdigit():
        # `javascript:...`, `mailto:...`, `data:...` (but not `host:8080/...`).
        return f"the scheme {opaque.group(1).lower()!r} is not http or https", None

    parts = urlsplit(_with_scheme(text))
    if parts.scheme not in ("http", "https"):
        return f"the scheme {parts.scheme!r} is not http or https", None
    if parts.username is not None or parts.password is not None:
        # `https://youtube.com@evil.com/...` goes to evil.com; never guess.
        return "it carries user information before the host name", None
    try:
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return "its port is not a number", None

    host = (parts.hostname or "").rstrip(".")
    segments = [segment for segment in parts.path.split("/") if segment]
    if host in _SHORT_HOSTS:
        return _from_short_link(segments)
    if host in _YOUTUBE_HOSTS:
        return _from_youtube_path(segments, parts.query)
    if host in _NOCOOKIE_HOSTS:
        if len(segments) == 2 and segments[0] == "embed":
            return _checked_id(segments[1])
        return "youtube-nocookie.com links must be /embed/ID", None
    if not host:
        return "it is neither a video ID nor a URL", None
    return f"the host {_shown(host)} is not YouTube", None


def _with_scheme(text: str) -> str:
    """Give scheme-less input (`youtu.be/ID`, `//youtube.com/...`) an https:// scheme."""
    if re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", text):
        return text
    if text.startswith("//"):
        return "https:" + text
    return "https://" + text


def _from_short_link(segments: list[str]) -> tuple[str, str | None]:
    if len(segments) != 1:
        return "youtu.be links must be youtu.be/ID", None
    return _checked_id(segments[0])


def _from_youtube_path(segments: list[str], query: str) -> tuple[str, str | None]:
    if segments == ["watch"]:
        values = set(parse_qs(query).get("v", []))
        if not values:
            return "the watch URL has no v= parameter", None
        if len(values) > 1:
            return "the watch URL has several different v= parameters", None
        return _checked_id(values.pop())
    if len(segments) == 2 and segments[0] in _ID_PATH_PREFIXES:
        return _checked_id(segments[1])
    if segments and segments[0] == "playlist":
        return "it is a playlist, not a video (`essays run` takes playlist?list=ID URLs; `follow.yaml` follows them)", None
    if segments and (segments[0].startswith("@") or segments[0] in {"channel", "c", "user"}):
        return ("it is a channel, not a video (`essays run` takes youtube.com/channel/UC... URLs: About > Share "
                "channel > Copy channel ID; `follow.yaml` follows them)"), None
    return "this youtube.com path does not name a video", None


def _bare_id_problem(text: str) -> str:
    if len(text) != 11:
        return f"it is {len(text)} characters long; a video ID has exactly 11"
    return "a video ID has only letters, digits, - and _"


def _checked_id(candidate: str) -> tuple[str, str | None]:
    if candidate in _RESERVED_PATH_WORDS:
        return f"{candidate!r} is not a video ID", None
    if not VIDEO_ID_RE.fullmatch(candidate):
        return (
            f"{_shown(candidate)} is not an 11-character video ID (letters, digits, - and _)",
            None,
        )
    return "", candidate


# ---- messages -----------------------------------------------------------------------


def _shown(text: str) -> str:
    """repr() of the input, cut so that a pasted page of text cannot flood the log."""
    if len(text) > _SHOWN_CHARS:
        return repr(text[:_SHOWN_CHARS]) + f"... ({len(text)} characters)"
    return repr(text)


def _format_errors(invalid: list[tuple[str, str]]) -> str:
    if len(invalid) == 1:
        text, problem = invalid[0]
        return f"Not a YouTube video reference: {_shown(text)} ({problem}). Accepted: {ACCEPTED_FORMS}."
    lines = [f"{len(invalid)} inputs are not YouTube video references:"]
    lines += [f"  - {_shown(text)}: {problem}" for text, problem in invalid]
    lines.append(f"Accepted: {ACCEPTED_FORMS}.")
    return "\n".join(lines)
