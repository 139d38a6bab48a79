"""Which process executes a Dagster run, and whether that process is gone.

Each run carries a tag naming the process that executes it: host, pid and the pid's start time
(so a reused pid is not taken for the old process). `essays run` tags its runs when it launches
them (it executes them itself); a run launched from the UI, a schedule or a sensor is tagged by
its run worker when the run's resources are set up (defs/resources.py). The next `essays`
command fails the unfinished runs whose process is gone and frees their pool slots
(instance/runs.py). Kept below both the Dagster wiring and the instance, which both need it.
"""

from __future__ import annotations

import os
import socket
from typing import Any

PROCESS_TAG = "essays/process"  # "<host>:<pid>:<start ticks>" of the process executing the run


def _start_ticks(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), None when unknown or gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return fields[19] if len(fields) > 19 else None


def process_tag() -> dict[str, str]:
    """The tag naming this process, for runs it executes."""
    pid = os.getpid()
    return {PROCESS_TAG: f"{socket.gethostname()}:{pid}:{_start_ticks(pid) or ''}"}


def process_is_gone(value: str) -> bool:
    """True only when the tagged process certainly no longer runs (on this host)."""
    rest = value.rsplit(":", 2)
    if len(rest) != 3 or not rest[1].isdigit():
        return False
    host, pid, ticks = rest[0], int(rest[1]), rest[2]
    if host != socket.gethostname():
        return False  # another machine's process: not ours to judge
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # exists, someone else's
    now = _start_ticks(pid)
    return bool(ticks and now and now != ticks)  # the pid was reused by a newer process


def tag_run_with_this_process(instance: Any, run: Any) -> None:
    """Tag `run` (a DagsterRun) with this process, unless it already names one.

    Called in the run worker: Dagster's default run launcher cannot tell whether a run's
    worker still lives (it has no worker health check), so a run whose worker and code server
    were killed together stayed STARTED, holding its `llm` pool slot, for ever."""
    if PROCESS_TAG not in run.tags:
        instance.add_run_tags(run.run_id, process_tag())
