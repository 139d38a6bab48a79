"""What the UI shows per partition, read from the real instance after a real run: each
partition's own row count (not the table's total), and on `essay` the model, total tokens and
response time of its front matter."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from essay_assets.settings import Settings
from essay_assets.storage.warehouse import warehouse_for
from essay_assets.writing.rendering import parse_essay
from essay_assets_tests.support.chain import run_chain, write_transcript

VIDEOS = ["partmeta001", "partmeta002", "partmeta003"]


def _metadata(instance: dg.DagsterInstance, asset: str, video_id: str) -> dict:
    [record] = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[video_id]), limit=1).records
    return {k: v.value for k, v in record.asset_materialization.metadata.items()}


def test_each_partition_shows_its_own_rows_and_the_essays_model_tokens_and_time(data_dir: Path, llm_server):
    for seed, video_id in enumerate(VIDEOS):
        write_transcript(data_dir, video_id, words=400, seed=seed)
    assert run_chain(VIDEOS).ok
    instance = dg.DagsterInstance.get()
    warehouse = warehouse_for(Settings.from_env())
    for video_id in VIDEOS:
        [calls] = warehouse.query("SELECT count(*) AS n FROM llm_calls WHERE video_id = ?", [video_id])
        assert _metadata(instance, "transcript", video_id)["dagster/row_count"] == 1
        assert _metadata(instance, "llm_response", video_id)["dagster/row_count"] == calls["n"]
        essay = _metadata(instance, "essay", video_id)
        front_matter, _ = parse_essay((data_dir / "essays" / f"{video_id}.md").read_text())
        assert essay["dagster/row_count"] == 1
        assert (essay["model"], essay["total_tokens"], essay["response_time_ms"]) == (
            front_matter["llmModel"], front_matter["totalTokens"], front_matter["responseTimeMs"])
        assert essay["total_tokens"] > 0


def test_a_failed_video_shows_why_and_its_downstream_partitions_show_they_were_skipped(data_dir: Path, llm_server):
    """Every partition's metadata reaches the UI when the step hands it over at its end (one
    update for the step, not one per video): the failure and its reason where the video failed,
    the skip downstream, and the same metadata as before for the videos that went on."""
    write_transcript(data_dir, VIDEOS[0], words=400)
    (data_dir / "transcripts" / "emptyvideo1.txt").write_text("   \n")
    summary = run_chain([VIDEOS[0], "emptyvideo1"])
    assert list(summary.failures) == ["emptyvideo1"]
    instance = dg.DagsterInstance.get()
    failed = _metadata(instance, "transcript", "emptyvideo1")
    assert (failed["status"], failed["failure_reason"]) == ("failed", "bad_transcript_file")
    assert "no transcript text" in failed["failure"]
    assert _metadata(instance, "essay_prompt", "emptyvideo1") == {"status": "skipped (upstream failed)"}
    good = _metadata(instance, "transcript", VIDEOS[0])
    assert (good["word_count"], good["dagster/row_count"], good["source"]) == (400, 1, "user_file")
    assert _metadata(instance, "essay_prompt", VIDEOS[0])["mode"] == "single"
