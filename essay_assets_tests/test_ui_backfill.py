"""A backfill launched the way the UI launches it, through a real `dagster dev`.

The webserver and the daemon run in their own process group; the test only speaks GraphQL
to it (addDynamicPartition, launchPartitionBackfill, partitionBackfillOrError, runsOrError),
then checks what a user would: the essay files, their rows, and that the whole backfill
was ONE run (the single-run backfill policy), not one run per video; or, with
ESSAYS_RUN_SIZE, runs of that many videos, each carrying the whole chain.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from essay_assets.settings import Settings
from essay_assets.storage.warehouse import warehouse_for
from essay_assets.writing.rendering import REFERENCE_FIELDS, parse_essay
from essay_assets_tests.support.chain import write_transcript
from testkit.dagster_dev import ESSAY_ASSETS, DagsterDev
from testkit.openai_stub import LoopbackLLM

VIDEOS = ["uibackfill1", "uibackfill2", "uibackfill3", "uibackfill4"]


def dagster_dev_env(data: Path, api_base: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ESSAYS_", "DAGSTER_"))}
    env.pop("OPENROUTER_API_KEY", None)
    return {**env, "ESSAYS_DATA_DIR": str(data), "ESSAYS_MODEL": "openai/gpt-4o", "ESSAYS_API_BASE": api_base,
            "OPENAI_API_KEY": "fake", "ESSAYS_OEMBED_URL": "http://127.0.0.1:9/oembed",
            "ESSAYS_YOUTUBE_MIN_INTERVAL_S": "0", "ESSAYS_LLM_RETRY_BASE_S": "0.05",
            "ESSAYS_STEP_RETRY_DELAY_S": "0.2", "DAGSTER_DISABLE_TELEMETRY": "1"}


def backfill_through_the_ui(tmp_path: Path, videos: list[str], **environ: str) -> tuple[Path, list[dict]]:
    """Transcripts for `videos`, then `dagster dev` with `environ` on top of the usual
    variables: the videos added and backfilled over GraphQL, as the UI does. Returns the data
    dir and the backfill's runs, after checking the backfill succeeded with one model call per video."""
    data = tmp_path / "data"
    (data / "transcripts").mkdir(parents=True)
    for seed, video_id in enumerate(videos):
        write_transcript(data, video_id, words=300 + 50 * seed, seed=seed)

    with LoopbackLLM(delay_s=0.2) as llm:
        env = {**dagster_dev_env(data, llm.base_url), **environ}
        dev = DagsterDev(home=tmp_path / "dagster_home", cwd=tmp_path / "cwd", env=env,
                         log_path=tmp_path / "dagster_dev.log")
        try:
            dev.start(timeout_s=180)
            dev.add_partitions(videos)
            backfill_id = dev.launch_backfill(videos, ESSAY_ASSETS)
            status = dev.wait_backfill(backfill_id, timeout_s=240)
            runs = dev.backfill_runs(backfill_id)
            if status != "COMPLETED_SUCCESS":
                pytest.fail(f"Backfill ended {status}.\n{dev.describe_backfill_runs(backfill_id)}\n"
                            f"--- dagster dev log (tail) ---\n{dev.log_tail()}")
        except BaseException:
            print(f"--- dagster dev log (tail) ---\n{dev.log_tail()}")
            raise
        finally:
            dev.stop()

        assert llm.call_count == len(videos)
    return data, runs


def range_of(run: dict) -> tuple[str | None, str | None]:
    tags = {t["key"]: t["value"] for t in run["tags"]}
    return tags.get("dagster/asset_partition_range_start"), tags.get("dagster/asset_partition_range_end")


