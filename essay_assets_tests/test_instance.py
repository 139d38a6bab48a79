"""The instance on PostgreSQL (ESSAYS_POSTGRES_URL), against a real server the tests start
(testkit/postgres.py): the instance file for each storage and the switch between them, the
whole chain through `essays run`, first uses and runs at once. SQLite's own instance tests are in
test_event_log.py and faults/test_processes.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import psycopg2
import pytest
import yaml

from essay_assets.instance import (
    POSTGRES_STORAGE,
    InstanceFileError,
    ensure_dagster_home,
    instance_template,
    open_instance,
    shipped_template,
)
from essay_assets.settings import Settings
from essay_assets.storage.warehouse import warehouse_for
from essay_assets.writing.rendering import parse_essay
from essay_assets_tests.support.chain import write_transcript

FIXTURES = Path(__file__).parent / "fixtures"
OUR_SQLITE_EVENT_LOG = "essay_assets.instance.event_log"

# `essays` in a fresh process, then what that process loaded (nothing SQLite-specific of ours) and
# whether Dagster handed its events over in batches (one PostgreSQL connection per batch).
_ESSAYS_THEN_MODULES = """
import json, os, sys
from essay_assets.cli.main import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "sqlite_event_log_loaded": %r in sys.modules,
                  "event_batch_size": os.environ.get("DAGSTER_EVENT_BATCH_SIZE")}))
""" % OUR_SQLITE_EVENT_LOG


def essays(*args: str, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "essay_assets.cli", *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen, timeout: float = 240) -> tuple[int, str, str]:
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate(timeout=10)
        pytest.fail(f"{process.args} did not finish within {timeout} s:\n{out}\n{err}")
    return process.returncode, out, err


def dagster_runs(postgres_url: str) -> list[tuple[str, str]]:
    """(run_id, status) of every run, read straight from the database with psql's driver."""
    conn = psycopg2.connect(postgres_url.replace("postgresql+psycopg2://", "postgresql://"))
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT run_id, status FROM runs ORDER BY create_timestamp")
            return list(cursor.fetchall())
    finally:
        conn.close()


def sessions_and_events(postgres_url: str) -> tuple[int, int]:
    """Connections ever opened to this database (PostgreSQL counts them) and events stored."""
    conn = psycopg2.connect(postgres_url.replace("postgresql+psycopg2://", "postgresql://"))
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
            sessions = cursor.fetchone()[0]
            cursor.execute("SELECT to_regclass('event_logs') IS NOT NULL")
            events = 0
            if cursor.fetchone()[0]:
                cursor.execute("SELECT count(*) FROM event_logs")
                events = cursor.fetchone()[0]
            return sessions, events
    finally:
        conn.close()


def sqlite_files(home: Path) -> list[str]:
    return sorted(str(path.relative_to(home)) for path in home.rglob("*.db"))


# ---- the instance file ----------------------------------------------------------------------


def test_the_postgres_file_names_the_variable_and_differs_only_in_storage():
    sqlite, postgres = yaml.safe_load(instance_template(False)), yaml.safe_load(instance_template(True))
    assert instance_template(False) == shipped_template()
    assert postgres.pop("storage") == {"postgres": {"postgres_url": {"env": "ESSAYS_POSTGRES_URL"}}}
    assert sqlite.pop("event_log_storage")["class"] == "PooledSqliteEventLogStorage"
    assert postgres == sqlite  # pools, run queue, run monitoring, telemetry: the same for both
    assert POSTGRES_STORAGE in instance_template(True)


def test_an_untouched_home_follows_the_setting_both_ways_and_never_holds_the_password(
        data_dir: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch):
    home = Path(os.environ["DAGSTER_HOME"])
    monkeypatch.delenv("ESSAYS_POSTGRES_URL")
    with open_instance(Settings.from_env()) as instance:  # a SQLite home first, as every home so far
        instance.add_dynamic_partitions("videos", ["sqlitevideo"])
    assert (home / "dagster.yaml").read_text() == instance_template(False)

    # The local server trusts loopback, so any password is accepted: this one must appear nowhere.
    password = "pg-s3cret-Passw0rd"
    monkeypatch.setenv("ESSAYS_POSTGRES_URL", postgres_url.replace("postgres@", f"postgres:{password}@"))
    with open_instance(Settings.from_env()) as instance:
        assert type(instance.event_log_storage).__module__.startswith("dagster_postgres")
        assert type(instance.run_storage).__module__.startswith("dagster_postgres")
        assert instance.get_dynamic_partitions("videos") == []  # a new history, in the database
        instance.add_dynamic_partitions("videos", ["postgresvid"])
    assert (home / "dagster.yaml").read_text() == instance_template(True)
    assert not [path for path in home.rglob("*") if path.is_file() and password.encode() in path.read_bytes()]

    monkeypatch.delenv("ESSAYS_POSTGRES_URL")
    with open_instance(Settings.from_env()) as instance:  # back: the SQLite files are still there
        assert (home / "dagster.yaml").read_text() == instance_template(False)
        assert instance.get_dynamic_partitions("videos") == ["sqlitevideo"]


def test_an_older_untouched_template_becomes_the_postgres_one(data_dir: Path, monkeypatch: pytest.MonkeyPatch):
    home = Path(os.environ["DAGSTER_HOME"])
    home.mkdir()
    (home / "dagster.yaml").write_text((FIXTURES / "dagster.yaml.shipped-before-event-log").read_text())
    monkeypatch.setenv("ESSAYS_POSTGRES_URL", "postgresql+psycopg2://essays@127.0.0.1:9/essays")
    ensure_dagster_home(Settings.from_env())
    assert (home / "dagster.yaml").read_text() == instance_template(True)


