"""`essays run` and `essays add` with a playlist or channel URL: the videos in its feed,
read from a loopback stand-in for YouTube's Atom feeds (recorded feed files)."""

import dagster as dg
import pytest

from essay_assets.cli.main import main
from essay_assets.defs.partitions import video_partitions
from essay_assets.writing.rendering import parse_essay
from essay_assets_tests.support.chain import write_transcript
from testkit.youtube_feed_server import YouTubeFeedServer, fixture

PLAYLIST = "PLx0sYbCqOb8TBPRdmBHs5Iftvv9TPboYG"
PLAYLIST_URL = f"https://www.youtube.com/playlist?list={PLAYLIST}"
PLAYLIST_VIDEOS = ["vidP2_Jan25", "vidA4_Jan20", "vidP1_Dec01"]  # feed order: newest first


@pytest.fixture
def feeds(data_dir, monkeypatch):
    with YouTubeFeedServer() as server:
        server.feeds[f"playlist_id={PLAYLIST}"] = fixture("playlist_best_conversations.xml")
        monkeypatch.setenv("ESSAYS_YOUTUBE_FEED_BASE", server.feed_base)
        yield server


def test_run_with_a_playlist_url_writes_an_essay_for_every_video_in_its_feed(llm_server, data_dir, feeds, capsys):
    for seed, video_id in enumerate(PLAYLIST_VIDEOS):
        write_transcript(data_dir, video_id, seed=seed)

    assert main(["run", PLAYLIST_URL]) == 0

    assert f"playlist {PLAYLIST}: 3 video(s) in its feed" in capsys.readouterr().out
    assert llm_server.call_count == 3
    for video_id in PLAYLIST_VIDEOS:
        fields, body = parse_essay((data_dir / "essays" / f"{video_id}.md").read_text())
        assert fields["youtubeVideoId"] == video_id
        assert fields["videoTitle"] and fields["channelName"]  # from the feed, as the feed sensor keeps them
        assert body.startswith("# ")


def test_add_keeps_the_order_given_videos_then_the_feeds_videos(data_dir, feeds):
    assert main(["add", "dQw4w9WgXcQ", PLAYLIST_URL, "vidA4_Jan20"]) == 0
    keys = list(dg.DagsterInstance.get().get_dynamic_partitions(video_partitions.name))
    assert keys == ["dQw4w9WgXcQ", *PLAYLIST_VIDEOS]  # vidA4_Jan20 once


def test_an_unreadable_feed_stops_before_anything_runs(data_dir, feeds, capsys):
    feeds.feeds[f"playlist_id={PLAYLIST}"] = 404
    assert main(["run", PLAYLIST_URL]) == 2
    err = capsys.readouterr().err
    assert f"Cannot read the playlist {PLAYLIST}'s feed" in err and "404" in err
    assert not (data_dir / "essays").exists()


def test_a_bad_video_reference_is_reported_before_any_feed_is_fetched(data_dir, feeds, capsys):
    assert main(["run", PLAYLIST_URL, "https://vimeo.com/76979871"]) == 2
    assert "vimeo.com" in capsys.readouterr().err
    assert feeds.feed_requests(f"playlist_id={PLAYLIST}") == []
