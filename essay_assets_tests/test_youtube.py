"""fetch_transcript against the real youtube-transcript-api, fed YouTube's recorded answers
through a transport adapter (support/recorded_youtube.py): the library's own parsing and error
detection run unchanged, with no network."""

from __future__ import annotations

import multiprocessing
import time
import traceback
from pathlib import Path

import pytest
import requests
from youtube_transcript_api.proxies import GenericProxyConfig, WebshareProxyConfig

from essay_assets.intake.youtube import (
    TranscriptFetchTransient,
    TranscriptUnavailable,
    YouTubePacer,
    proxy_config_for,
)
from essay_assets.settings import Settings
from essay_assets_tests.support.recorded_youtube import (
    VIDEO_ID,
    RecordedYouTube,
    asset,
    fetch_with,
)

# ---- success ------------------------------------------------------------------------------


def test_fetch_prefers_manually_created_english():
    adapter = RecordedYouTube()
    data = fetch_with(adapter)
    assert data.video_id == VIDEO_ID
    assert len(data.snippets) == 3  # the empty <text/> element is dropped
    assert data.snippets[0] == {"text": "Hey, this is just a test", "start": 0.0, "duration": 1.54}
    assert data.snippets[1]["text"] == "this is not the original transcript"
    assert data.language_code == "en"
    assert data.language == "English"
    assert data.is_generated is False
    assert data.is_translated is False
    assert [c.method for c in adapter.calls] == ["GET", "POST", "GET"]
    assert "lang=en" in adapter.calls[-1].url
    assert "kind=asr" not in adapter.calls[-1].url


def test_fetch_takes_languages_in_order():
    adapter = RecordedYouTube()
    data = fetch_with(adapter, languages=("xx", "de", "en"))
    assert data.language_code == "de"
    assert "lang=de" in adapter.calls[-1].url


def test_fetch_falls_back_to_generated_when_no_manual_transcript():
    # Keep only the auto-generated English track of the recorded player response.
    import json

    player = json.loads(asset("youtube.innertube.json"))
    tracks = player["captions"]["playerCaptionsTracklistRenderer"]["captionTracks"]
    player["captions"]["playerCaptionsTracklistRenderer"]["captionTracks"] = [
        t for t in tracks if t.get("kind") == "asr"
    ]
    adapter = RecordedYouTube(player=json.dumps(player).encode())
    data = fetch_with(adapter)
    assert data.language_code == "en"
    assert data.is_generated is True
    assert "kind=asr" in adapter.calls[-1].url


def test_fetch_translates_when_allowed():
    adapter = RecordedYouTube()
    data = fetch_with(adapter, languages=("ar",), allow_translation=True)
    assert data.language_code == "ar"
    assert data.is_translated is True
    assert "tlang=ar" in adapter.calls[-1].url
    assert len(data.snippets) == 3


def test_no_transcript_in_language_without_translation():
    with pytest.raises(TranscriptUnavailable) as caught:
        fetch_with(RecordedYouTube(), languages=("ar",))
    error = caught.value
    assert error.reason == "no_transcript_found"
    message = str(error)
    assert "asked for ar" in message
    assert "en (auto)" in message and "de" in message
    assert "ESSAYS_ALLOW_TRANSLATION" in message and "ESSAYS_LANGUAGES" in message


# ---- permanent failures -------------------------------------------------------------------

PERMANENT_CASES = [
    ("youtube_transcripts_disabled.innertube.json", "transcripts_disabled", "disabled subtitles"),
    ("youtube_transcripts_disabled2.innertube.json", "transcripts_disabled", "disabled subtitles"),
    ("youtube_video_unavailable.innertube.json", "video_unavailable", "private, deleted or does not exist"),
    ("youtube_age_restricted.innertube.json", "age_restricted", "age-restricted"),
    ("youtube_po_token_required.innertube.json", "po_token_required", "PO) token"),
    ("youtube_unplayable.innertube.json", "video_unplayable", "Custom Reason; Sub Reason 1; Sub Reason 2"),
]


@pytest.mark.parametrize(("player_asset", "reason", "phrase"), PERMANENT_CASES)
def test_permanent_failures(player_asset, reason, phrase):
    with pytest.raises(TranscriptUnavailable) as caught:
        fetch_with(RecordedYouTube(player=asset(player_asset)))
    error = caught.value
    assert error.reason == reason
    assert error.video_id == VIDEO_ID
    message = str(error)
    assert phrase in message
    assert VIDEO_ID in message
    assert "Retrying will not help" in message
    assert f"transcripts/{VIDEO_ID}.txt" in message
    assert "\n" not in message  # one paragraph
    assert not isinstance(error, TranscriptFetchTransient)


