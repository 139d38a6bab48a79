"""`essay` launched alone from its partitions page (a real `dagster dev` backfill of [essay])
for a video whose upstream assets never ran: the run says what is missing and what to do, and
`failures` records it as `upstream_not_materialized`, not as a skip after an earlier failure."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from essay_assets.settings import Settings
from essay_assets.storage.warehouse import warehouse_for
from essay_assets_tests.support.chain import write_transcript
from testkit.dagster_dev import DagsterDev

VIDEO = "essayalone1"


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_essay_alone_without_upstream_says_what_to_do(tmp_path: Path):
    data = tmp_path / "data"
    (data / "transcripts").mkdir(parents=True)
    write_transcript(data, VIDEO, words=300)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ESSAYS_", "DAGSTER_"))}
    env.update({"ESSAYS_DATA_DIR": str(data), "ESSAYS_MODEL": "openai/gpt-4o", "OPENAI_API_KEY": "fake",
                "ESSAYS_API_BASE": "http://127.0.0.1:9/v1", "ESSAYS_OEMBED_URL": "http://127.0.0.1:9/oembed"})
    dev = DagsterDev(home=tmp_path / "dagster_home", cwd=tmp_path / "cwd", env=env,
                     log_path=tmp_path / "dagster_dev.log")
    try:
        dev.start(timeout_s=180)
        dev.add_partitions([VIDEO])
        backfill_id = dev.launch_backfill([VIDEO], ("essay",))
        status = dev.wait_backfill(backfill_id, timeout_s=240)
        log = dev.describe_backfill_runs(backfill_id)
    except BaseException:
        print(f"--- dagster dev log (tail) ---\n{dev.log_tail()}")
        raise
    finally:
        dev.stop()
    assert status != "COMPLETED_SUCCESS", log
    assert "no model answer yet for this video" in log and "Lineage → Materialize all" in log, log
    assert f"essays run {VIDEO}" in log, log
    assert "an earlier stage failed" not in log, log
    failures = warehouse_for(Settings.from_env({"ESSAYS_DATA_DIR": str(data)})).query("SELECT video_id, stage, reason FROM failures")
    assert failures == [{"video_id": VIDEO, "stage": "essay", "reason": "upstream_not_materialized"}]
