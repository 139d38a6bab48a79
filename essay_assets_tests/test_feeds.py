import datetime as dt
import textwrap

import pytest

from essay_assets.intake.feeds import (
    DEFAULT_FEED_BASE,
    FeedPoll,
    FollowedFeed,
    FollowFileError,
    load_follow_file,
    poll_feed,
    published_date,
)
from essay_assets.intake.videos import VideoMetadata
from essay_assets.settings import Settings
from essay_assets_tests.support.ports import closed_port
from testkit.youtube_feed_server import (
    YouTubeFeedServer,
    etag_of,
    fixture,
)

CHANNEL = "UCq7zR3yDd0tTq_QZ8t2QeUw"
OTHER_CHANNEL = "UCb4Xw9pLm2nVc7aKs1dHf0E"
PLAYLIST = "PLx0sYbCqOb8TBPRdmBHs5Iftvv9TPboYG"


@pytest.fixture
def server():
    with YouTubeFeedServer() as running:
        running.feeds[f"channel_id={CHANNEL}"] = fixture("channel_long_conversations.xml")
        running.feeds[f"playlist_id={PLAYLIST}"] = fixture("playlist_best_conversations.xml")
        yield running


def write(tmp_path, text):
    path = tmp_path / "follow.yaml"
    path.write_text(textwrap.dedent(text))
    return path


# ---- follow file -----------------------------------------------------------------------


def test_load_follow_file(tmp_path):
    path = write(
        tmp_path,
        f"""
        channels:
          - id: {CHANNEL}   # a comment
            since: 2026-01-01
            max_new_per_poll: 2
          - {OTHER_CHANNEL}
        playlists:
          - id: {PLAYLIST}
            since: "2025-12-01"
        """,
    )
    feeds = load_follow_file(path, feed_base="http://127.0.0.1:1/feeds/videos.xml")
    assert feeds == [
        FollowedFeed("channel", CHANNEL, dt.date(2026, 1, 1), 2, "http://127.0.0.1:1/feeds/videos.xml"),
        FollowedFeed("channel", OTHER_CHANNEL, None, 5, "http://127.0.0.1:1/feeds/videos.xml"),
        FollowedFeed("playlist", PLAYLIST, dt.date(2025, 12, 1), 5, "http://127.0.0.1:1/feeds/videos.xml"),
    ]
    assert feeds[0].feed_url == f"http://127.0.0.1:1/feeds/videos.xml?channel_id={CHANNEL}"
    assert feeds[2].feed_url == f"http://127.0.0.1:1/feeds/videos.xml?playlist_id={PLAYLIST}"
    assert feeds[0].key == f"channel:{CHANNEL}"


def test_feed_base_defaults_to_youtube_and_env_overrides(tmp_path):
    path = write(tmp_path, f"channels:\n  - id: {CHANNEL}\n")
    def feed_base(environ: dict[str, str]) -> str:
        return Settings.from_env({"ESSAYS_DATA_DIR": str(tmp_path), **environ}).youtube_feed_base

    [feed] = load_follow_file(path, feed_base=feed_base({}))
    assert feed.feed_base == DEFAULT_FEED_BASE
    assert feed.feed_url == f"https://www.youtube.com/feeds/videos.xml?channel_id={CHANNEL}"
    [feed] = load_follow_file(path, feed_base=feed_base({"ESSAYS_YOUTUBE_FEED_BASE": "http://127.0.0.1:9/f.xml"}))
    assert feed.feed_url == f"http://127.0.0.1:9/f.xml?channel_id={CHANNEL}"


