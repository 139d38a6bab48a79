"""Video metadata from YouTube's oEmbed endpoint, served by a loopback stand-in (intake/oembed.py)."""

from __future__ import annotations

import pytest
import requests

from essay_assets.intake.oembed import fetch_oembed_metadata
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
