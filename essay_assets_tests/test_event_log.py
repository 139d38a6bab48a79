"""The shipped instance's event log: Dagster's SQLite files, with connections kept open."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    SqliteEventLogStorage,
)

from essay_assets.instance import ensure_dagster_home
from essay_assets.instance.event_log import PooledSqliteEventLogStorage
from essay_assets.settings import Settings


def _message(run_id: str, text: str) -> EventLogEntry:
    return EventLogEntry(error_info=None, level=logging.INFO, user_message=text, run_id=run_id,
                         timestamp=time.time(), step_key=None, job_name="essays_job", dagster_event=None)


def test_the_shipped_instance_uses_it_in_dagsters_own_layout(data_dir: Path):
    home = ensure_dagster_home(Settings.from_env())
    storage = dg.DagsterInstance.get().event_log_storage
    assert isinstance(storage, PooledSqliteEventLogStorage)
    # Same folder as Dagster's default, so switching storage classes loses no history.
    assert Path(storage._base_dir) == home / "history" / "runs"


def test_reads_and_writes_interoperate_with_the_stock_storage(tmp_path: Path):
    pooled = PooledSqliteEventLogStorage(str(tmp_path))
    stock = SqliteEventLogStorage(str(tmp_path))  # another connection, as another process has
    pooled.store_event(_message("run-a", "from pooled"))
    stock.store_event(_message("run-a", "from stock"))
    stock.add_dynamic_partitions("videos", ["abc123def45"])
    # Nothing stale: the kept connection sees what another connection committed.
    assert [e.user_message for e in pooled.get_logs_for_run("run-a")] == ["from pooled", "from stock"]
    assert pooled.get_dynamic_partitions("videos") == ["abc123def45"]
    pooled.add_dynamic_partitions("videos", ["zyx987wvu65"])
    assert stock.get_dynamic_partitions("videos") == ["abc123def45", "zyx987wvu65"]
    pooled.dispose()


def test_open_run_files_are_bounded_and_evicted_runs_still_read(tmp_path: Path):
    storage = PooledSqliteEventLogStorage(str(tmp_path), max_open_run_shards=3)
    run_ids = [f"run-{i}" for i in range(10)]
    for run_id in run_ids:
        storage.store_event(_message(run_id, f"hello {run_id}"))
    storage.get_dynamic_partitions("videos")  # the index file stays open besides the runs
    open_shards = list(storage._engines)
    assert sorted(open_shards) == sorted(["index", *run_ids[-3:]])  # the most recent runs
    for run_id in run_ids:  # the evicted ones reopen
        assert [e.user_message for e in storage.get_logs_for_run(run_id)] == [f"hello {run_id}"]
    assert len(storage._engines) == 4
    storage.dispose()
    assert not storage._engines


def test_wipe_closes_the_run_files_it_deletes(tmp_path: Path):
    storage = PooledSqliteEventLogStorage(str(tmp_path))
    storage.store_event(_message("run-w", "to be wiped"))
    storage.wipe()
    assert not (tmp_path / "run-w.db").exists()
    assert storage.get_logs_for_run("run-w") == []
    storage.store_event(_message("run-w", "after"))
    assert [e.user_message for e in storage.get_logs_for_run("run-w")] == ["after"]
    storage.dispose()


_WRITER = """
import sys, dagster as dg
instance = dg.DagsterInstance.get()
tag = sys.argv[1]
for i in range(150):
    instance.add_dynamic_partitions("videos", [f"{tag}{i:08d}"])
    instance.report_runless_asset_event(dg.AssetMaterialization("transcript", partition=f"{tag}{i:08d}"))
