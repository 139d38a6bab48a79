"""YouTube intake through the whole chain: the real youtube-transcript-api parses recorded
YouTube responses (served by a transport adapter), inside a real Dagster run."""

from __future__ import annotations

import dagster as dg
import pytest

from essay_assets.intake import sources as intake
from essay_assets.settings import Settings
from essay_assets.storage.raw_store import RawStore
from essay_assets.storage.warehouse import warehouse_for
from essay_assets.writing.rendering import parse_essay
from essay_assets_tests.support.chain import run_chain, write_transcript
from essay_assets_tests.support.recorded_youtube import (
    VIDEO_ID,
    RecordedYouTube,
    asset,
    session_for,
)


@pytest.fixture
def youtube(monkeypatch):
    adapters: list[RecordedYouTube] = []

    def serve(**routes) -> list[RecordedYouTube]:
        monkeypatch.setattr(intake, "youtube_http_client_factory",
                            lambda: session_for(adapters[-1] if adapters else RecordedYouTube(**routes)))
        adapters.append(RecordedYouTube(**routes))
        return adapters

    return serve


def _failures():
    return warehouse_for(Settings.from_env()).query("SELECT video_id, stage, reason, message FROM failures")


def test_transcript_from_youtube_becomes_an_essay_and_is_never_fetched_twice(llm_server, data_dir, youtube):
    adapters = youtube()
    assert run_chain([VIDEO_ID]).ok
    fields, _ = parse_essay((data_dir / "essays" / f"{VIDEO_ID}.md").read_text())
    assert fields["transcriptSource"] == "youtube" and fields["transcriptLanguage"] == "en"
    assert fields["transcriptWordCount"] > 0
    row = warehouse_for(Settings.from_env()).query("SELECT source, language_code, is_generated FROM transcripts")
    assert row == [{"source": "youtube", "language_code": "en", "is_generated": False}]
    requests_made = len(adapters[-1].calls)
    assert requests_made >= 3  # watch page, player, captions
    assert run_chain([VIDEO_ID]).ok
    assert len(adapters[-1].calls) == requests_made  # stored raw transcript: no refetch


def test_disabled_transcripts_fail_at_once_with_the_reason_stored(llm_server, data_dir, youtube):
    adapters = youtube(player=asset("youtube_transcripts_disabled.innertube.json"))
    summary = run_chain([VIDEO_ID])
    assert not summary.ok and "disabled" in summary.failures[VIDEO_ID]
    assert [(f["stage"], f["reason"]) for f in _failures()] == [("transcript", "transcripts_disabled")]
    player_posts = [c for c in adapters[-1].calls if c.method == "POST"]
    assert len(player_posts) == 1  # permanent: no retries
    assert llm_server.call_count == 0


def test_blocked_ip_is_retried_then_explains_how_to_set_a_proxy(llm_server, data_dir, youtube):
    adapters = youtube(player=asset("youtube_request_blocked.innertube.json"))
    summary = run_chain([VIDEO_ID])
    assert not summary.ok
    failures = _failures()
    assert [(f["stage"], f["reason"]) for f in failures] == [("transcript", "request_blocked")]
    assert "ESSAYS_WEBSHARE_USERNAME" in failures[0]["message"]
    player_posts = [c for c in adapters[-1].calls if c.method == "POST"]
    assert len(player_posts) == 4  # the first try and three step retries with backoff
    records = dg.DagsterInstance.get().get_run_records()
    assert any("STEP_RESTARTED" in str(e.dagster_event.event_type_value) for r in records
               for e in dg.DagsterInstance.get().all_logs(r.dagster_run.run_id) if e.dagster_event)


def test_only_a_video_fetched_from_youtube_needs_the_network(data_dir):
    settings = Settings.from_env()
    store = RawStore(settings.raw_dir)
    write_transcript(data_dir, "userfile001", words=50)
    assert intake.needs_youtube_fetch(settings, store, VIDEO_ID)
    assert not intake.needs_youtube_fetch(settings, store, "userfile001")  # the user's file
    assert not intake.needs_youtube_fetch(settings, store, intake.SAMPLE_VIDEO_ID)  # bundled
    store.write(store.transcript_path(VIDEO_ID), {"stored": True})
    assert not intake.needs_youtube_fetch(settings, store, VIDEO_ID)  # fetched before


def test_litellm_is_imported_meanwhile_only_while_the_step_waits_on_youtube(llm_server, data_dir, youtube,
                                                                          monkeypatch):
    """Over transcript files the background import only slowed the step: each file read or
    written waited for the interpreter lock the import held (docs/benchmarks.md, fourth pass)."""
    from essay_assets.defs import assets

    prefetches: list[int] = []
    monkeypatch.setattr(assets, "prefetch_litellm", lambda: prefetches.append(1))
    write_transcript(data_dir, "userfile001", words=300)
    assert run_chain(["userfile001"]).ok
    assert prefetches == []
    write_transcript(data_dir, "userfile002", words=300, seed=1)
    youtube()
    assert run_chain([VIDEO_ID, "userfile002"]).ok  # one of the two waits on YouTube
    assert prefetches == [1]
