import datetime as dt
import json
import textwrap

import dagster as dg
import pytest

from essay_assets.defs.resources import EssaySettings
from essay_assets.defs.sensors import (
    FeedState,
    followed_feeds_sensor,
    parse_cursor,
    remember,
    select_new_videos,
    serialize_cursor,
)
from essay_assets.intake.feeds import FollowFileError
from essay_assets.intake.videos import VideoMetadata
from testkit.youtube_feed_server import YouTubeFeedServer, fixture

CHANNEL = "UCq7zR3yDd0tTq_QZ8t2QeUw"
PLAYLIST = "PLx0sYbCqOb8TBPRdmBHs5Iftvv9TPboYG"
CHANNEL_KEY = f"channel:{CHANNEL}"
PLAYLIST_KEY = f"playlist:{PLAYLIST}"
CHANNEL_QUERY = f"channel_id={CHANNEL}"
PLAYLIST_QUERY = f"playlist_id={PLAYLIST}"

# Oldest first, as published in fixtures/feeds/channel_long_conversations.xml
CHANNEL_VIDEOS = ["vidA1_Dec15", "vidA2_Dec28", "vidA3_Jan05", "vidA4_Jan20", "vidA5_Feb01", "vidA6_Feb10"]


@pytest.fixture
def server():
    with YouTubeFeedServer() as running:
        running.feeds[CHANNEL_QUERY] = fixture("channel_long_conversations.xml")
        running.feeds[PLAYLIST_QUERY] = fixture("playlist_best_conversations.xml")
        yield running


@pytest.fixture
def data_dir(tmp_path, monkeypatch, server):
    monkeypatch.setenv("ESSAYS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ESSAYS_YOUTUBE_FEED_BASE", server.feed_base)
    return tmp_path


@pytest.fixture
def instance():
    with dg.DagsterInstance.ephemeral() as ephemeral:
        yield ephemeral


def follow(data_dir, text):
    (data_dir / "follow.yaml").write_text(textwrap.dedent(text))


def tick(instance, cursor=None):
    # Resources given to the context, and the context used as a context manager, as the daemon
    # does: the context closes what it opened (see test_schedules.evaluate).
    with dg.build_sensor_context(instance=instance, cursor=cursor,
                                 resources={"essay_settings": EssaySettings()}) as context:
        return followed_feeds_sensor(context)


def requested_ids(result):
    return [request.partition_key for request in result.run_requests]


def added_partitions(result):
    [add_request] = result.dynamic_partitions_requests
    assert add_request.partitions_def_name == "videos"
    return list(add_request.partition_keys)


def cursor_of(result):
    return json.loads(result.cursor)


# ---- the sensor -------------------------------------------------------------------------


def test_sensor_is_running_by_default_and_targets_essays_job():
    assert followed_feeds_sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert followed_feeds_sensor.minimum_interval_seconds == 3600
    assert followed_feeds_sensor.job_name == "essays_job"


def test_no_follow_file_does_nothing(data_dir, instance, server):
    result = tick(instance)
    assert isinstance(result, dg.SkipReason)
    assert "No follow file" in result.skip_message
    assert server.requests == []


def test_first_poll_requests_oldest_new_videos_within_caps(data_dir, instance, server):
    follow(
        data_dir,
        f"""
        channels:
          - id: {CHANNEL}
            since: 2026-01-01
            max_new_per_poll: 2
        playlists:
          - id: {PLAYLIST}
        """,
    )
    result = tick(instance)

    # Channel: since 2026-01-01 leaves A3..A6; the cap takes the two oldest.
    # Playlist: A4 was just taken by the channel, so P1 and P2 (oldest first).
    expected = ["vidA3_Jan05", "vidA4_Jan20", "vidP1_Dec01", "vidP2_Jan25"]
    assert requested_ids(result) == expected
    assert [r.run_key for r in result.run_requests] == [f"feed:{vid}" for vid in expected]
    assert result.run_requests[0].tags["essays/source"] == CHANNEL_KEY
    assert result.run_requests[2].tags["essays/source"] == PLAYLIST_KEY
    assert added_partitions(result) == expected

    cursor = cursor_of(result)
    assert cursor["version"] == 1
    channel_state = cursor["feeds"][CHANNEL_KEY]
    assert channel_state["requested"] == ["vidA3_Jan05", "vidA4_Jan20"]
    # Backlog left (A5, A6): no ETag kept, so the next poll reads the feed again.
    assert channel_state["etag"] is None and channel_state["modified"] is None
    playlist_state = cursor["feeds"][PLAYLIST_KEY]
    assert playlist_state["requested"] == ["vidP1_Dec01", "vidP2_Jan25"]
    assert playlist_state["etag"] and playlist_state["modified"]

    stored = json.loads((data_dir / "raw" / "videos" / "vidA3_Jan05.json").read_text())
    assert stored["title"] == "Teaching mathematics to adults"
    assert stored["channel_name"] == "Long Conversations"
    assert stored["channel_id"] == CHANNEL
    assert stored["published_at"] == "2026-01-05T02:15:00+00:00"
    assert stored["url"] == "https://www.youtube.com/watch?v=vidA3_Jan05"
    assert stored["source"] == CHANNEL_KEY
    assert "discovered_at" in stored
    assert sorted(p.name for p in (data_dir / "raw" / "videos").iterdir()) == sorted(f"{v}.json" for v in expected)


