"""Dagster's SQLite event log, keeping its database connections open between events.

The stock `SqliteEventLogStorage` builds a new SQLAlchemy engine (a new SQLite connection,
with a new compiled-statement cache) for every event it stores and every query it runs, and
throws it away afterwards. A 100-video run records about 900 events (a planned and a done
materialization per video and asset, plus the steps' own), and every `add_asset_metadata`
for a dynamic partition asks the index for the partition list: measured on the 2-core box,
a run over 100 unchanged videos took 26.5 s with the stock storage and 9.8 s with engines
that are kept (bench/backfill.py, docs/benchmarks.md).

This subclass changes only how, never what, is read and written:
- one engine per database file, kept for the life of the process (the index file always, the
  most recent run files up to a bound, so a webserver that browses thousands of runs does not
  hold thousands of open files);
- the dynamic partition list is remembered until the index file changes: every
  `add_asset_metadata(partition_key=...)` in a step lists all partitions to check the key, so a
  1,000-video run listed 1,000 keys 4,000 times (17 % of its CPU). SQLite's `PRAGMA
  data_version` says whether any connection, in any process, committed to the file since;
- a batch of events (Dagster hands them over when `DAGSTER_EVENT_BATCH_SIZE` is set: a run's
  planned materializations, a ranged step's materializations) is written in one transaction
  per file instead of two per event, and the assets table's latest-event row is written once
  per asset and event type, as Dagster's PostgreSQL storage does.
The files, the schema, WAL mode, the busy timeout and the process-wide lock around each
connection are Dagster's own, so the webserver, the daemon and runs can share an instance
exactly as before.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import sqlalchemy as db
from dagster import Field, IntSource, StringSource
from dagster._core.events import ASSET_CHECK_EVENTS, ASSET_EVENTS, BATCH_WRITABLE_EVENTS
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log.schema import SqlEventLogStorageTable
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SQLITE_BUSY_TIMEOUT_SECONDS,
    SqliteEventLogStorage,
)
from dagster._serdes import ConfigurableClassData

from essay_assets.instance.event_batches import enable_event_batches

DEFAULT_OPEN_RUN_SHARDS = 8


def default_base_dir() -> str:
    """Where Dagster's default instance keeps the event log: $DAGSTER_HOME/history/runs."""
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        raise RuntimeError("DAGSTER_HOME is not set; the event log needs a home for its files")
    return os.path.join(os.path.expanduser(home), "history", "runs")


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """`SqliteEventLogStorage` with one long-lived engine per database file."""

    def __init__(self, base_dir: str | None = None, inst_data: ConfigurableClassData | None = None,
                 max_open_run_shards: int = DEFAULT_OPEN_RUN_SHARDS) -> None:
        self._engines: OrderedDict[str, db.engine.Engine] = OrderedDict()
        self._engines_pid = os.getpid()
        self._engines_lock = threading.Lock()
        self._max_open_run_shards = max(1, max_open_run_shards)
        self._known_tables: set[str] = set()
        self._partitions_cache: dict[str, tuple[int, list[str], frozenset[str]]] = {}
        self._version_probe: sqlite3.Connection | None = None
        self._version_lock = threading.Lock()
        super().__init__(base_dir or default_base_dir(), inst_data=inst_data)
        enable_event_batches()

    @classmethod
    def config_type(cls):
        return {
            "base_dir": Field(StringSource, is_required=False),
            "max_open_run_shards": Field(IntSource, is_required=False, default_value=DEFAULT_OPEN_RUN_SHARDS),
        }

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        return cls(inst_data=inst_data, **config_value)

    def _engine(self, shard: str) -> db.engine.Engine:
        with self._engines_lock:
            if self._engines_pid != os.getpid():
                # A forked child must not share its parent's open SQLite handles.
                self._engines = OrderedDict()
                self._engines_pid = os.getpid()
            engine = self._engines.get(shard)
            if engine is not None:
                self._engines.move_to_end(shard)
                return engine
            engine = db.create_engine(self.conn_string_for_shard(shard),
                                      connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS})
            self._engines[shard] = engine
            self._evict_run_shards()
            return engine

    def _evict_run_shards(self) -> None:
        run_shards = [shard for shard in self._engines if shard != INDEX_SHARD_NAME]
        for shard in run_shards[: max(0, len(run_shards) - self._max_open_run_shards)]:
            self._engines.pop(shard).dispose()

    @contextmanager
    def _connect(self, shard: str) -> Iterator[db.engine.Connection]:
        if not isinstance(shard, str):
            raise TypeError(f"shard must be a run ID or {INDEX_SHARD_NAME!r}, got {shard!r}")
        with self._db_lock:
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def has_table(self, table_name: str) -> bool:
        # Called before many index writes; tables appear (migrations) but never disappear,
        # so a table once seen is remembered.
        if table_name in self._known_tables:
            return True
        with self._engine(INDEX_SHARD_NAME).connect() as conn:
            present = bool(conn.dialect.has_table(conn, table_name))
        if present:
            self._known_tables.add(table_name)
        return present

    # ---- the dynamic partition list, remembered while the index file is unchanged ----------
    def _index_version(self) -> int:
        """SQLite's `data_version` of the index file, on a connection of its own: it changes
        whenever any other connection (this process's engine included) commits to the file."""
        with self._version_lock:
            if self._version_probe is None or self._engines_pid != os.getpid():
                self._version_probe = sqlite3.connect(self.path_for_shard(INDEX_SHARD_NAME),
                                                      timeout=SQLITE_BUSY_TIMEOUT_SECONDS, check_same_thread=False)
            return self._version_probe.execute("PRAGMA data_version").fetchone()[0]

    def _cached_partitions(self, partitions_def_name: str) -> tuple[int, list[str], frozenset[str]]:
        version = self._index_version()  # before the query: a commit in between makes a miss, never a stale hit
        cached = self._partitions_cache.get(partitions_def_name)
        if cached is None or cached[0] != version:
            keys = list(super().get_dynamic_partitions(partitions_def_name))
            cached = (version, keys, frozenset(keys))
            self._partitions_cache[partitions_def_name] = cached
        return cached

    def get_dynamic_partitions(self, partitions_def_name: str) -> Sequence[str]:
        return list(self._cached_partitions(partitions_def_name)[1])

    def has_dynamic_partition(self, partitions_def_name: str, partition_key: str) -> bool:
        return partition_key in self._cached_partitions(partitions_def_name)[2]

    # ---- batches of events, one transaction per file --------------------------------------
    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        """What `store_event` does for each event, in one transaction per file. Dagster sends
        batches of planned events, planned checks and materializations only (BATCH_WRITABLE_EVENTS);
        anything else is stored one by one, as the base class does."""
        if not events or any(not e.is_dagster_event or e.dagster_event_type not in BATCH_WRITABLE_EVENTS
                             for e in events):
            super().store_event_batch(events)
            return
        # Rows, not `prepare_insert_event` statements: one compiled INSERT serves the whole
        # batch (building and caching a statement per event cost as much as the insert).
        rows = [self._event_to_row(event) for event in events]
        insert = SqlEventLogStorageTable.insert()
        for run_id in dict.fromkeys(event.run_id for event in events):
            with self.run_connection(run_id) as conn:
                conn.execute(insert, [row for event, row in zip(events, rows) if event.run_id == run_id])
        indexed: list[tuple[EventLogEntry, int]] = []
        with self.index_transaction() as conn:
            for event, row in zip(events, rows):
                if event.dagster_event_type in ASSET_EVENTS or event.dagster_event_type in ASSET_CHECK_EVENTS:
                    indexed.append((event, conn.execute(insert, row).inserted_primary_key[0]))
            asset_events = [(e, i) for e, i in indexed if e.dagster_event_type in ASSET_EVENTS]
            self._store_asset_event_tags(conn, [e for e, _ in asset_events], [i for _, i in asset_events])
            # The assets table keeps each asset's latest event of a kind: the last of the batch wins.
            latest = {(e.dagster_event.asset_key, e.dagster_event_type): (e, i) for e, i in asset_events}
            for event, event_id in latest.values():
                self._store_asset_event(conn, event, event_id)
        for event, event_id in indexed:
            if event.dagster_event_type in ASSET_CHECK_EVENTS:
                self.store_asset_check_event(event, event_id)

    def _dispose_engines(self) -> None:
        with self._engines_lock:
            engines, self._engines = self._engines, OrderedDict()
        for engine in engines.values():
            engine.dispose()
        with self._version_lock:
            probe, self._version_probe = self._version_probe, None
        if probe is not None:
            probe.close()
        self._partitions_cache.clear()

    def wipe(self) -> None:
        self._dispose_engines()  # the run files are about to be deleted
        self._known_tables.clear()
        super().wipe()

    def dispose(self) -> None:
        super().dispose()
        self._dispose_engines()
