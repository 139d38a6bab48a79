"""Video metadata from YouTube's oEmbed endpoint, served by a loopback stand-in (intake/oembed.py)."""

from __future__ import annotations

import pytest
import requests

from essay_assets.intake.oembed import fetch_oembed_metadata, oembed_session
from essay_assets.intake.videos import VideoMetadata
from essay_assets_tests.support.ports import closed_port
from essay_assets_tests.support.youtube_feed_server import YouTubeFeedServer


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
    meta = fetch_oembed_metadata("dQw4w9WgXcQ", base_url=server.oembed_url, session=requests.Session())
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
    assert fetch_oembed_metadata("dQw4w9WgXcQ", base_url=server.oembed_url) is None


def test_oembed_unreachable_gives_none():
    assert fetch_oembed_metadata("dQw4w9WgXcQ", base_url=f"http://127.0.0.1:{closed_port()}/oembed", timeout=2) is None


def test_the_steps_session_goes_through_the_environments_proxy_unless_no_proxy_says_not(server, monkeypatch):
    """The step's session reads the environment once, when it is made, as requests would per
    request: HTTP_PROXY carries the lookups (here the stand-in plays the proxy for a host that
    does not exist), and NO_PROXY exempts a host."""
    server.oembed["dQw4w9WgXcQ"] = {"title": "Through the proxy", "author_name": "A channel"}
    remote = "http://oembed.example.invalid/oembed"
    monkeypatch.setenv("HTTP_PROXY", server.base_url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with oembed_session(remote) as session:
        meta = fetch_oembed_metadata("dQw4w9WgXcQ", base_url=remote, session=session)
        assert meta is not None and meta.title == "Through the proxy"
        assert fetch_oembed_metadata("dQw4w9WgXcQ", base_url=remote, session=session).title == "Through the proxy"
    monkeypatch.setenv("NO_PROXY", "oembed.example.invalid")
    with oembed_session(remote) as session:
        assert fetch_oembed_metadata("dQw4w9WgXcQ", base_url=remote, session=session, timeout=2) is None
