"""A video's metadata is looked up once, by the transcript stage; later stages read its record."""

from __future__ import annotations

import logging
from urllib.parse import parse_qs

import dagster as dg
import pytest

from essay_assets.intake.oembed import LOOKUPS_AT_ONCE
from essay_assets.intake.videos import (
    VideoMetadata,
    read_video_record,
    write_video_metadata,
)
from essay_assets.settings import Settings
from essay_assets.storage.raw_store import RawStore
from essay_assets.writing.rendering import parse_essay
from essay_assets_tests.support.chain import run_chain, write_transcript
from testkit.youtube_feed_server import YouTubeFeedServer

KNOWN, UNKNOWN = "knownvideo1", "privatevid1"  # oEmbed answers the first, 404s the second


def test_no_stored_record_reads_as_all_unknown(tmp_path):
    assert read_video_record(RawStore(tmp_path), "abcdefghijk") == {
        "video_id": "abcdefghijk", "title": None, "channel_name": None, "channel_id": None,
        "published_at": None, "url": None, "metadata_source": "none"}


def test_a_feed_record_reads_back_with_its_fields(tmp_path):
    write_video_metadata(tmp_path, VideoMetadata("abcdefghijk", "A title", "A channel", "UC1", "2026-01-15T17:00:06+00:00",
                                                 "https://www.youtube.com/watch?v=abcdefghijk"), source="feed")
    record = read_video_record(RawStore(tmp_path), "abcdefghijk")
    assert (record["title"], record["channel_id"], record["metadata_source"]) == ("A title", "UC1", "feed")


@pytest.fixture
def oembed(data_dir, monkeypatch):
    with YouTubeFeedServer() as server:
        server.oembed[KNOWN] = {"title": "A known title", "author_name": "A channel",
                                "author_url": "https://www.youtube.com/@a"}
        monkeypatch.setenv("ESSAYS_OEMBED_URL", server.oembed_url)
        yield server


def oembed_requests_per_video(server: YouTubeFeedServer) -> dict[str, int]:
    counts: dict[str, int] = {}
    for request in server.requests:
        if request.path == "/oembed":
            video_id = parse_qs(parse_qs(request.query)["url"][0].split("?", 1)[1])["v"][0]
            counts[video_id] = counts.get(video_id, 0) + 1
    return counts


def test_one_oembed_request_per_video_across_the_whole_chain(llm_server, data_dir, oembed):
    write_transcript(data_dir, KNOWN, words=500)
    write_transcript(data_dir, UNKNOWN, words=500, seed=1)
    assert run_chain([KNOWN, UNKNOWN]).ok
    assert oembed_requests_per_video(oembed) == {KNOWN: 1, UNKNOWN: 1}
    known, _ = parse_essay((data_dir / "essays" / f"{KNOWN}.md").read_text())
    assert (known["videoTitle"], known["channelName"]) == ("A known title", "A channel")
    unknown, _ = parse_essay((data_dir / "essays" / f"{UNKNOWN}.md").read_text())
    assert unknown["videoTitle"] is None


def test_stages_after_the_transcript_never_ask_oembed(llm_server, data_dir, oembed):
    from essay_assets.defs.build import build_definitions

    write_transcript(data_dir, KNOWN, words=500)
    assert run_chain([KNOWN]).ok
    asked = len(oembed.requests)
    RawStore(Settings.from_env().raw_dir).video_metadata_path(KNOWN).unlink()  # nothing stored to read
    job = build_definitions().resolve_job_def("essays_job")
    result = job.execute_in_process(
        instance=dg.DagsterInstance.get(), tags={"dagster/partition": KNOWN}, raise_on_error=False,
        asset_selection=[dg.AssetKey("essay_prompt"), dg.AssetKey("llm_response"), dg.AssetKey("essay")])
    assert result.success
    assert len(oembed.requests) == asked  # the record is the transcript stage's to obtain
    fields, _ = parse_essay((data_dir / "essays" / f"{KNOWN}.md").read_text())
    assert fields["videoTitle"] is None


def test_while_oembed_fails_the_run_stops_asking_writes_every_essay_and_the_next_run_asks_the_rest(
        llm_server, data_dir, oembed):
    """oEmbed failing as a whole (503): once a lookup meets it, the transcript step asks no more
    (only lookups already in flight, at most LOOKUPS_AT_ONCE, are answered) and says so in its log;
    every essay is still written, without titles. Only the videos asked are remembered as
    unknown; the others are asked by the next run, and their essays get their titles."""
    videos = [f"failvideo{number:02d}" for number in range(LOOKUPS_AT_ONCE + 4)]
    for seed, video_id in enumerate(videos):
        write_transcript(data_dir, video_id, words=300, seed=seed)
        oembed.oembed[video_id] = 503
    result = run_chain(videos)
    assert result.ok
    asked = set(oembed_requests_per_video(oembed))
    assert 1 <= len(asked) <= LOOKUPS_AT_ONCE
    for video_id in videos:
        fields, _ = parse_essay((data_dir / "essays" / f"{video_id}.md").read_text())
        assert fields["videoTitle"] is None
    store = RawStore(Settings.from_env().raw_dir)
    assert {v for v in videos if store.video_metadata_path(v).exists()} == asked
    [run_id] = result.run_ids
    warnings = [e.message for e in dg.DagsterInstance.get().all_logs(run_id)
                if e.level == logging.WARNING and "oEmbed" in (e.message or "")]
    assert len(warnings) == 1 and "HTTP 503" in warnings[0]
    assert f"{len(videos) - len(asked)} video(s) were not looked up" in warnings[0]

    for video_id in videos:
        oembed.oembed[video_id] = {"title": f"Title of {video_id}", "author_name": "A channel"}
    assert run_chain(videos).ok
    assert oembed_requests_per_video(oembed) == {v: 1 for v in videos}  # those not asked before, once each
    titles = {v: parse_essay((data_dir / "essays" / f"{v}.md").read_text())[0]["videoTitle"] for v in videos}
    assert titles == {v: None if v in asked else f"Title of {v}" for v in videos}


def test_titles_are_looked_up_several_at_once(llm_server, data_dir, oembed):
    videos = [f"slowtitle{number:02d}" for number in range(12)]
    for seed, video_id in enumerate(videos):
        write_transcript(data_dir, video_id, words=300, seed=seed)
        oembed.oembed[video_id] = {"title": f"Title of {video_id}", "author_name": "A channel"}
    oembed.oembed_delay_s = 0.2  # a round trip to YouTube
    assert run_chain(videos).ok
    assert oembed_requests_per_video(oembed) == {v: 1 for v in videos}
    assert 2 <= oembed.oembed_most_at_once <= LOOKUPS_AT_ONCE
    titles = {v: parse_essay((data_dir / "essays" / f"{v}.md").read_text())[0]["videoTitle"] for v in videos}
    assert titles == {v: f"Title of {v}" for v in videos}