@pytest.mark.slow
@pytest.mark.timeout(420)
@pytest.mark.parametrize("storage", ["sqlite", "postgres"])
def test_ui_backfill_writes_every_essay_in_one_run(tmp_path: Path, storage: str, request: pytest.FixtureRequest):
    """The same backfill with the instance in SQLite files (the default) and in PostgreSQL."""
    environ = {}
    if storage == "postgres":  # the session's server, started only when this case runs
        environ["ESSAYS_POSTGRES_URL"] = request.getfixturevalue("postgres_server").create_database("ui_backfill")
    data, runs = backfill_through_the_ui(tmp_path, VIDEOS, **environ)

    # single-run backfill policy: one run for all four videos and all four assets
    assert len(runs) == 1, [(r["runId"], r["status"]) for r in runs]
    assert runs[0]["status"] == "SUCCESS"
    assert range_of(runs[0]) == (VIDEOS[0], VIDEOS[-1])

    for video_id in VIDEOS:
        fields, body = parse_essay((data / "essays" / f"{video_id}.md").read_text())
        assert all(name in fields for name in REFERENCE_FIELDS), fields
        assert fields["youtubeVideoId"] == video_id
        assert fields["llmModel"] == "openai/gpt-4o"
        assert fields["systemPromptRevision"] >= 1
        assert fields["transcriptWordCount"] == 300 + 50 * VIDEOS.index(video_id)
        assert fields["estimatedCostCents"] > 0
        assert body.startswith("# ")
        assert (data / "essays" / "revisions" / f"{video_id}.r{fields['systemPromptRevision']}.md").exists()

    settings = Settings.from_env({"ESSAYS_DATA_DIR": str(data), "ESSAYS_MODEL": "openai/gpt-4o"})
    warehouse = warehouse_for(settings)
    rows = warehouse.query("SELECT video_id, count(*) AS n, max(run_id) AS run_id FROM essays GROUP BY video_id "
                           "ORDER BY video_id")
    assert [(r["video_id"], r["n"]) for r in rows] == [(v, 1) for v in sorted(VIDEOS)]
    assert {r["run_id"] for r in rows} == {runs[0]["runId"]}
    assert warehouse.query("SELECT count(*) AS n FROM failures")[0]["n"] == 0
    assert settings.database_path.exists()  # the user's DuckDB file with its views


RUN_SIZE_VIDEOS = ["runsize0001", "runsize0002", "runsize0003", "runsize0004", "runsize0005"]


@pytest.mark.slow
@pytest.mark.timeout(480)
def test_ui_backfill_with_a_run_size_launches_runs_of_that_many_videos(tmp_path: Path):
    """ESSAYS_RUN_SIZE=2 over 5 videos: 3 runs (2 + 2 + 1 videos), each materializing the whole
    chain for its videos, and every essay written once."""
    data, runs = backfill_through_the_ui(tmp_path, RUN_SIZE_VIDEOS, ESSAYS_RUN_SIZE="2")

    assert len(runs) == 3, [(r["runId"], r["status"], range_of(r)) for r in runs]
    assert {r["status"] for r in runs} == {"SUCCESS"}
    assert sorted(range_of(r) for r in runs) == [
        ("runsize0001", "runsize0002"), ("runsize0003", "runsize0004"), ("runsize0005", "runsize0005")]

    warehouse = warehouse_for(Settings.from_env({"ESSAYS_DATA_DIR": str(data), "ESSAYS_MODEL": "openai/gpt-4o"}))
    rows = warehouse.query("SELECT video_id, count(*) AS n, max(run_id) AS run_id FROM essays GROUP BY video_id "
                           "ORDER BY video_id")
    assert [(r["video_id"], r["n"]) for r in rows] == [(v, 1) for v in RUN_SIZE_VIDEOS]
    run_of = {range_of(r)[0]: r["runId"] for r in runs}
    # each essay was written by the run of its own pair: the chain ran whole inside each run
    assert {r["video_id"]: r["run_id"] for r in rows} == {
        "runsize0001": run_of["runsize0001"], "runsize0002": run_of["runsize0001"],
        "runsize0003": run_of["runsize0003"], "runsize0004": run_of["runsize0003"],
        "runsize0005": run_of["runsize0005"]}
    for video_id in RUN_SIZE_VIDEOS:
        fields, _ = parse_essay((data / "essays" / f"{video_id}.md").read_text())
        assert fields["youtubeVideoId"] == video_id
    assert warehouse.query("SELECT count(*) AS n FROM failures")[0]["n"] == 0