"""


def test_processes_writing_at_once_lose_nothing(data_dir: Path):
    """Kept connections must not turn SQLite's short write locks into 'database is locked'."""
    ensure_dagster_home(Settings.from_env())
    # Create the databases first, as `essays run`/`essays ui` do: Dagster's own first-time
    # setup races when several processes create a new instance at once (stock storage too).
    dg.DagsterInstance.get().get_dynamic_partitions("videos")
    writers = [subprocess.Popen([sys.executable, "-c", _WRITER, tag], stderr=subprocess.PIPE, text=True)
               for tag in ("p1", "p2", "p3")]
    for writer in writers:
        _, err = writer.communicate(timeout=300)
        assert writer.returncode == 0, err[-2000:]
    instance = dg.DagsterInstance.get()
    assert len(instance.get_dynamic_partitions("videos")) == 450
    materialized = instance.get_materialized_partitions(dg.AssetKey("transcript"))
    assert len(materialized) == 450


def test_an_untouched_older_template_is_upgraded_and_an_edited_one_kept(data_dir: Path, tmp_path: Path,
                                                                         monkeypatch):
    from essay_assets.instance import shipped_template

    older = (Path(__file__).parent / "fixtures" / "dagster.yaml.shipped-before-event-log").read_text()
    assert "event_log_storage" not in older
    cases = (("untouched", older, shipped_template(), PooledSqliteEventLogStorage),
             ("edited", older + "\n# my own run limits\n", None, SqliteEventLogStorage))
    for name, text, expected, storage_class in cases:
        home = tmp_path / name
        home.mkdir()
        (home / "dagster.yaml").write_text(text)
        monkeypatch.setenv("DAGSTER_HOME", str(home))
        ensure_dagster_home(Settings.from_env())
        assert (home / "dagster.yaml").read_text() == (expected or text)
        assert type(dg.DagsterInstance.get().event_log_storage) is storage_class


def test_a_home_from_before_the_stage_folders_loads_the_moved_event_log(data_dir: Path, tmp_path: Path, monkeypatch):
    """The event log moved from essay_assets.event_log to essay_assets.instance.event_log:
    an untouched old template is replaced, and an edited one has just its module line moved."""
    from essay_assets.instance import shipped_template

    older = (Path(__file__).parent / "fixtures" / "dagster.yaml.shipped-before-stage-folders").read_text()
    assert "module: essay_assets.event_log\n" in older
    edited = older + "\n# my own run limits\n"
    cases = (("untouched", older, shipped_template()),
             ("edited", edited, edited.replace("essay_assets.event_log", "essay_assets.instance.event_log")))
    for name, text, expected in cases:
        home = tmp_path / name
        home.mkdir()
        (home / "dagster.yaml").write_text(text)
        monkeypatch.setenv("DAGSTER_HOME", str(home))
        ensure_dagster_home(Settings.from_env())
        assert (home / "dagster.yaml").read_text() == expected
        assert type(dg.DagsterInstance.get().event_log_storage) is PooledSqliteEventLogStorage


def test_the_partition_list_is_remembered_only_while_no_one_changed_it(tmp_path: Path):
    pooled = PooledSqliteEventLogStorage(str(tmp_path))
    stock = SqliteEventLogStorage(str(tmp_path))  # another connection, as another process has
    pooled.add_dynamic_partitions("videos", ["aaaaaaaaaaa", "bbbbbbbbbbb"])
    assert pooled.get_dynamic_partitions("videos") == ["aaaaaaaaaaa", "bbbbbbbbbbb"]
    assert pooled.get_dynamic_partitions("videos") == ["aaaaaaaaaaa", "bbbbbbbbbbb"]  # from memory
    stock.delete_dynamic_partition("videos", "bbbbbbbbbbb")
    assert pooled.get_dynamic_partitions("videos") == ["aaaaaaaaaaa"]
    assert not pooled.has_dynamic_partition("videos", "bbbbbbbbbbb")
    stock.add_dynamic_partitions("videos", ["bbbbbbbbbbb"])
    assert pooled.has_dynamic_partition("videos", "bbbbbbbbbbb")
    pooled.delete_dynamic_partition("videos", "aaaaaaaaaaa")  # its own writes, too
    assert pooled.get_dynamic_partitions("videos") == ["bbbbbbbbbbb"]
    assert stock.get_dynamic_partitions("videos") == ["bbbbbbbbbbb"]
    pooled.dispose()


