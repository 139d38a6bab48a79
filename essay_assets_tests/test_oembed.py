"""Video metadata from YouTube's oEmbed endpoint, served by a loopback stand-in (intake/oembed.py)."""

from __future__ import annotations

import socket
import time

import pytest

from essay_assets.intake.oembed import (
    READ_AHEAD,
    NotAsked,
    OEmbedLookups,
)
from essay_assets.intake.videos import VideoMetadata
from essay_assets_tests.support.ports import closed_port
from testkit.youtube_feed_server import YouTubeFeedServer


@pytest.fixture
def server():
    with YouTubeFeedServer() as running:
        yield running


def test_oembed_metadata(server):
    server.oembed["dQw4w9WgXcQ"] = {
        "title": "Rick Astley - Never Gonna Give You Up (Official Video)",
        "author_name": "Rick Astley",
        "author_url": "https://www.youtube.com/@RickAstleyYT",
        "type": "video",
        "provider_name": "YouTube",
    }
    with OEmbedLookups(server.oembed_url) as lookups:
        meta = lookups.lookup("dQw4w9WgXcQ")
    assert meta == VideoMetadata(
        video_id="dQw4w9WgXcQ",
        title="Rick Astley - Never Gonna Give You Up (Official Video)",
        channel_name="Rick Astley",
        channel_id=None,
        published_at=None,
        url="https://www.youtube.com/watch?v=dQw4w9WgXcQ",
        channel_url="https://www.youtube.com/@RickAstleyYT",
    )
    [request] = [r for r in server.requests if r.path == "/oembed"]
    assert "format=json" in request.query
    assert VideoMetadata.from_dict(meta.to_dict()) == meta


@pytest.mark.parametrize("answer", [404, 401, 500, b"not json", {"no_title": True}, [1, 2]])
def test_oembed_failures_give_none(server, answer):
    server.oembed["dQw4w9WgXcQ"] = answer
    with OEmbedLookups(server.oembed_url) as lookups:
        assert lookups.lookup("dQw4w9WgXcQ") is None


def test_oembed_unreachable_gives_none():
    with OEmbedLookups(f"http://127.0.0.1:{closed_port()}/oembed", timeout=2) as lookups:
        assert lookups.lookup("dQw4w9WgXcQ") is None