def test_missing_or_empty_follow_file_follows_nothing(tmp_path):
    assert load_follow_file(tmp_path / "nope.yaml") == []
    assert load_follow_file(write(tmp_path, "")) == []
    assert load_follow_file(write(tmp_path, "channels: []\nplaylists:\n")) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("channels:\n  - id: UCshort\n", "channel id 'UCshort' is not a channel ID: expected UC followed by 22"),
        ("channels:\n  - id: '@somechannel'\n", "an @handle or channel name is not a channel ID"),
        (f"channels:\n  - id: {PLAYLIST}\n", "this looks like a playlist ID: list it under `playlists:`"),
        ("playlists:\n  - id: XX123\n", "playlist id 'XX123' is not a playlist ID"),
        (f"channels:\n  - id: {CHANNEL}\n    since: 2026-13-01\n", "since '2026-13-01' is not a date: write it as YYYY-MM-DD"),
        (f"channels:\n  - id: {CHANNEL}\n    since: last tuesday\n", "is not a date"),
        (f"channels:\n  - id: {CHANNEL}\n    max_new_per_poll: -1\n", "max_new_per_poll -1 must not be negative"),
        (f"channels:\n  - id: {CHANNEL}\n    max_new_per_poll: five\n", "must be a whole number"),
        (f"channels:\n  - id: {CHANNEL}\n    max_new_per_pol: 3\n", "unknown key(s) max_new_per_pol"),
        (f"channels:\n  - id: {CHANNEL}\n  - id: {CHANNEL}\n", "listed twice"),
        (f"channels:\n  id: {CHANNEL}\n", "`channels` must be a list"),
        (f"chanels:\n  - id: {CHANNEL}\n", "unknown section(s) chanels"),
        ("- just\n- a list\n", "must be a mapping"),
        ("channels: [unclosed\n", "is not valid YAML"),
        ("channels:\n  - 42\n", "expected `id: ...`"),
        ("channels:\n  - [a, b]\n", "expected `id: ...`"),
    ],
)
def test_follow_file_errors(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(FollowFileError) as caught:
        load_follow_file(path)
    assert expected in str(caught.value)
    assert str(path) in str(caught.value)


def test_follow_file_reports_all_problems_at_once(tmp_path):
    path = write(
        tmp_path,
        f"""
        channels:
          - id: bad
          - id: {CHANNEL}
            max_new_per_poll: -3
        playlists:
          - id: nope
        """,
    )
    with pytest.raises(FollowFileError) as caught:
        load_follow_file(path)
    message = str(caught.value)
    assert "has 3 problem(s)" in message
    assert "channels[0]" in message and "channels[1]" in message and "playlists[0]" in message


def test_zero_cap_is_allowed_and_pauses(tmp_path):
    [feed] = load_follow_file(write(tmp_path, f"channels:\n  - id: {CHANNEL}\n    max_new_per_poll: 0\n"))
    assert feed.max_new_per_poll == 0


# ---- polling ----------------------------------------------------------------------------


def channel_feed(server, **kwargs) -> FollowedFeed:
    return FollowedFeed("channel", CHANNEL, feed_base=server.feed_base, **kwargs)


def test_poll_channel_feed(server):
    poll = poll_feed(channel_feed(server))
    assert poll.ok and poll.status == 200 and not poll.not_modified
    assert [e.video_id for e in poll.entries] == [
        "vidA6_Feb10", "vidA5_Feb01", "vidA4_Jan20", "vidA3_Jan05", "vidA2_Dec28", "vidA1_Dec15",
    ]
    first = poll.entries[0]
    assert first == VideoMetadata(
        video_id="vidA6_Feb10",
        title="Why institutions forget — with Dr. Ana Ruiz",
        channel_name="Long Conversations",
        channel_id=CHANNEL,
        published_at="2026-02-10T17:00:06+00:00",
        url="https://www.youtube.com/watch?v=vidA6_Feb10",
        channel_url=f"https://www.youtube.com/channel/{CHANNEL}",
    )
    assert poll.entries[1].title == "Energy, cities & the next fifty years"
    # -05:00 in the feed, normalised to UTC (and to the next day).
    assert poll.entries[3].published_at == "2026-01-05T02:15:00+00:00"
    assert published_date(poll.entries[3]) == dt.date(2026, 1, 5)
    assert poll.etag == etag_of(fixture("channel_long_conversations.xml"))
    assert poll.modified == "Tue, 10 Feb 2026 17:05:00 GMT"


def test_poll_playlist_feed_has_each_videos_own_channel(server):
    poll = poll_feed(FollowedFeed("playlist", PLAYLIST, feed_base=server.feed_base))
    assert poll.ok
    assert [(e.video_id, e.channel_id, e.channel_name) for e in poll.entries] == [
        ("vidP2_Jan25", OTHER_CHANNEL, "The Deep Dive Podcast"),
        ("vidA4_Jan20", CHANNEL, "Long Conversations"),
        ("vidP1_Dec01", OTHER_CHANNEL, "The Deep Dive Podcast"),
    ]


def test_poll_with_etag_is_not_modified(server):
    feed = channel_feed(server)
    first = poll_feed(feed)
    second = poll_feed(feed, etag=first.etag, modified=first.modified)
    assert second.ok and second.not_modified and second.status == 304
    assert second.entries == []
    assert second.etag == first.etag
    sent = server.feed_requests(f"channel_id={CHANNEL}")[-1].headers
    assert sent.get("If-None-Match") == first.etag
    assert sent.get("If-Modified-Since") == first.modified


def test_poll_server_error_is_reported_not_raised(server):
    server.feeds[f"channel_id={CHANNEL}"] = 500
    poll = poll_feed(channel_feed(server), etag='"old"', modified="old-date")
    assert not poll.ok
    assert poll.status == 500
    assert "answered HTTP 500" in poll.error and CHANNEL in poll.error
    # The caller's conditional-request state is handed back untouched.
    assert (poll.etag, poll.modified) == ('"old"', "old-date")


def test_poll_not_found_is_reported(server):
    poll = poll_feed(FollowedFeed("channel", OTHER_CHANNEL, feed_base=server.feed_base))
    assert poll.status == 404 and "HTTP 404" in poll.error


def test_poll_invalid_xml_is_reported(server):
    server.feeds[f"channel_id={CHANNEL}"] = fixture("invalid.xml")
    poll = poll_feed(channel_feed(server))
    assert not poll.ok
    assert "is not a readable feed" in poll.error


def test_poll_unreachable_host_is_reported():
    base = f"http://127.0.0.1:{closed_port()}/feeds/videos.xml"
    poll = poll_feed(FollowedFeed("channel", CHANNEL, feed_base=base))
    assert not poll.ok and poll.entries == []
    assert poll.error.startswith(f"fetching {base}?channel_id={CHANNEL} failed:")
    assert "refused" in poll.error.lower()


def test_poll_fetch_that_raises_is_reported():
    def exploding_fetch(url, etag=None, modified=None):
        raise TimeoutError("read timed out")

    poll = poll_feed(FollowedFeed("channel", CHANNEL), fetch=exploding_fetch)
    assert isinstance(poll, FeedPoll) and not poll.ok
    assert "TimeoutError: read timed out" in poll.error


def test_entries_without_a_video_id_are_skipped():
    def fake_fetch(url, etag=None, modified=None):
        return {
            "status": 200,
            "entries": [{"title": "no id"}, {"yt_videoid": "bad id"}, {"yt_videoid": "vidA1_Dec15", "title": "ok"}],
        }

    poll = poll_feed(FollowedFeed("channel", CHANNEL), fetch=fake_fetch)
    assert [e.video_id for e in poll.entries] == ["vidA1_Dec15"]
    assert poll.entries[0].published_at is None
