"""The daily schedule: essays for every video that has none, or a stale one."""


from datetime import datetime, timezone

import dagster as dg

from essay_assets.defs.jobs import essays_job
from essay_assets.defs.partitions import video_partitions
from essay_assets.defs.resources import EssaySettings
from essay_assets.storage.staleness import videos_needing_essays
from essay_assets.storage.warehouse import warehouse_for


def missing_or_stale_essays_schedule(cron: str, prompt_revision: int) -> dg.ScheduleDefinition:
    """The schedule on `cron` (Settings.schedule_cron), judging essays against the prompt
    revision the assets were declared with."""

    @dg.schedule(job=essays_job, cron_schedule=cron,
                 default_status=dg.DefaultScheduleStatus.RUNNING, execution_timezone="UTC")
    def missing_or_stale_essays(context: dg.ScheduleEvaluationContext, essay_settings: EssaySettings):
        """Nothing is requested for videos whose essay is current (same prompt revision and model)."""
        settings = essay_settings.get()
        videos = list(context.instance.get_dynamic_partitions(video_partitions.name))
        needed = videos_needing_essays(warehouse_for(settings), videos, prompt_revision, settings.model)
        if not needed:
            return dg.SkipReason(f"All {len(videos)} essays are current (prompt r{prompt_revision}, {settings.model}).")
        # run_key: one run per video, revision and day, so a re-evaluation never duplicates it
        day = _tick_day(context)
        return [dg.RunRequest(partition_key=v, run_key=f"{v}:r{prompt_revision}:{day}") for v in needed]

    return missing_or_stale_essays


def _tick_day(context: dg.ScheduleEvaluationContext) -> str:
    """The tick's UTC date. A context built without a time (build_schedule_context in tests or
    scripts) raises on access instead of returning None: use today, never a constant key
    that would suppress every later request for the video."""
    try:
        when = context.scheduled_execution_time
    except Exception:  # dagster's CheckError: "no scheduled_execution_time was set"
        when = None
    return (when or datetime.now(timezone.utc)).date().isoformat()
