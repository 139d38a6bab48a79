"""Database connections a process keeps open while it works on an instance in PostgreSQL.

dagster-postgres opens a new connection for every query and every event it stores
(SQLAlchemy's NullPool, "to prevent accumulating connections per DagsterInstance"). A local
connection costs ~10 ms here (the server forks a backend, then authentication), and a step
asks the database several times per video: `add_asset_metadata(partition_key=...)` alone lists
the dynamic partitions to check the key, once per video and asset. A 100-video `essays run`
on PostgreSQL took 1.8x the SQLite run, most of it opening connections.

The storages' one switch for keeping connections is `optimize_for_webserver` (a method of the
instance and of each dagster-postgres storage, not underscored but documented nowhere; the
webserver calls it at start with a pool of one connection plus overflow). This module is the
one place that calls it, from every process that runs steps or creates runs: `essays` commands
(instance/open_instance) and each run's resource set-up (defs/resources.py), so runs launched
by the daemon, a code server or a Kubernetes run pod keep connections too.

Traded: a kept connection that the server dropped (a restart, a failover) fails the query that
finds it; SQLAlchemy then discards it and the next query connects anew. `pool_recycle` bounds
how old a kept connection gets.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import dagster as dg

# 0: no statement timeout (the webserver sets 15 s, right for page loads, not for a run's writes).
STATEMENT_TIMEOUT_MS = 0
POOL_RECYCLE_S = 3600  # reconnect connections older than this (the webserver's default too)
# One connection is kept per storage (runs, event log, schedules); threads that need one at the
# same moment (the run's steps, its event writes, the run monitor) open up to this many more,
# closed again when returned.
MAX_OVERFLOW = 10

_kept: weakref.WeakSet = weakref.WeakSet()


def uses_postgres(instance: dg.DagsterInstance) -> bool:
    return type(instance.event_log_storage).__module__.startswith("dagster_postgres")


def keep_database_connections(instance: dg.DagsterInstance) -> None:
    """Let this instance's PostgreSQL storages keep their connections between queries (once
    per instance object; a SQLite instance is left alone: our event log keeps its own)."""
    if instance in _kept or not uses_postgres(instance):
        return
    instance.optimize_for_webserver(statement_timeout=STATEMENT_TIMEOUT_MS, pool_recycle=POOL_RECYCLE_S,
                                    max_overflow=MAX_OVERFLOW)
    _kept.add(instance)
