"""Fetch one video's transcript through youtube-transcript-api 1.2.x and classify failures.

The pipeline needs to know one thing about a failure: will trying again help?

* `TranscriptUnavailable` - permanent for this video (captions disabled, no caption in
  an accepted language, video gone, age-restricted...). Retrying wastes requests and
  raises the odds of being blocked; the user must supply a transcript or skip the video.
* `TranscriptFetchTransient` - YouTube refused or the network failed. Almost always this
  is YouTube blocking the machine's IP address (cloud IPs are blocked wholesale), so the
  message says how to configure a proxy.

Credentials never appear in messages: proxy passwords live only in the environment and
in the `ProxyConfig` handed to the library, and every message built here goes through
`redaction.redact_url_credentials`.
"""

from __future__ import annotations

import dataclasses
import fcntl
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import ParseError

import requests
from youtube_transcript_api import (
    AgeRestricted,
    CouldNotRetrieveTranscript,
    FailedToCreateConsentCookie,
    InvalidVideoId,
    IpBlocked,
    NoTranscriptFound,
    NotTranslatable,
    PoTokenRequired,
    RequestBlocked,
    TranscriptsDisabled,
    TranslationLanguageNotAvailable,
    VideoUnavailable,
    VideoUnplayable,
    YouTubeDataUnparsable,
    YouTubeRequestFailed,
    YouTubeTranscriptApi,
)
from youtube_transcript_api.proxies import (
    GenericProxyConfig,
    ProxyConfig,
    WebshareProxyConfig,
)

from essay_assets.intake.video_refs import watch_url
from essay_assets.redaction import redact_url_credentials
from essay_assets.settings import ProxySettings

PROXY_HELP = (
    "Route YouTube requests through a proxy: set ESSAYS_WEBSHARE_USERNAME and "
    "ESSAYS_WEBSHARE_PASSWORD (Webshare rotating residential proxies, the most reliable "
    "option), or ESSAYS_PROXY_HTTP_URL / ESSAYS_PROXY_HTTPS_URL (the URL of any HTTP(S) "
    "proxy, credentials included if it needs them). Otherwise retry later from a home or "
    "office connection."
)

CHECK_PROXY_HELP = (
    "Check that the configured proxy is reachable and that its settings are right "
    "(ESSAYS_WEBSHARE_USERNAME / ESSAYS_WEBSHARE_PASSWORD or ESSAYS_PROXY_HTTP_URL / "
    "ESSAYS_PROXY_HTTPS_URL), then retry."
)


# ---- results and errors -----------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class FetchedTranscriptData:
    """A transcript as plain data: what the pipeline stores and hashes."""

    video_id: str
    snippets: list[dict[str, Any]]  # {"text": str, "start": float, "duration": float}
    language_code: str
    language: str
    is_generated: bool  # True for YouTube's speech recognition (and for machine translations)
    is_translated: bool


class TranscriptUnavailable(Exception):
    """This video has no transcript we can use; retrying will not change that."""

    def __init__(self, video_id: str, reason: str, message: str):
        self.video_id = video_id
        self.reason = reason
        super().__init__(redact_url_credentials(message))


class TranscriptFetchTransient(Exception):
    """YouTube refused the request or the network failed; a later retry may succeed."""

    def __init__(self, video_id: str, reason: str, message: str):
        self.video_id = video_id
        self.reason = reason
        super().__init__(redact_url_credentials(message))


# ---- proxies --------------------------------------------------------------------------


def proxy_config_for(proxy: ProxySettings | None) -> ProxyConfig | None:
    """The library's proxy config for the user's proxy settings (Webshare wins), else None."""
    if proxy is None:
        return None
    if proxy.uses_webshare:
        return WebshareProxyConfig(proxy_username=proxy.webshare_username, proxy_password=proxy.webshare_password)
    if proxy.http_url or proxy.https_url:
        return GenericProxyConfig(http_url=proxy.http_url, https_url=proxy.https_url)
    return None


def describe_proxy(proxy_config: ProxyConfig | None) -> str:
    """A log-safe description of the proxy in use (never the URL's credentials)."""
    if proxy_config is None:
        return "no proxy"
    if isinstance(proxy_config, WebshareProxyConfig):
        return "a Webshare proxy"
    return f"the proxy {redact_url_credentials(str(proxy_config.to_requests_dict().get('https')))}"


