"""The instance in PostgreSQL under real Dagster processes (the server from testkit/postgres.py).

The split deployment: a code server serving essay_assets.definitions, a webserver and a daemon
reaching it through a workspace file's grpc_server entry, sharing a DAGSTER_HOME whose instance
is in PostgreSQL. A backfill launched over GraphQL as the UI launches it writes every essay, and
the daemon's feed sensor keeps its cursor in the database. Then `dagster dev` on the same kind of
instance ticks the schedule, whose run writes the missing essay.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from essay_assets.settings import Settings
from essay_assets.storage.warehouse import warehouse_for
from essay_assets.writing.rendering import parse_essay
from essay_assets_tests.support.chain import write_transcript
from testkit.dagster_dev import ESSAY_ASSETS, DagsterDev
from testkit.openai_stub import LoopbackLLM
from testkit.youtube_feed_server import YouTubeFeedServer, fixture

BACKFILL_VIDEOS = ["splitvideo1", "splitvideo2", "splitvideo3"]
CHANNEL = "UCq7zR3yDd0tTq_QZ8t2QeUw"
FEED_VIDEO = "vidA1_Dec15"  # the oldest video of fixtures/feeds/channel_long_conversations.xml
SCHEDULED_VIDEO = "schedvideo1"


def deployment_env(data: Path, api_base: str, postgres_url: str, **extra: str) -> dict[str, str]:
    """What every process of the deployment gets: the same ESSAYS_* settings and database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ESSAYS_", "DAGSTER_"))}
    env.pop("OPENROUTER_API_KEY", None)
    return {**env, "ESSAYS_DATA_DIR": str(data), "ESSAYS_MODEL": "openai/gpt-4o", "ESSAYS_API_BASE": api_base,
            "OPENAI_API_KEY": "fake", "ESSAYS_OEMBED_URL": "http://127.0.0.1:9/oembed",
            "ESSAYS_YOUTUBE_MIN_INTERVAL_S": "0", "ESSAYS_LLM_RETRY_BASE_S": "0.05",
            "ESSAYS_STEP_RETRY_DELAY_S": "0.2", "ESSAYS_POSTGRES_URL": postgres_url,
            "DAGSTER_DISABLE_TELEMETRY": "1", **extra}


def wait_for(predicate, timeout_s: float, what: str, describe=lambda: ""):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(1)
    pytest.fail(f"Timed out after {timeout_s:.0f} s waiting for {what}.\n{describe()}")


def instigator_state(instance: dg.DagsterInstance, name: str):
    states = [state for state in instance.all_instigator_state() if state.instigator_name == name]
    return states[0] if states else None


def runs_tagged(instance: dg.DagsterInstance, key: str, value: str) -> list[dg.DagsterRun]:
    return list(instance.get_runs(filters=dg.RunsFilter(tags={key: value})))


