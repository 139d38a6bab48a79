"""Running the essay chain for chosen videos in the persistent Dagster instance.

`essays run` and `essays demo` come through here: the videos become partitions, and the
whole chain runs for them in one run per contiguous block of partitions (the same
single-run path as a UI backfill), so the UI then shows the same runs, lineage and metadata.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import sys
import threading

import dagster as dg

from essay_assets.defs.partition_runs import UNRECORDED_METADATA
from essay_assets.defs.partitions import video_partitions
from essay_assets.instance import open_instance
from essay_assets.instance.runs import UNFINISHED, process_tag
from essay_assets.settings import Settings
from essay_assets.storage.warehouse import warehouse_for
from essay_assets.writing.publishing import essay_path


@dataclasses.dataclass
class RunSummary:
    run_ids: list[str]
    essays: dict[str, str]  # video_id -> path of the current essay
    failures: dict[str, str]  # video_id -> message
    # video_id -> why its failure is missing from `failures` (the warehouse's disk full, say)
    not_recorded: dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failures


class _PipelineLinesOnly(logging.Filter):
    """Keeps the pipeline's own log lines (each step's summary, each failed video with what to
    do) and drops Dagster's events: its step and run failures repeat those messages with
    Dagster's stack frames, which tell a user of `essays run` nothing they can act on. The UI's
    run log still has every event."""

    def filter(self, record: logging.LogRecord) -> bool:
        meta = getattr(record, "dagster_meta", None)
        if meta is None:
            return True
        message = meta.get("orig_message") or record.getMessage()
        # The engine's "Dependencies for step essay failed: ['llm_response']. Not executing."
        # follows every failed video: the failure itself was already said, with what to do.
        if meta.get("dagster_event") is not None or message.startswith("Dependencies for step "):
            return False
        record.msg, record.args = message, ()
        return True


@dg.logger(config_schema={"log_level": dg.Field(str, default_value="INFO"),
                          "dagster_events": dg.Field(bool, default_value=False)},
           description="The terminal of `essays run`: the pipeline's own lines; Dagster's events (with "
                       "their stacks) only when asked for (`--verbose`).")
def terminal_logger(init_context: dg.InitLoggerContext) -> logging.Logger:
    logger = logging.Logger("essays", level=init_context.logger_config["log_level"])
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
    if not init_context.logger_config["dagster_events"]:
        handler.addFilter(_PipelineLinesOnly())
    logger.addHandler(handler)
    return logger


def register_videos(instance: dg.DagsterInstance, video_ids: list[str]) -> list[str]:
    existing = set(instance.get_dynamic_partitions(video_partitions.name))
    new = [v for v in video_ids if v not in existing]
    if new:
        instance.add_dynamic_partitions(video_partitions.name, new)
    return new


def contiguous_blocks(order: list[str], wanted: list[str]) -> list[tuple[str, str]]:
    """Split the wanted keys into runs of neighbours in partition order: one run each."""
    position = {key: i for i, key in enumerate(order)}
    indexes = sorted(position[k] for k in set(wanted))
    blocks: list[tuple[str, str]] = []
    for index in indexes:
        if blocks and position[blocks[-1][1]] == index - 1:
            blocks[-1] = (blocks[-1][0], order[index])
        else:
            blocks.append((order[index], order[index]))
    return blocks


def run_videos(video_ids: list[str], settings: Settings, *, force_refresh: bool = False,
               instance: dg.DagsterInstance | None = None, log_level: str = "INFO",
               dagster_events: bool = False) -> RunSummary:
    from essay_assets.defs.build import (
        build_definitions,  # deferred: it imports Dagster's world
    )

    defs = build_definitions(settings)

    if instance is None:
        instance = open_instance(settings)
    register_videos(instance, video_ids)
    order = list(instance.get_dynamic_partitions(video_partitions.name))
    job = defs.resolve_job_def("essays_job").with_logger_defs({"console": terminal_logger})
    run_config = {
        "ops": {"llm_response": {"config": {"force_refresh": force_refresh}}},
        # Dagster's per-event DEBUG lines are for the UI; the terminal gets our INFO lines.
        "loggers": {"console": {"config": {"log_level": log_level, "dagster_events": dagster_events}}},
    }
    run_ids, unrecorded = [], {}
    for start, end in contiguous_blocks(order, video_ids):
        tags = ({"dagster/partition": start} if start == end else
                {"dagster/asset_partition_range_start": start, "dagster/asset_partition_range_end": end})
        tags |= process_tag()  # a killed process's run is found and failed by the next command
        result = job.execute_in_process(instance=instance, tags=tags, run_config=run_config, raise_on_error=False)
        run_ids.append(result.run_id)
        unrecorded |= unrecorded_failures(result)
    return summarize(settings, video_ids, run_ids, unrecorded)


def unrecorded_failures(result: dg.ExecuteInProcessResult) -> dict[str, dict[str, str]]:
    """Failures a step could not write to the warehouse, from its step failure's metadata."""
    found: dict[str, dict[str, str]] = {}
    for event in result.get_step_failure_events():
        data = event.step_failure_data.user_failure_data
        value = data.metadata.get(UNRECORDED_METADATA) if data is not None else None
        if value is not None:
            found |= value.value
    return found


