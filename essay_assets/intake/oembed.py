"""A single public video's title and channel from YouTube's oEmbed endpoint (no API key),
for videos that did not come from a followed feed."""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import requests

from essay_assets.intake.video_refs import watch_url
from essay_assets.intake.videos import VideoMetadata
from essay_assets.redaction import redact
from essay_assets.settings import DEFAULT_OEMBED_URL

# After the service fails as a whole, how long a step stops asking it (OEmbedLookups).
PAUSE_AFTER_SERVICE_FAILURE_S = 60.0
# Lookups in flight at once, and unanswered ones started ahead of the step's loop: a modest load
# on a public endpoint, and a bounded memory at any number of videos.
LOOKUPS_AT_ONCE = 8
READ_AHEAD = 32


def oembed_session(base_url: str = DEFAULT_OEMBED_URL) -> requests.Session:
    """One HTTP session for a thread's lookups (OEmbedLookups keeps one per worker), with what
    requests would read from the environment for every request (proxies and no_proxy,
    REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE, ~/.netrc) read once: every lookup goes to `base_url`,
    and reading them per lookup cost more CPU than a lookup answered at once."""
    session = requests.Session()
    found = session.merge_environment_settings(base_url, {}, None, None, None)
    session.proxies.update(found["proxies"])
    session.verify, session.cert = found["verify"], found["cert"]
    session.auth = requests.utils.get_netrc_auth(base_url)
    session.trust_env = False  # all read above
    return session


def _lookup(video_id: str, base_url: str, timeout: float,
            session: requests.Session) -> tuple[VideoMetadata | None, str | None]:
    """Title and channel of a public video from oEmbed (None when it has none), and why the
    service itself failed, if it did: it could not be reached, timed out, is rate-limiting (429)
    or failing (5xx).

    oEmbed has no channel ID or publication date, so those stay None. Private videos and videos
    with embedding disabled answer 401/403/404, and a bad body is about this video only: metadata
    is a nicety, the essay does not depend on it, hence None rather than an exception."""
    url = watch_url(video_id)
    try:
        response = session.get(base_url, params={"url": url, "format": "json"}, timeout=timeout)
        if response.status_code == 429 or response.status_code >= 500:
            return None, f"it answered HTTP {response.status_code}"
        if response.status_code != 200:
            return None, None
        data = response.json()
    except (requests.ConnectionError, requests.Timeout) as exc:
        return None, f"it could not be reached ({type(exc).__name__})"
    except (requests.RequestException, ValueError, http.client.HTTPException, OSError):
        return None, None
    if not isinstance(data, dict) or not isinstance(data.get("title"), str):
        return None, None
    return VideoMetadata(
        video_id=video_id,
        title=data["title"],
        channel_name=_str_or_none(data.get("author_name")),
        channel_id=None,
        published_at=None,
        url=url,
        channel_url=_str_or_none(data.get("author_url")),
    ), None


class NotAsked(Exception):
    """The video's lookup was not sent: the service was down (OEmbedLookups)."""


class OEmbedLookups:
    """A step's oEmbed lookups: up to LOOKUPS_AT_ONCE at a time, read ahead of the step's loop,
    and none sent while the service is down.

    At once: a lookup is one HTTP round trip (~0.1-0.3 s to YouTube), so asked one after another,
    a backfill of 1,000 videos would spend minutes of its transcript step waiting on titles.
    `prefetch(video_ids)` starts the lookups of the videos to come in worker threads, at most
    READ_AHEAD unanswered at a time (a bounded memory, however many videos), and `lookup(video_id)`
    takes the answer, or asks now for a video not prefetched. Each worker has its own session
    (oembed_session: requests does not promise a session is safe across threads).

    Down: after a lookup finds the service unreachable, timing out, rate-limiting or failing,
    the videos of the next `pause_s` seconds are not asked (`lookup` raises NotAsked): they would
    fail alike, each after up to `timeout` seconds (10 s per video when a firewall drops the
    packets: hours for a backfill), or add to a rate limit. A video not asked is not remembered
    as unknown, so the next run asks for it again."""

    def __init__(self, base_url: str = DEFAULT_OEMBED_URL, *, timeout: float = 10,
                 pause_s: float = PAUSE_AFTER_SERVICE_FAILURE_S, at_once: int = LOOKUPS_AT_ONCE,
                 clock: Callable[[], float] = time.monotonic):
        self.base_url = base_url
        self.timeout = timeout
        self.pause_s = pause_s
        self.clock = clock
        self.not_asked = 0  # videos skipped while the service was down
        self.service_failure: str | None = None  # the last time the service itself failed, and how
        self._paused_until = float("-inf")
        self._lock = threading.Lock()
        self._thread_sessions = threading.local()
        self._sessions: list[requests.Session] = []
        self._pool = ThreadPoolExecutor(max_workers=at_once, thread_name_prefix="oembed") if at_once > 1 else None
        self._ahead: dict[str, Future] = {}
        self._to_prefetch: Iterator[str] = iter(())

    def __enter__(self) -> OEmbedLookups:
        return self

    def __exit__(self, *exc_info) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        for session in self._sessions:
            session.close()

    def prefetch(self, video_ids: Iterable[str]) -> None:
        """Look these videos up ahead of `lookup`, in this order (read lazily, as lookups free up)."""
        self._to_prefetch = iter(video_ids)
        self._top_up()

    def lookup(self, video_id: str) -> VideoMetadata | None:
        """The video's metadata, None when oEmbed has none; NotAsked while the service is down."""
        ahead = self._ahead.pop(video_id, None)
        self._top_up()
        return ahead.result() if ahead is not None else self._ask(video_id)

    def _top_up(self) -> None:
        if self._pool is None:
            return
        # Answered lookups do not count: one the step never takes (its transcript failed) only
        # keeps its small answer, not a place in the read-ahead.
        unanswered = sum(1 for future in self._ahead.values() if not future.done())
        while unanswered < READ_AHEAD:
            video_id = next(self._to_prefetch, None)
            if video_id is None:
                return
            if video_id not in self._ahead:
                self._ahead[video_id] = self._pool.submit(self._ask, video_id)
                unanswered += 1

    def _ask(self, video_id: str) -> VideoMetadata | None:
        with self._lock:
            if self.clock() < self._paused_until:
                self.not_asked += 1
                raise NotAsked(video_id)
        found, failure = _lookup(video_id, self.base_url, self.timeout, self._session())
        if failure is not None:
            with self._lock:
                self.service_failure = f"oEmbed at {redact(self.base_url)}: {failure}"
                self._paused_until = self.clock() + self.pause_s
        return found

    def _session(self) -> requests.Session:
        session = getattr(self._thread_sessions, "session", None)
        if session is None:
            session = self._thread_sessions.session = oembed_session(self.base_url)
            with self._lock:
                self._sessions.append(session)
        return session

    def summary(self) -> str | None:
        """A line for the step's log when videos went unasked, else None."""
        if not self.not_asked:
            return None
        return (f"{self.service_failure}; {self.not_asked} video(s) were not looked up while it was down "
                f"(lookups pause {self.pause_s:g} s after such a failure). Their titles stay unknown for now; "
                "the next run asks again. Check ESSAYS_OEMBED_URL and the network if this persists.")


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
