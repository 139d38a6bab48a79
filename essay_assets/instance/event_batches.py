"""Event batches: the one owner of DAGSTER_EVENT_BATCH_SIZE's value for our processes.

Dagster reads the variable at every event: above 0 it hands a run's planned events and a ranged
step's materializations to the event log's `store_event_batch` in batches of this size (0, off,
by default). Both storages we run on write a batch in one transaction: dagster-postgres natively,
and our SQLite event log (event_log.py) since it learned to. On PostgreSQL that is one connection
per batch instead of one per event (dagster-postgres opens a connection per query).
"""

from __future__ import annotations

import os

EVENT_BATCH_SIZE_VARIABLE = "DAGSTER_EVENT_BATCH_SIZE"
EVENT_BATCH_SIZE = 500


def enable_event_batches() -> None:
    """Let Dagster hand events over in batches in this process (and in the processes it
    starts: `dagster dev`'s code server and run workers), unless the user chose a size."""
    os.environ.setdefault(EVENT_BATCH_SIZE_VARIABLE, str(EVENT_BATCH_SIZE))
