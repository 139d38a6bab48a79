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
