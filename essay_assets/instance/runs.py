"""Which process runs a run, and what happens to runs whose process is gone.

`essays run` executes its runs inside the CLI process (`execute_in_process`). If that process
is killed (`kill -9`, a crash, a closed laptop lid on a dying battery) Dagster never hears of
it: the run stays STARTED for ever and its `llm` pool slot stays claimed, so every later run
waits on "Step blocked by limit for pool llm". Each CLI run is therefore tagged with the
process that executes it (host, pid and the pid's start time, so a reused pid is not taken for
the old process), and every `essays` command, when it opens the instance, marks the runs whose
process is gone as failed and frees their slots (public instance APIs only).
"""

from __future__ import annotations

import os
import socket

import dagster as dg
from dagster import DagsterRunStatus, RunsFilter

PROCESS_TAG = "essays/process"  # "<host>:<pid>:<start ticks>" of the process executing the run
UNFINISHED = [DagsterRunStatus.STARTING, DagsterRunStatus.STARTED, DagsterRunStatus.CANCELING]


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


def reap_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark unfinished runs whose process is gone as failed and free their concurrency slots.

    Also frees slots still held by runs that have finished (a process killed between its run's
    end and its slots' release). Returns the IDs of the runs marked failed."""
    reaped = []
    for run in instance.get_runs(filters=RunsFilter(statuses=UNFINISHED)):
        value = run.tags.get(PROCESS_TAG)
        if not value or not process_is_gone(value):
            continue
        instance.report_run_failed(run, message=(
            f"The process that executed this run ({value.rsplit(':', 1)[0]}) is gone (killed or "
            "crashed); the run is marked failed and its concurrency slots are freed. Answers the "
            "model gave before are kept: a re-run reuses them."))
        reaped.append(run.run_id)
    storage = instance.event_log_storage
    if storage.supports_global_concurrency_limits:
        holding = storage.get_concurrency_run_ids() | set(reaped)
        if holding:
            finished = {run.run_id for run in instance.get_runs(filters=RunsFilter(run_ids=list(holding)))
                        if run.is_finished}
            for run_id in sorted(finished | set(reaped)):
                storage.free_concurrency_slots_for_run(run_id)
    return reaped