def test_url_passed_as_video_id_is_invalid_video_id():
    adapter = RecordedYouTube(player=asset("youtube_video_unavailable.innertube.json"))
    with pytest.raises(TranscriptUnavailable) as caught:
        fetch_with(adapter, video_id=f"https://www.youtube.com/watch?v={VIDEO_ID}")
    assert caught.value.reason == "invalid_video_id"


# ---- transient failures -------------------------------------------------------------------


def test_request_blocked_is_transient_and_explains_proxies():
    with pytest.raises(TranscriptFetchTransient) as caught:
        fetch_with(RecordedYouTube(player=asset("youtube_request_blocked.innertube.json")))
    error = caught.value
    assert error.reason == "request_blocked"
    message = str(error)
    assert "blocking this machine's IP address" in message
    for var in ("WEBSHARE_USERNAME", "WEBSHARE_PASSWORD", "PROXY_HTTP_URL", "PROXY_HTTPS_URL"):
        assert f"ESSAYS_{var}" in message


def test_too_many_requests_page_is_ip_blocked():
    # The recorded "too many requests" page is a reCAPTCHA page without an API key.
    with pytest.raises(TranscriptFetchTransient) as caught:
        fetch_with(RecordedYouTube(watch=asset("youtube_too_many_requests.html")))
    assert caught.value.reason == "ip_blocked"
    assert "ESSAYS_WEBSHARE_USERNAME" in str(caught.value)


def test_http_429_on_captions_is_ip_blocked():
    with pytest.raises(TranscriptFetchTransient) as caught:
        fetch_with(RecordedYouTube(timedtext=429))
    assert caught.value.reason == "ip_blocked"


def test_http_500_is_youtube_request_failed():
    with pytest.raises(TranscriptFetchTransient) as caught:
        fetch_with(RecordedYouTube(player=500))
    assert caught.value.reason == "youtube_request_failed"
    assert "500" in str(caught.value)


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (requests.exceptions.ConnectTimeout("connect timed out"), "timeout"),
        (requests.exceptions.ReadTimeout("read timed out"), "timeout"),
        (requests.exceptions.ConnectionError("connection refused"), "connection_error"),
        (requests.exceptions.ProxyError("Unable to connect to proxy"), "proxy_error"),
    ],
)
def test_network_errors_are_transient(exc, reason):
    with pytest.raises(TranscriptFetchTransient) as caught:
        fetch_with(RecordedYouTube(watch=exc))
    assert caught.value.reason == reason
    assert "ESSAYS_PROXY_HTTP_URL" in str(caught.value)


def test_empty_caption_document_is_transient():
    with pytest.raises(TranscriptFetchTransient) as caught:
        fetch_with(RecordedYouTube(timedtext=b""))
    assert caught.value.reason == "caption_document_unparsable"


# ---- proxies and credentials ------------------------------------------------------------


def proxy_config_from_env(environ: dict[str, str] | None = None):
    """The proxy config the pipeline builds from these ESSAYS_* variables (default: the process's)."""
    return proxy_config_for(Settings.from_env(environ).proxy)


def test_proxy_config_from_env():
    assert proxy_config_from_env({}) is None
    webshare = proxy_config_from_env(
        {"ESSAYS_WEBSHARE_USERNAME": "user", "ESSAYS_WEBSHARE_PASSWORD": "pw", "ESSAYS_PROXY_HTTP_URL": "http://x:1"}
    )
    assert isinstance(webshare, WebshareProxyConfig)
    assert webshare.proxy_username == "user" and webshare.proxy_password == "pw"
    generic = proxy_config_from_env({"ESSAYS_PROXY_HTTPS_URL": "http://proxy.local:3128"})
    assert type(generic) is GenericProxyConfig
    assert generic.to_requests_dict() == {"http": "http://proxy.local:3128", "https": "http://proxy.local:3128"}
    # A username alone is not a Webshare config.
    assert proxy_config_from_env({"ESSAYS_WEBSHARE_USERNAME": "user"}) is None


def _full_text(exc: BaseException) -> str:
    """The message plus everything a traceback log would print, chained causes included."""
    return str(exc) + "".join(traceback.format_exception(exc))


