"""Which process runs a run, and what happens to runs whose process is gone.

`essays run` executes its runs inside the CLI process (`execute_in_process`). If that process
is killed (`kill -9`, a crash, a closed laptop lid on a dying battery) Dagster never hears of
it: the run stays STARTED for ever and its `llm` pool slot stays claimed, so every later run
waits on "Step blocked by limit for pool llm". Each run is therefore tagged with the
process that executes it (essay_assets/run_process.py: by `essays run`, or by the run worker of
a run launched from the UI, a schedule or a sensor), and every `essays` command, when it opens
the instance, marks the runs whose process is gone as failed and frees their slots (public
instance APIs only).
"""

from __future__ import annotations

import dagster as dg
from dagster import DagsterRunStatus, RunsFilter

from essay_assets.run_process import (  # process_tag: for the runs `essays run` launches
    PROCESS_TAG,
    process_is_gone,
    process_tag,
)

__all__ = ["PROCESS_TAG", "UNFINISHED", "process_is_gone", "process_tag", "reap_dead_runs"]

UNFINISHED = [DagsterRunStatus.STARTING, DagsterRunStatus.STARTED, DagsterRunStatus.CANCELING]


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