# ---- fetching -----------------------------------------------------------------------------


def fetch_transcript(
    video_id: str,
    *,
    languages: Iterable[str] = ("en",),
    allow_translation: bool = False,
    http_client: requests.Session | None = None,
    proxy_config: ProxyConfig | None = None,
) -> FetchedTranscriptData:
    """Fetch the best transcript of `video_id`.

    Preference: each requested language in order, a manually created transcript before
    YouTube's automatic one (human captions have punctuation and speaker changes); then,
    if `allow_translation`, YouTube's machine translation of an available transcript into
    the first requested language.

    Raises `TranscriptUnavailable` (permanent) or `TranscriptFetchTransient` (retry later).
    """
    languages = tuple(languages)
    if not languages:
        raise ValueError("fetch_transcript() needs at least one language code, e.g. ('en',).")
    # One API object per call: the library is not thread-safe, and calls are cheap.
    api = YouTubeTranscriptApi(proxy_config=proxy_config, http_client=http_client)
    try:
        transcript_list = api.list(video_id)
        transcript, is_translated = _choose_transcript(transcript_list, languages, allow_translation)
        fetched = transcript.fetch()
    except CouldNotRetrieveTranscript as exc:
        raise classify_error(exc, video_id, languages=languages, proxy_config=proxy_config) from exc
    except ParseError as exc:
        raise _unparsable_caption_document(video_id, exc) from exc
    except requests.RequestException as exc:
        # Not chained (`from None`): a proxy error's text can contain the proxy URL with
        # its password, and a chained cause is printed in full in every traceback.
        raise _network_error(exc, video_id, proxy_config) from None
    return FetchedTranscriptData(
        video_id=video_id,
        snippets=[
            {"text": s.text, "start": float(s.start), "duration": float(s.duration)}
            for s in fetched.snippets
        ],
        language_code=fetched.language_code,
        language=fetched.language,
        is_generated=bool(fetched.is_generated),
        is_translated=is_translated,
    )


def _choose_transcript(transcript_list, languages: tuple[str, ...], allow_translation: bool):
    """Return `(Transcript, is_translated)`; raises NoTranscriptFound when nothing fits."""
    for language in languages:
        for find in (
            transcript_list.find_manually_created_transcript,
            transcript_list.find_generated_transcript,
        ):
            try:
                return find([language]), False
            except NoTranscriptFound:
                continue
    if allow_translation:
        target = languages[0]
        # The transcript list iterates manually created transcripts first.
        for source in transcript_list:
            if source.is_translatable and target in {
                lang.language_code for lang in source.translation_languages
            }:
                return source.translate(target), True
    raise NoTranscriptFound(transcript_list.video_id, list(languages), transcript_list)


# ---- classification -----------------------------------------------------------------------

# Permanent failures: (library exception, reason code, what it means for the user).
# Order matters where classes inherit from each other (none of these do today).
_PERMANENT: tuple[tuple[type[CouldNotRetrieveTranscript], str, str], ...] = (
    (TranscriptsDisabled, "transcripts_disabled", "its owner has disabled subtitles"),
    (NoTranscriptFound, "no_transcript_found", "it has no transcript in the accepted languages"),
    (InvalidVideoId, "invalid_video_id", "the ID is not a valid video ID"),
    (VideoUnavailable, "video_unavailable", "the video is private, deleted or does not exist"),
    (
        AgeRestricted,
        "age_restricted",
        "the video is age-restricted and YouTube requires a signed-in user",
    ),
    (
        PoTokenRequired,
        "po_token_required",
        "YouTube requires a proof-of-origin (PO) token for its captions, which "
        "youtube-transcript-api cannot provide",
    ),
    (VideoUnplayable, "video_unplayable", "YouTube reports the video as unplayable"),
    (NotTranslatable, "translation_unavailable", "its transcript cannot be translated"),
    (
        TranslationLanguageNotAvailable,
        "translation_unavailable",
        "YouTube cannot translate it into the requested language",
    ),
    (
        FailedToCreateConsentCookie,
        "consent_required",
        "YouTube showed a cookie-consent page that could not be accepted automatically "
        "(common from EU IP addresses)",
    ),
    (
        YouTubeDataUnparsable,
        "youtube_data_unparsable",
        "YouTube's page no longer has the shape youtube-transcript-api expects (try "
        "upgrading youtube-transcript-api)",
    ),
)