def use_instance_of(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dg.DagsterInstance:
    """The deployment's instance, opened by the test as another client of the same database."""
    for name in ("DAGSTER_HOME", "ESSAYS_POSTGRES_URL"):
        monkeypatch.setenv(name, env[name])
    return dg.DagsterInstance.get()


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_split_deployment_backfills_every_essay_and_keeps_the_feed_cursor_in_postgres(
        tmp_path: Path, postgres_server, monkeypatch: pytest.MonkeyPatch):
    data = tmp_path / "data"
    (data / "transcripts").mkdir(parents=True)
    for seed, video_id in enumerate([*BACKFILL_VIDEOS, FEED_VIDEO]):
        write_transcript(data, video_id, words=300, seed=seed)
    (data / "follow.yaml").write_text(f"channels:\n  - id: {CHANNEL}\n    max_new_per_poll: 1\n")

    with LoopbackLLM(delay_s=0.2) as llm, YouTubeFeedServer() as feeds:
        feeds.feeds[f"channel_id={CHANNEL}"] = fixture("channel_long_conversations.xml")
        env = deployment_env(data, llm.base_url, postgres_server.create_database("split"),
                             ESSAYS_YOUTUBE_FEED_BASE=feeds.feed_base)
        dev = DagsterDev(home=tmp_path / "dagster_home", cwd=tmp_path / "cwd", env=env,
                         log_path=tmp_path / "webserver.log", launcher="split")
        try:
            dev.start(timeout_s=240)
            dev.add_partitions(BACKFILL_VIDEOS)
            backfill_id = dev.launch_backfill(BACKFILL_VIDEOS, ESSAY_ASSETS)
            status = dev.wait_backfill(backfill_id, timeout_s=300)
            if status != "COMPLETED_SUCCESS":
                pytest.fail(f"Backfill ended {status}.\n{dev.describe_backfill_runs(backfill_id)}\n{dev.log_tail()}")
            backfill_runs = dev.backfill_runs(backfill_id)

            # The daemon's first tick of the feed sensor requested the feed's oldest video.
            instance = use_instance_of(dev.env, monkeypatch)
            sensor_runs = wait_for(
                lambda: [run for run in runs_tagged(instance, "essays/source", f"channel:{CHANNEL}")
                         if run.status == dg.DagsterRunStatus.SUCCESS],
                180, "the feed sensor's run to succeed", dev.log_tail)
            cursor = instigator_state(instance, "followed_feeds_sensor").instigator_data.cursor
        except BaseException:
            print(dev.log_tail())
            raise
        finally:
            dev.stop()

    assert [run["status"] for run in backfill_runs] == ["SUCCESS"]
    assert [run.tags.get("dagster/partition") for run in sensor_runs] == [FEED_VIDEO]
    assert FEED_VIDEO in cursor and f"channel:{CHANNEL}" in cursor
    assert type(instance.run_storage).__module__.startswith("dagster_postgres")
    assert sorted(str(p.relative_to(dev.home)) for p in dev.home.rglob("*.db")) == []  # no SQLite instance

    for video_id in [*BACKFILL_VIDEOS, FEED_VIDEO]:
        fields, _ = parse_essay((data / "essays" / f"{video_id}.md").read_text())
        assert fields["youtubeVideoId"] == video_id
    rows = warehouse_for(Settings.from_env({"ESSAYS_DATA_DIR": str(data)})).query(
        "SELECT video_id, run_id FROM essays ORDER BY video_id")
    assert [row["video_id"] for row in rows] == sorted([*BACKFILL_VIDEOS, FEED_VIDEO])
    assert {row["run_id"] for row in rows if row["video_id"] in BACKFILL_VIDEOS} == {backfill_runs[0]["runId"]}
    instance.dispose()


@pytest.mark.slow
@pytest.mark.timeout(480)
def test_dagster_dev_on_postgres_ticks_the_schedule_which_writes_the_missing_essay(
        tmp_path: Path, postgres_server, monkeypatch: pytest.MonkeyPatch):
    data = tmp_path / "data"
    (data / "transcripts").mkdir(parents=True)
    write_transcript(data, SCHEDULED_VIDEO, words=300)
    with LoopbackLLM() as llm:
        env = deployment_env(data, llm.base_url, postgres_server.create_database("schedule"),
                             ESSAYS_SCHEDULE_CRON="* * * * *")  # a tick every minute
        dev = DagsterDev(home=tmp_path / "dagster_home", cwd=tmp_path / "cwd", env=env,
                         log_path=tmp_path / "dagster_dev.log", launcher="workspace")
        added = subprocess.run([sys.executable, "-m", "essay_assets.cli", "add", SCHEDULED_VIDEO], env=dev.env,
                               cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert added.returncode == 0, added.stderr
        try:
            dev.start(timeout_s=180)
            instance = use_instance_of(dev.env, monkeypatch)
            schedule = wait_for(lambda: instigator_state(instance, "missing_or_stale_essays"), 60, "the schedule state")

            def requested_tick():
                ticks = instance.get_ticks(schedule.instigator_origin_id, schedule.selector_id)
                return [tick for tick in ticks if tick.status.value == "SUCCESS" and tick.run_ids]

            [tick] = wait_for(requested_tick, 150, "a schedule tick that requests a run", dev.log_tail)[-1:]
            run = wait_for(lambda: (r := instance.get_run_by_id(tick.run_ids[0])) and r.is_finished and r, 180,
                           "the scheduled run to finish", dev.log_tail)
        except BaseException:
            print(dev.log_tail())
            raise
        finally:
            dev.stop()

    assert run.status == dg.DagsterRunStatus.SUCCESS
    assert run.tags.get("dagster/partition") == SCHEDULED_VIDEO
    assert tick.run_keys and tick.run_keys[0].startswith(f"{SCHEDULED_VIDEO}:r")
    fields, _ = parse_essay((data / "essays" / f"{SCHEDULED_VIDEO}.md").read_text())
    assert fields["youtubeVideoId"] == SCHEDULED_VIDEO
    instance.dispose()
