"""Dagster's SQLite event log, keeping its database connections open between events.

The stock `SqliteEventLogStorage` builds a new SQLAlchemy engine (a new SQLite connection,
with a new compiled-statement cache) for every event it stores and every query it runs, and
throws it away afterwards. A 100-video run records about 900 events (a planned and a done
materialization per video and asset, plus the steps' own), and every `add_asset_metadata`
for a dynamic partition asks the index for the partition list: measured on the 2-core box,
a run over 100 unchanged videos took 26.5 s with the stock storage and 9.8 s with engines
that are kept (bench/backfill.py, docs/benchmarks.md).

This subclass changes only that: one engine per database file, kept for the life of the
process (the index file always, the most recent run files up to a bound, so a webserver that
browses thousands of runs does not hold thousands of open files). The files, the schema,
WAL mode, the busy timeout and the process-wide lock around each connection are Dagster's
own, so the webserver, the daemon and runs can share an instance exactly as before.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as db
from dagster import Field, IntSource, StringSource
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SQLITE_BUSY_TIMEOUT_SECONDS,
    SqliteEventLogStorage,
)
from dagster._serdes import ConfigurableClassData

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
        super().__init__(base_dir or default_base_dir(), inst_data=inst_data)

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

    def _dispose_engines(self) -> None:
        with self._engines_lock:
            engines, self._engines = self._engines, OrderedDict()
        for engine in engines.values():
            engine.dispose()

    def wipe(self) -> None:
        self._dispose_engines()  # the run files are about to be deleted
        self._known_tables.clear()
        super().wipe()

    def dispose(self) -> None:
        super().dispose()
        self._dispose_engines()