ACTIVE = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, *UNFINISHED]


def runs_targeting(instance: dg.DagsterInstance, video_ids: list[str]) -> dict[str, str]:
    """video_id -> ID of an active (queued or running) run whose partitions include it."""
    order = list(instance.get_dynamic_partitions(video_partitions.name))
    position = {key: i for i, key in enumerate(order)}
    busy: dict[str, str] = {}
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=ACTIVE)):
        tags = run.tags
        if "dagster/partition" in tags:
            targeted = {tags["dagster/partition"]}
        elif "dagster/asset_partition_range_start" in tags:
            start = position.get(tags["dagster/asset_partition_range_start"])
            end = position.get(tags.get("dagster/asset_partition_range_end", ""))
            targeted = set(order[start:end + 1]) if start is not None and end is not None else set()
        else:
            targeted = set(order)  # a run without partition tags: assume it may touch any video
        for video_id in video_ids:
            if video_id in targeted:
                busy.setdefault(video_id, run.run_id)
    return busy


STOP_SIGNALS = {signal.SIGINT: 130, signal.SIGTERM: 143}  # exit codes: 128 + the signal's number


def run_videos_stoppable(video_ids: list[str], settings: Settings, *, force_refresh: bool = False,
                         log_level: str = "INFO", dagster_events: bool = False) -> RunSummary:
    """`run_videos` for the CLI: Ctrl-C or SIGTERM stops it at once.

    The run executes in a worker thread, so Dagster's own interrupt handling (main thread only:
    it raised inside the model call in flight, which was then retried as a connection error and
    the run went on and exited 0) stays out of the way. The main thread takes the signal: no
    request is sent after it (`client.SENDING_STOPPED`), the run is reported canceled and its
    pool slots freed, and the process exits 130 (SIGINT) or 143 (SIGTERM) without waiting for
    calls in flight. Every answer received before is already stored by the ledger (it writes
    the answer before anything else), so a re-run pays only for the calls never answered."""
    from essay_assets.model_calls.client import SENDING_STOPPED

    instance = open_instance(settings)
    outcome: dict[str, object] = {}
    stopping = threading.Event()

    def stop(signum: int, _frame) -> None:
        code = STOP_SIGNALS[signum]
        SENDING_STOPPED.set()
        if stopping.is_set():  # a second signal: leave now
            os._exit(code)
        stopping.set()
        name = signal.Signals(signum).name
        canceled = []
        try:
            for run in instance.get_runs(filters=dg.RunsFilter(tags=process_tag(), statuses=UNFINISHED)):
                instance.report_run_canceled(run, message=f"Stopped by {name}: `essays run` was interrupted.")
                instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
                canceled.append(run.run_id)
        finally:
            runs = ", ".join(canceled) or "none started yet"
            print(f"\nessays: stopped by {name} (run canceled: {runs}). Every answer received so far is "
                  "kept: run the same command again to finish without paying for them twice.",
                  file=sys.stderr, flush=True)
            sys.stdout.flush()
            os._exit(code)

    def work() -> None:
        try:
            outcome["summary"] = run_videos(video_ids, settings, force_refresh=force_refresh, instance=instance,
                                            log_level=log_level, dagster_events=dagster_events)
        except BaseException as exc:  # handed to the main thread
            outcome["error"] = exc

    previous = {signum: signal.signal(signum, stop) for signum in STOP_SIGNALS}
    try:
        worker = threading.Thread(target=work, name="essays-run", daemon=True)
        worker.start()
        while worker.is_alive():
            worker.join(0.5)  # wakes for signals
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["summary"]  # type: ignore[return-value]


def summarize(settings: Settings, video_ids: list[str], run_ids: list[str],
              unrecorded: dict[str, dict[str, str]] | None = None) -> RunSummary:
    warehouse = warehouse_for(settings)
    failures = {
        row["video_id"]: f"{row['stage']}: {row['message']}"
        for row in warehouse.query(
            "SELECT video_id, stage, message FROM failures WHERE list_contains(?, run_id) ORDER BY failed_at",
            [run_ids],
        )
    }
    not_recorded = {}
    for video_id, failure in (unrecorded or {}).items():
        failures.setdefault(video_id, f"{failure['stage']}: {failure['message']}")
        not_recorded[video_id] = failure["not_recorded"]
    essays = {}
    for video_id in video_ids:
        path = essay_path(settings.essays_dir, video_id)
        if video_id not in failures and path.exists():
            essays[video_id] = str(path)
        elif video_id not in failures:
            failures[video_id] = "no essay was written; see the run's log in the Dagster UI (essays ui)"
    return RunSummary(run_ids, essays, failures, not_recorded)