def classify_error(
    exc: CouldNotRetrieveTranscript,
    video_id: str,
    *,
    languages: Iterable[str] = ("en",),
    proxy_config: ProxyConfig | None = None,
) -> TranscriptUnavailable | TranscriptFetchTransient:
    """Map a youtube-transcript-api exception to our permanent / transient errors."""
    url = watch_url(video_id)
    # IpBlocked subclasses RequestBlocked: test it first.
    if isinstance(exc, IpBlocked):
        return _blocked(video_id, "ip_blocked", proxy_config)
    if isinstance(exc, RequestBlocked):
        return _blocked(video_id, "request_blocked", proxy_config)
    if isinstance(exc, YouTubeRequestFailed):
        return TranscriptFetchTransient(
            video_id,
            "youtube_request_failed",
            f"A request to YouTube for the transcript of video {video_id} ({url}) failed "
            f"({exc.reason}) while using {describe_proxy(proxy_config)}. This is usually "
            f"temporary or a sign that YouTube is throttling this machine's IP address; "
            f"retry later. If it persists: {_proxy_advice(proxy_config)}",
        )
    for exc_type, reason, meaning in _PERMANENT:
        if isinstance(exc, exc_type):
            return TranscriptUnavailable(
                video_id, reason, _permanent_message(video_id, meaning, _detail(exc, languages))
            )
    return TranscriptUnavailable(
        video_id,
        "could_not_retrieve_transcript",
        _permanent_message(video_id, f"youtube-transcript-api raised {type(exc).__name__}", ""),
    )


def _permanent_message(video_id: str, meaning: str, detail: str) -> str:
    return (
        f"No transcript can be fetched for video {video_id} "
        f"({watch_url(video_id)}): {meaning}{detail}. Retrying will not "
        f"help. To write an essay anyway, put a transcript at "
        f"<data dir>/transcripts/{video_id}.txt (or .json); otherwise remove the video "
        f"from the list."
    )


def _detail(exc: CouldNotRetrieveTranscript, languages: Iterable[str]) -> str:
    """A short, specific addition to the message (never the library's long text)."""
    if isinstance(exc, NoTranscriptFound):
        # The library keeps the video's transcript list on the exception (private name,
        # hence getattr): listing what exists tells the user which language to accept.
        transcript_list = getattr(exc, "_transcript_data", None) or []
        available = sorted(
            {f"{t.language_code}{' (auto)' if t.is_generated else ''}" for t in transcript_list}
        )
        return (
            f" (asked for {', '.join(languages)}; available: {', '.join(available) or 'none'}; "
            f"set ESSAYS_LANGUAGES to accept another language, or ESSAYS_ALLOW_TRANSLATION=true "
            f"to use YouTube's machine translation)"
        )
    if isinstance(exc, VideoUnplayable):
        parts = [p for p in [exc.reason, *exc.sub_reasons] if p]
        return f" ({'; '.join(parts)})" if parts else ""
    return ""


def _blocked(video_id: str, reason: str, proxy_config: ProxyConfig | None) -> TranscriptFetchTransient:
    url = watch_url(video_id)
    if proxy_config is None:
        situation = (
            "YouTube is most likely blocking this machine's IP address (it blocks cloud and "
            "datacenter IPs wholesale, and any IP after too many requests)."
        )
        advice = PROXY_HELP
    else:
        situation = (
            f"YouTube blocked the request even though it went through {describe_proxy(proxy_config)}: "
            f"that proxy's IP addresses are blocked too."
        )
        advice = (
            "Use rotating residential proxies (Webshare 'Residential', not 'Proxy Server' or "
            "'Static Residential'), lower the request rate with ESSAYS_YOUTUBE_MIN_INTERVAL_S, "
            "or retry later."
        )
    return TranscriptFetchTransient(
        video_id,
        reason,
        f"YouTube refused the transcript request for video {video_id} ({url}): {situation} "
        f"{advice}",
    )