def test_an_edited_file_that_disagrees_with_the_setting_stops_with_what_to_do(data_dir: Path,
                                                                             monkeypatch: pytest.MonkeyPatch):
    home = Path(os.environ["DAGSTER_HOME"])
    home.mkdir()
    config = home / "dagster.yaml"
    edited_sqlite = shipped_template() + "\n# my own run limits\n"
    config.write_text(edited_sqlite)
    monkeypatch.setenv("ESSAYS_POSTGRES_URL", "postgresql+psycopg2://essays@127.0.0.1:9/essays")
    with pytest.raises(InstanceFileError, match="edited and keeps the instance in SQLite") as raised:
        ensure_dagster_home(Settings.from_env())
    assert str(config) in str(raised.value) and "storage: postgres:" in str(raised.value)
    assert config.read_text() == edited_sqlite

    edited_postgres = instance_template(True) + "\n# my own run limits\n"
    config.write_text(edited_postgres)
    ensure_dagster_home(Settings.from_env())  # agrees: kept as it is
    assert config.read_text() == edited_postgres
    monkeypatch.delenv("ESSAYS_POSTGRES_URL")
    with pytest.raises(InstanceFileError, match="ESSAYS_POSTGRES_URL, which is not set"):
        ensure_dagster_home(Settings.from_env())
    assert config.read_text() == edited_postgres

    # The command line says it in one line, exit 2, like a bad setting.
    done = subprocess.run([sys.executable, "-m", "essay_assets.cli", "status"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("essays: ") and "Traceback" not in done.stderr


# ---- the chain and processes on PostgreSQL --------------------------------------------------


CHAIN_VIDEOS = ["pgchainvid1", "pgchainvid2", "pgchainvid3"]


def test_essays_run_writes_every_essay_with_its_run_in_postgres(llm_server, data_dir: Path, postgres_url: str):
    for seed, video_id in enumerate(CHAIN_VIDEOS):
        write_transcript(data_dir, video_id, words=300, seed=seed)
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_EVENT_BATCH_SIZE"}
    with open_instance(Settings.from_env()):  # the tables first: creating them opens connections of its own
        pass
    sessions_before, _ = sessions_and_events(postgres_url)
    done = subprocess.run([sys.executable, "-c", _ESSAYS_THEN_MODULES, "run", *CHAIN_VIDEOS], cwd=data_dir,
                          capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"code": 0, "sqlite_event_log_loaded": False, "event_batch_size": "500"}
    # dagster-postgres alone opens a connection per query and per event: the run keeps its own.
    sessions_after, events = sessions_and_events(postgres_url)
    print(f"sessions opened {sessions_after - sessions_before - 1}, events {events}")
    assert sessions_after - sessions_before - 1 < events / 2  # - 1: the count's own session

    for video_id in CHAIN_VIDEOS:
        fields, _ = parse_essay((data_dir / "essays" / f"{video_id}.md").read_text())
        assert fields["youtubeVideoId"] == video_id
    rows = warehouse_for(Settings.from_env()).query("SELECT video_id, run_id FROM essays ORDER BY video_id")
    assert [row["video_id"] for row in rows] == CHAIN_VIDEOS
    runs = dagster_runs(postgres_url)
    assert [status for _, status in runs] == ["SUCCESS"]
    assert {row["run_id"] for row in rows} == {runs[0][0]}
    assert sqlite_files(Path(os.environ["DAGSTER_HOME"])) == []  # nothing of the instance in SQLite files
    with dg.DagsterInstance.get() as instance:
        assert sorted(instance.get_dynamic_partitions("videos")) == CHAIN_VIDEOS
        assert instance.get_materialized_partitions(dg.AssetKey("essay")) == set(CHAIN_VIDEOS)


@pytest.mark.slow
def test_eight_first_uses_at_once_create_one_working_instance(data_dir: Path, postgres_url: str):
    """8 `essays add` at once on an empty database: all exit 0, and the instance knows every video."""
    ids = [f"pgparallel{i}" for i in range(8)]  # 11 characters each
    results = [finish(process) for process in [essays("add", video_id, cwd=data_dir) for video_id in ids]]
    assert [code for code, _, _ in results] == [0] * 8, [err[-1500:] for _, _, err in results]
    with dg.DagsterInstance.get() as instance:
        assert sorted(instance.get_dynamic_partitions("videos")) == ids
    code, out, err = finish(essays("status", cwd=data_dir))
    assert code == 0, err
    assert all(video_id in out for video_id in ids), out


@pytest.mark.slow
def test_four_essays_runs_at_once_all_succeed(llm_server, data_dir: Path, postgres_url: str):
    groups = [[f"pgconcur{g}v{i}" for i in range(1)] for g in range(4)]  # 11 characters each
    for seed, video_id in enumerate(v for group in groups for v in group):
        write_transcript(data_dir, video_id, words=300, seed=seed)
    processes = [essays("run", *group, cwd=data_dir) for group in groups]
    results = [finish(process, timeout=400) for process in processes]
    assert [code for code, _, _ in results] == [0] * 4, [out[-800:] + err[-1500:] for _, out, err in results]

    runs = dagster_runs(postgres_url)
    assert [status for _, status in runs] == ["SUCCESS"] * 4
    rows = warehouse_for(Settings.from_env()).query("SELECT video_id, run_id FROM essays ORDER BY video_id")
    assert [row["video_id"] for row in rows] == sorted(v for group in groups for v in group)
    assert len({row["run_id"] for row in rows}) == 4
    assert llm_server.call_count == 4
