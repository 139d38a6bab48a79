"""Running the essay chain for chosen videos in the persistent Dagster instance.

`essays run` and `essays demo` come through here: the videos become partitions, and the
whole chain runs for them in one run per contiguous block of partitions (the same
single-run path as a UI backfill), so the UI then shows the same runs, lineage and metadata.
"""

from __future__ import annotations

import dataclasses
import logging
import sys

import dagster as dg

from essay_assets.defs.partitions import video_partitions
from essay_assets.instance import ensure_dagster_home
from essay_assets.settings import Settings
from essay_assets.storage.warehouse import warehouse_for
from essay_assets.writing.publishing import essay_path


@dataclasses.dataclass
class RunSummary:
    run_ids: list[str]
    essays: dict[str, str]  # video_id -> path of the current essay
    failures: dict[str, str]  # video_id -> message

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


@dg.logger(config_schema={"log_level": dg.Field(str, default_value="INFO")},
           description="The terminal of `essays run`: the pipeline's own lines, no Dagster events.")
def terminal_logger(init_context: dg.InitLoggerContext) -> logging.Logger:
    logger = logging.Logger("essays", level=init_context.logger_config["log_level"])
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
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
               instance: dg.DagsterInstance | None = None, log_level: str = "INFO") -> RunSummary:
    from essay_assets.defs.build import (
        build_definitions,  # deferred: it imports Dagster's world
    )

    defs = build_definitions(settings)

    if instance is None:
        ensure_dagster_home(settings)
        instance = dg.DagsterInstance.get()
    register_videos(instance, video_ids)
    order = list(instance.get_dynamic_partitions(video_partitions.name))
    job = defs.resolve_job_def("essays_job").with_logger_defs({"console": terminal_logger})
    run_config = {
        "ops": {"llm_response": {"config": {"force_refresh": force_refresh}}},
        # Dagster's per-event DEBUG lines are for the UI; the terminal gets our INFO lines.
        "loggers": {"console": {"config": {"log_level": log_level}}},
    }
    run_ids = []
    for start, end in contiguous_blocks(order, video_ids):
        tags = ({"dagster/partition": start} if start == end else
                {"dagster/asset_partition_range_start": start, "dagster/asset_partition_range_end": end})
        result = job.execute_in_process(instance=instance, tags=tags, run_config=run_config, raise_on_error=False)
        run_ids.append(result.run_id)
    return summarize(settings, video_ids, run_ids)


def summarize(settings: Settings, video_ids: list[str], run_ids: list[str]) -> RunSummary:
    warehouse = warehouse_for(settings)
    failures = {
        row["video_id"]: f"{row['stage']}: {row['message']}"
        for row in warehouse.query(
            "SELECT video_id, stage, message FROM failures WHERE list_contains(?, run_id) ORDER BY failed_at",
            [run_ids],
        )
    }
    essays = {}
    for video_id in video_ids:
        path = essay_path(settings.essays_dir, video_id)
        if video_id not in failures and path.exists():
            essays[video_id] = str(path)
        elif video_id not in failures:
            failures[video_id] = "no essay was written; see the run's log in the Dagster UI (essays ui)"
    return RunSummary(run_ids, essays, failures)