def _network_error(
    exc: requests.RequestException, video_id: str, proxy_config: ProxyConfig | None
) -> TranscriptFetchTransient:
    if isinstance(exc, requests.exceptions.ProxyError):
        reason, what = "proxy_error", "could not connect through the configured proxy"
    elif isinstance(exc, requests.Timeout):
        reason, what = "timeout", "timed out"
    elif isinstance(exc, requests.ConnectionError):
        reason, what = "connection_error", "could not connect"
    else:
        reason, what = "network_error", "failed"
    summary = redact_url_credentials(str(exc))[:300]
    return TranscriptFetchTransient(
        video_id,
        reason,
        f"The request to YouTube for the transcript of video {video_id} {what} "
        f"({type(exc).__name__}: {summary}) while using {describe_proxy(proxy_config)}. "
        f"Check this machine's network access and retry; if YouTube is reachable but "
        f"refusing connections it is likely blocking this machine's IP address. "
        f"{_proxy_advice(proxy_config)}",
    )


def _proxy_advice(proxy_config: ProxyConfig | None) -> str:
    return PROXY_HELP if proxy_config is None else CHECK_PROXY_HELP


def _unparsable_caption_document(video_id: str, exc: ParseError) -> TranscriptFetchTransient:
    # YouTube answers the caption URL with an empty body when it throttles a client or
    # wants a PO token; the library then fails to parse "" as XML.
    return TranscriptFetchTransient(
        video_id,
        "caption_document_unparsable",
        f"YouTube returned an empty or malformed caption document for video {video_id} "
        f"({watch_url(video_id)}; {exc}). This usually means YouTube is "
        f"throttling this machine; retry later. If it persists: {PROXY_HELP}",
    )


# ---- pacing -----------------------------------------------------------------------------


class YouTubePacer:
    """Keep requests to YouTube at least `min_interval_s` apart across all local processes.

    Dagster runs steps in separate processes, so an in-memory rate limiter would not see
    its neighbours. Instead every process takes an exclusive `fcntl` lock on one state
    file, reads the time of the last request, sleeps while holding the lock if needed,
    and writes the new time. Holding the lock while sleeping makes waiters queue up
    instead of all waking at once.

        pacer = YouTubePacer(settings.raw_dir / "youtube_pacer", settings.youtube_min_interval_s)
        with pacer:
            fetch_transcript(...)

    Wall-clock time is stored (it is shared between processes); a clock that moved
    backwards or a stale future stamp never causes more than one `min_interval_s` wait.
    """

    def __init__(self, state_file: Path, min_interval_s: float):
        if min_interval_s < 0:
            raise ValueError(f"min_interval_s must be >= 0, got {min_interval_s}.")
        self.state_file = Path(state_file)
        self.min_interval_s = float(min_interval_s)

    def wait(self) -> float:
        """Block until this process may send a request; return the seconds slept."""
        if self.min_interval_s == 0:
            return 0.0
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.state_file, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            last = _read_timestamp(fd)
            delay = _delay_needed(last, time.time(), self.min_interval_s)
            if delay > 0:
                time.sleep(delay)
            _write_timestamp(fd, time.time())
            return delay
        finally:
            os.close(fd)  # closing the descriptor releases the lock

    def __enter__(self) -> YouTubePacer:
        self.wait()
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None


def _delay_needed(last: float | None, now: float, min_interval_s: float) -> float:
    if last is None:
        return 0.0
    return min(max(0.0, last + min_interval_s - now), min_interval_s)


def _read_timestamp(fd: int) -> float | None:
    os.lseek(fd, 0, os.SEEK_SET)
    raw = os.read(fd, 64).strip()
    try:
        return float(raw) if raw else None
    except ValueError:
        return None  # a corrupt state file only costs one unpaced request


def _write_timestamp(fd: int, when: float) -> None:
    os.lseek(fd, 0, os.SEEK_SET)
    os.ftruncate(fd, 0)
    os.write(fd, repr(when).encode())