def test_backlog_drains_then_feeds_go_quiet(data_dir, instance, server):
    follow(
        data_dir,
        f"""
        channels:
          - id: {CHANNEL}
            since: 2026-01-01
            max_new_per_poll: 2
        playlists:
          - {PLAYLIST}
        """,
    )
    first = tick(instance)
    second = tick(instance, cursor=first.cursor)
    assert requested_ids(second) == ["vidA5_Feb01", "vidA6_Feb10"]
    state = cursor_of(second)["feeds"]
    assert state[CHANNEL_KEY]["requested"] == ["vidA3_Jan05", "vidA4_Jan20", "vidA5_Feb01", "vidA6_Feb10"]
    assert state[CHANNEL_KEY]["etag"]  # backlog drained: now the ETag is kept
    # The playlist was asked conditionally and answered 304.
    assert server.feed_requests(PLAYLIST_QUERY)[-1].headers.get("If-None-Match") == state[PLAYLIST_KEY]["etag"]

    third = tick(instance, cursor=second.cursor)
    assert third.run_requests == []
    assert third.dynamic_partitions_requests == []
    assert "No new videos in 2 followed feed(s)" in third.skip_reason.skip_message
    assert cursor_of(third) == cursor_of(second)
    assert server.feed_requests(CHANNEL_QUERY)[-1].headers.get("If-None-Match") == state[CHANNEL_KEY]["etag"]


def test_second_poll_of_the_same_feed_requests_nothing_even_without_etag(data_dir, instance, server):
    follow(data_dir, f"channels:\n  - id: {CHANNEL}\n    max_new_per_poll: 10\n")
    first = tick(instance)
    assert requested_ids(first) == CHANNEL_VIDEOS

    # Drop the ETag: the server answers 200 with the same entries, all already requested.
    cursor = cursor_of(first)
    cursor["feeds"][CHANNEL_KEY]["etag"] = None
    cursor["feeds"][CHANNEL_KEY]["modified"] = None
    second = tick(instance, cursor=json.dumps(cursor))
    assert second.run_requests == []
    assert cursor_of(second)["feeds"][CHANNEL_KEY]["requested"] == CHANNEL_VIDEOS


def test_new_upload_is_the_only_request(data_dir, instance, server):
    follow(data_dir, f"channels:\n  - id: {CHANNEL}\n    max_new_per_poll: 10\n")
    first = tick(instance)
    newest_entry = fixture("channel_long_conversations.xml").replace(b"vidA6_Feb10", b"vidA7_Feb20").replace(
        b"2026-02-10T17:00:06", b"2026-02-20T17:00:06"
    )
    # Prepend the "new upload" before the first entry, as YouTube does.
    original = fixture("channel_long_conversations.xml")
    first_entry_start = original.index(b" <entry>")
    first_entry_end = original.index(b"</entry>") + len(b"</entry>\n")
    new_entry = newest_entry[first_entry_start:first_entry_end]
    server.feeds[CHANNEL_QUERY] = original[:first_entry_start] + new_entry + original[first_entry_start:]

    second = tick(instance, cursor=first.cursor)
    assert requested_ids(second) == ["vidA7_Feb20"]
    assert cursor_of(second)["feeds"][CHANNEL_KEY]["requested"][-1] == "vidA7_Feb20"


def test_failing_feed_keeps_its_cursor_and_others_still_run(data_dir, instance, server, capfd):
    follow(data_dir, f"channels:\n  - id: {CHANNEL}\nplaylists:\n  - id: {PLAYLIST}\n")
    previous = serialize_cursor(
        {CHANNEL_KEY: FeedState(etag='"stale"', modified="Mon, 01 Dec 2025 00:00:00 GMT", requested=["vidA1_Dec15"])}
    )
    server.feeds[CHANNEL_QUERY] = 500

    result = tick(instance, cursor=previous)
    assert requested_ids(result) == ["vidP1_Dec01", "vidA4_Jan20", "vidP2_Jan25"]
    feeds = cursor_of(result)["feeds"]
    assert feeds[CHANNEL_KEY] == {
        "etag": '"stale"',
        "modified": "Mon, 01 Dec 2025 00:00:00 GMT",
        "requested": ["vidA1_Dec15"],
    }
    # context.log writes through Dagster's own handler (not propagated to pytest's caplog).
    logged = capfd.readouterr().err
    assert f"WARNING - Feed {CHANNEL_KEY} failed and will be retried next tick" in logged
    assert "answered HTTP 500" in logged

    # Next tick the channel works again and is polled with its old state.
    server.feeds[CHANNEL_QUERY] = fixture("channel_long_conversations.xml")
    recovered = tick(instance, cursor=result.cursor)
    # A1 was requested before the failure, A4 meanwhile through the playlist.
    assert requested_ids(recovered) == ["vidA2_Dec28", "vidA3_Jan05", "vidA5_Feb01", "vidA6_Feb10"]