def test_webshare_password_never_in_messages(monkeypatch):
    password = "Sup3rS3cretWebsharePw"
    monkeypatch.setenv("ESSAYS_WEBSHARE_USERNAME", "essayuser")
    monkeypatch.setenv("ESSAYS_WEBSHARE_PASSWORD", password)
    proxy_config = proxy_config_from_env()
    assert isinstance(proxy_config, WebshareProxyConfig)

    adapter = RecordedYouTube(player=asset("youtube_request_blocked.innertube.json"))
    with pytest.raises(TranscriptFetchTransient) as caught:
        fetch_with(adapter, proxy_config=proxy_config)
    assert caught.value.reason == "request_blocked"
    assert "even though it went through a Webshare proxy" in str(caught.value)
    assert password not in _full_text(caught.value)
    # The library retried through the rotating proxy before giving up (10 tries x 2 requests).
    assert len(adapter.calls) == 20

    with pytest.raises(TranscriptFetchTransient) as caught:
        fetch_with(RecordedYouTube(watch=requests.exceptions.ProxyError(
            f"Unable to connect to proxy http://essayuser-rotate:{password}@p.webshare.io:80/"
        )), proxy_config=proxy_config)
    assert caught.value.reason == "proxy_error"
    assert "Check that the configured proxy is reachable" in str(caught.value)
    assert password not in _full_text(caught.value)


def test_generic_proxy_password_never_in_messages(monkeypatch):
    password = "An0therS3cret"
    proxy_url = f"http://alice:{password}@proxy.example:3128"
    monkeypatch.setenv("ESSAYS_PROXY_HTTP_URL", proxy_url)
    monkeypatch.delenv("ESSAYS_WEBSHARE_USERNAME", raising=False)
    monkeypatch.delenv("ESSAYS_WEBSHARE_PASSWORD", raising=False)
    proxy_config = proxy_config_from_env()
    assert isinstance(proxy_config, GenericProxyConfig)

    for adapter in (
        RecordedYouTube(player=asset("youtube_request_blocked.innertube.json")),
        RecordedYouTube(player=500),
        RecordedYouTube(watch=requests.exceptions.ProxyError(f"Cannot connect to proxy {proxy_url}")),
        RecordedYouTube(player=asset("youtube_video_unavailable.innertube.json")),
    ):
        with pytest.raises((TranscriptFetchTransient, TranscriptUnavailable)) as caught:
            fetch_with(adapter, proxy_config=proxy_config)
        text = _full_text(caught.value)
        assert password not in text
        if "proxy.example" in str(caught.value):
            assert "http://***@proxy.example:3128" in str(caught.value)


# ---- pacing -------------------------------------------------------------------------------


def _paced_requests(state_file: str, interval: float, count: int, out) -> None:
    pacer = YouTubePacer(Path(state_file), interval)
    for _ in range(count):
        with pacer:
            out.put(time.time())


def test_pacer_spaces_requests_across_processes(tmp_path):
    interval, per_process = 0.2, 3
    state_file = tmp_path / "pacer" / "youtube.last"
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    workers = [
        ctx.Process(target=_paced_requests, args=(str(state_file), interval, per_process, out))
        for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    stamps = sorted(out.get(timeout=30) for _ in range(2 * per_process))
    for worker in workers:
        worker.join(timeout=30)
        assert worker.exitcode == 0
    gaps = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    # The stamp is taken just after the pacer released the request, so each gap is at
    # least the interval minus scheduling noise.
    assert min(gaps) >= interval - 0.02, gaps
    assert stamps[-1] - stamps[0] >= (2 * per_process - 1) * interval - 0.05


def test_pacer_first_request_does_not_wait_and_zero_interval_is_free(tmp_path):
    pacer = YouTubePacer(tmp_path / "state", 5.0)
    assert pacer.wait() == 0.0
    assert YouTubePacer(tmp_path / "other", 0).wait() == 0.0


def test_pacer_survives_corrupt_or_future_state(tmp_path):
    state = tmp_path / "state"
    state.write_text("not a number")
    assert YouTubePacer(state, 0.1).wait() == 0.0
    state.write_text(repr(time.time() + 3600))  # clock moved backwards since the stamp
    started = time.monotonic()
    YouTubePacer(state, 0.1).wait()
    assert time.monotonic() - started < 1.0


def test_pacer_rejects_negative_interval(tmp_path):
    with pytest.raises(ValueError, match="min_interval_s"):
        YouTubePacer(tmp_path / "state", -1)