def _ranged_run_records(home: Path, monkeypatch, batch_size: str) -> dict:
    """Materialize two single-run-backfill assets over 3 dynamic partitions in one run; what the
    instance then tells about it."""
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", batch_size)
    videos = dg.DynamicPartitionsDefinition(name="videos")
    common = dict(partitions_def=videos, backfill_policy=dg.BackfillPolicy.single_run())

    @dg.asset(**common)
    def first(context) -> None:  # context unannotated: this module's annotations are strings
        for key in context.partition_keys:
            context.add_asset_metadata({"words": len(key)}, partition_key=key)

    @dg.asset(**common, deps=[first])
    def second() -> None:
        pass

    @dg.asset_check(asset=first)
    def first_is_fine():
        return dg.AssetCheckResult(passed=True)

    keys = ["p0000000001", "p0000000002", "p0000000003"]
    with dg.DagsterInstance.get() as instance:
        instance.add_dynamic_partitions("videos", keys)
        result = dg.materialize([first, second], instance=instance, selection=[first, second],
                                tags={"dagster/asset_partition_range_start": keys[0],
                                      "dagster/asset_partition_range_end": keys[-1]})
        assert result.success
        events = instance.get_records_for_run(result.run_id, limit=1000).records
        counts: dict[str, int] = {}
        for record in events:
            name = record.event_log_entry.dagster_event_type
            counts[str(name)] = counts.get(str(name), 0) + 1
        latest = {}
        for key in (first.key, second.key):
            record = instance.get_asset_records([key])[0].asset_entry.last_materialization_record
            latest[key.to_user_string()] = (record.event_log_entry.dagster_event.partition, record.run_id)
        planned = {key.to_user_string(): instance.get_latest_planned_materialization_info(key).run_id
                   for key in (first.key, second.key)}
        return {
            "run_id": result.run_id,
            "types": counts,
            "materialized": {k.to_user_string(): sorted(instance.get_materialized_partitions(k))
                             for k in (first.key, second.key)},
            "metadata": {r.partition_key: r.asset_materialization.metadata["words"].value
                         for r in instance.fetch_materializations(first.key, limit=10).records},
            "latest": latest,
            "planned": planned,
            "storage": type(instance.event_log_storage).__name__,
        }


def test_a_batch_of_events_is_stored_as_one_by_one_would(data_dir: Path, tmp_path: Path, monkeypatch):
    """A ranged run's planned events and materializations, handed over in batches, leave the
    instance as Dagster's own SQLite storage leaves it, one event at a time."""
    from essay_assets.instance import shipped_template

    batches = []
    store_event_batch = PooledSqliteEventLogStorage.store_event_batch

    def counting(self, events):  # the real method, counted: the batch path must really run
        batches.append(len(events))
        store_event_batch(self, events)

    monkeypatch.setattr(PooledSqliteEventLogStorage, "store_event_batch", counting)
    runs = {}
    for name, yaml, batch_size in (("stock", "telemetry:\n  enabled: false\n", "0"),
                                   ("pooled", shipped_template(), "2")):
        home = tmp_path / name
        home.mkdir()
        (home / "dagster.yaml").write_text(yaml)
        runs[name] = _ranged_run_records(home, monkeypatch, batch_size)
    stock, pooled = runs["stock"], runs["pooled"]
    assert (stock["storage"], pooled["storage"]) == ("SqliteEventLogStorage", "PooledSqliteEventLogStorage")
    for run in (stock, pooled):
        run["latest"] = {k: (partition, run_id == run["run_id"]) for k, (partition, run_id) in run["latest"].items()}
        run["planned"] = {k: run_id == run["run_id"] for k, run_id in run["planned"].items()}
        del run["run_id"], run["storage"]
    assert pooled == stock
    assert pooled["types"]["DagsterEventType.ASSET_MATERIALIZATION_PLANNED"] == 6
    assert pooled["materialized"]["first"] == ["p0000000001", "p0000000002", "p0000000003"]
    assert pooled["metadata"] == {"p0000000001": 11, "p0000000002": 11, "p0000000003": 11}
    assert batches and max(batches) == 2