def test_all_feeds_failing_keeps_cursor(data_dir, instance, server):
    follow(data_dir, f"channels:\n  - id: {CHANNEL}\nplaylists:\n  - id: {PLAYLIST}\n")
    previous = serialize_cursor({PLAYLIST_KEY: FeedState(etag='"e"', requested=["vidP1_Dec01"])})
    server.feeds[CHANNEL_QUERY] = 500
    server.feeds[PLAYLIST_QUERY] = fixture("invalid.xml")
    result = tick(instance, cursor=previous)
    assert result.run_requests == []
    assert "2 failed and will be retried" in result.skip_reason.skip_message
    feeds = cursor_of(result)["feeds"]
    assert feeds[PLAYLIST_KEY] == {"etag": '"e"', "modified": None, "requested": ["vidP1_Dec01"]}
    assert feeds[CHANNEL_KEY] == {"etag": None, "modified": None, "requested": []}


def test_existing_partitions_are_not_requested_again(data_dir, instance, server):
    instance.add_dynamic_partitions("videos", ["vidA1_Dec15", "vidA2_Dec28"])
    follow(data_dir, f"channels:\n  - id: {CHANNEL}\n    max_new_per_poll: 2\n")
    result = tick(instance)
    assert requested_ids(result) == ["vidA3_Jan05", "vidA4_Jan20"]
    requested = cursor_of(result)["feeds"][CHANNEL_KEY]["requested"]
    assert set(requested) == {"vidA1_Dec15", "vidA2_Dec28", "vidA3_Jan05", "vidA4_Jan20"}


def test_paused_feed_is_not_polled(data_dir, instance, server):
    follow(data_dir, f"channels:\n  - id: {CHANNEL}\n    max_new_per_poll: 0\n")
    result = tick(instance)
    assert result.run_requests == []
    assert server.feed_requests(CHANNEL_QUERY) == []


def test_unreadable_cursor_starts_over(data_dir, instance, server):
    follow(data_dir, f"channels:\n  - id: {CHANNEL}\n    max_new_per_poll: 1\n")
    result = tick(instance, cursor="{not json")
    assert requested_ids(result) == ["vidA1_Dec15"]


def test_broken_follow_file_fails_the_tick_with_its_message(data_dir, instance):
    follow(data_dir, "channels:\n  - id: nope\n")
    with pytest.raises(FollowFileError, match="channel id 'nope' is not a channel ID"):
        tick(instance)


# ---- pure helpers -------------------------------------------------------------------------


def meta(video_id, published):
    return VideoMetadata(video_id, "t", "c", CHANNEL, published, f"https://www.youtube.com/watch?v={video_id}")


def test_select_new_videos_oldest_first_with_cap_since_and_seen():
    entries = [
        meta("newest_____", "2026-03-01T00:00:00+00:00"),
        meta("undated____", None),
        meta("middle_____", "2026-02-01T00:00:00+00:00"),
        meta("seen_______", "2026-01-15T00:00:00+00:00"),
        meta("oldest_____", "2026-01-02T00:00:00+00:00"),
        meta("too_old____", "2025-12-31T23:59:59+00:00"),
    ]
    chosen, backlog = select_new_videos(entries, already_seen={"seen_______"}, since=dt.date(2026, 1, 1), limit=2)
    assert [c.video_id for c in chosen] == ["oldest_____", "middle_____"]
    assert backlog is True
    chosen, backlog = select_new_videos(entries, already_seen=set(), since=None, limit=10)
    assert [c.video_id for c in chosen][-1] == "undated____"  # no date: kept, sorted last
    assert [c.video_id for c in chosen][0] == "too_old____"
    assert backlog is False


def test_remember_is_bounded_and_keeps_newest():
    ids = [f"id{i:09d}" for i in range(600)]
    kept = remember([], ids)
    assert len(kept) == 500 and kept[0] == "id000000100" and kept[-1] == "id000000599"
    assert remember(["a"], ["a", "b", "b"]) == ["a", "b"]


def test_cursor_round_trip_and_version_check():
    states = {CHANNEL_KEY: FeedState(etag='"x"', modified=None, requested=["vidA1_Dec15"])}
    assert parse_cursor(serialize_cursor(states)) == states
    assert parse_cursor(None) == {}
    with pytest.raises(ValueError, match="unsupported cursor"):
        parse_cursor(json.dumps({"version": 99}))


def test_unfollowed_feeds_leave_the_cursor(data_dir, instance, server):
    follow(data_dir, f"playlists:\n  - id: {PLAYLIST}\n")
    previous = serialize_cursor({CHANNEL_KEY: FeedState(etag='"e"', requested=["vidA4_Jan20"])})
    result = tick(instance, cursor=previous)
    # The old channel's requests still count for this tick (A4 is in the playlist too).
    assert requested_ids(result) == ["vidP1_Dec01", "vidP2_Jan25"]
    assert list(cursor_of(result)["feeds"]) == [PLAYLIST_KEY]