def test_the_steps_session_goes_through_the_environments_proxy_unless_no_proxy_says_not(server, monkeypatch):
    """The step's session reads the environment once, when it is made, as requests would per
    request: HTTP_PROXY carries the lookups (here the stand-in plays the proxy for a host that
    does not exist), and NO_PROXY exempts a host."""
    server.oembed["dQw4w9WgXcQ"] = {"title": "Through the proxy", "author_name": "A channel"}
    remote = "http://oembed.example.invalid/oembed"
    monkeypatch.setenv("HTTP_PROXY", server.base_url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with OEmbedLookups(remote) as lookups:
        lookups.prefetch(["dQw4w9WgXcQ"])  # from a worker thread, with its own session
        meta = lookups.lookup("dQw4w9WgXcQ")
        assert meta is not None and meta.title == "Through the proxy"
        assert lookups.lookup("dQw4w9WgXcQ").title == "Through the proxy"  # from this thread's session
    monkeypatch.setenv("NO_PROXY", "oembed.example.invalid")
    with OEmbedLookups(remote, timeout=2) as lookups:
        assert lookups.lookup("dQw4w9WgXcQ") is None


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def oembed_requests(server) -> int:
    return sum(1 for r in server.requests if r.path == "/oembed")


@pytest.mark.parametrize("status", [503, 500, 429])
def test_a_step_stops_asking_a_failing_service_for_a_while_then_asks_again(server, status):
    """A video's lookup that finds the service itself failing pauses the step's lookups: the
    videos of the next minute would fail alike (or add to a rate limit), so they are not asked,
    and counted; after the pause, the service is asked again."""
    server.oembed.update({"failing001": status, "recovered1": {"title": "Back", "author_name": "A channel"}})
    clock = Clock()
    with OEmbedLookups(server.oembed_url, pause_s=60, clock=clock) as lookups:
        assert lookups.lookup("failing001") is None
        for video_id in ("video000001", "video000002", "video000003"):
            with pytest.raises(NotAsked):
                lookups.lookup(video_id)
        assert oembed_requests(server) == 1
        assert lookups.not_asked == 3
        assert f"HTTP {status}" in lookups.summary() and "3 video(s) were not looked up" in lookups.summary()
        clock.now += 60
        assert lookups.lookup("recovered1").title == "Back"
        assert oembed_requests(server) == 2


@pytest.mark.parametrize("answer", [404, 401, b"not json", {"no_title": True}])
def test_an_answer_about_one_video_does_not_pause_the_lookups(server, answer):
    server.oembed.update({"privatevid1": answer, "knownvideo1": {"title": "Known"}})
    with OEmbedLookups(server.oembed_url) as lookups:
        assert lookups.lookup("privatevid1") is None
        assert lookups.lookup("knownvideo1").title == "Known"
        assert lookups.summary() is None  # nothing to tell
    assert oembed_requests(server) == 2


def test_an_unreachable_service_pauses_the_lookups():
    url = f"http://127.0.0.1:{closed_port()}/oembed"
    with OEmbedLookups(url, timeout=2) as lookups:
        assert lookups.lookup("dQw4w9WgXcQ") is None
        with pytest.raises(NotAsked):
            lookups.lookup("video000001")
        assert "could not be reached (ConnectionError)" in lookups.service_failure


def test_a_service_that_never_answers_costs_one_timeout_not_one_per_video():
    """A firewall that drops packets, or a server that accepts and never answers: each lookup
    would wait out its timeout (10 s by default, per video). Only the first one waits."""
    with socket.socket() as silent:  # accepts connections (the kernel's backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/oembed"
        with OEmbedLookups(url, timeout=0.5) as lookups:
            started = time.monotonic()
            assert lookups.lookup("dQw4w9WgXcQ") is None
            for number in range(20):
                with pytest.raises(NotAsked):
                    lookups.lookup(f"video{number:06d}")
            assert time.monotonic() - started < 5  # 20 more lookups would have waited 10 s
            assert "could not be reached (ReadTimeout)" in lookups.service_failure


def test_prefetched_lookups_run_several_at_once_and_each_video_gets_its_own_answer(server):
    videos = [f"video{number:06d}" for number in range(40)]
    server.oembed.update({v: {"title": f"Title of {v}"} for v in videos[::2]})  # the others: 404
    server.oembed_delay_s = 0.05
    with OEmbedLookups(server.oembed_url, at_once=8) as lookups:
        lookups.prefetch(videos)
        answers = {v: lookups.lookup(v) for v in videos}
    assert {v: a and a.title for v, a in answers.items()} == {
        v: f"Title of {v}" if n % 2 == 0 else None for n, v in enumerate(videos)}
    assert oembed_requests(server) == 40  # each video asked once, prefetched or not
    assert 2 <= server.oembed_most_at_once <= 8


def test_prefetching_reads_ahead_a_bounded_number_of_videos(server):
    """However many videos a step has, only READ_AHEAD unanswered lookups are started ahead of
    the loop: the rest start as the loop takes answers."""
    server.oembed_delay_s = 0.2
    videos = [f"video{number:06d}" for number in range(READ_AHEAD * 4)]
    asked_for: list[str] = []

    def to_prefetch():
        for video_id in videos:
            asked_for.append(video_id)
            yield video_id

    with OEmbedLookups(server.oembed_url, at_once=8) as lookups:
        lookups.prefetch(to_prefetch())
        assert len(asked_for) == READ_AHEAD
        lookups.lookup(videos[0])
        assert READ_AHEAD < len(asked_for) <= 2 * READ_AHEAD
    assert len(asked_for) < len(videos)  # leaving the step cancels what was not started


def test_a_prefetched_lookup_started_while_the_service_is_down_is_not_sent(server):
    server.oembed.update({"failing001": 503})
    with OEmbedLookups(server.oembed_url, at_once=4) as lookups:
        assert lookups.lookup("failing001") is None
        lookups.prefetch([f"video{number:06d}" for number in range(10)])
        for number in range(10):
            with pytest.raises(NotAsked):
                lookups.lookup(f"video{number:06d}")
    assert oembed_requests(server) == 1
