"""Every Dagster definition of the project, in one `Definitions`: what `definitions.py` hands to
Dagster and what `essays run` executes in process."""

import dagster as dg

from essay_assets.defs import checks
from essay_assets.defs.assets import essay_assets
from essay_assets.defs.jobs import essays_job
from essay_assets.defs.resources import EssaySettings
from essay_assets.defs.schedules import missing_or_stale_essays_schedule
from essay_assets.defs.sensors import followed_feeds_sensor
from essay_assets.settings import Settings, SettingsError
from essay_assets.writing.prompts import load_prompts

# Evaluates the chain's automation conditions (assets.FOLLOW_UPSTREAM). Dagster's default sensor
# for them is created stopped, which left the declared conditions without effect in `essays ui`.
essay_chain_automation = dg.AutomationConditionSensorDefinition(
    "essay_chain_automation", target=dg.AssetSelection.all(), default_status=dg.DefaultSensorStatus.RUNNING,
    description="Brings essay_prompt, llm_response and essay up to date after their upstream asset changes.",
)


def build_definitions(settings: Settings | None = None) -> dg.Definitions:
    """The definitions for `settings` (default: read now, once, from the environment and
    config.yaml). Only what a declaration needs is taken from them (prompt revision, retry
    delay, videos per backfill run, cron); runs, ticks and checks read their settings through the
    `essay_settings` resource."""
    settings = settings or Settings.from_env()
    prompt_revision = load_prompts(prompts_dir=settings.prompts_dir).revision
    try:
        schedule = missing_or_stale_essays_schedule(settings.schedule_cron, prompt_revision)
    except dg.DagsterInvalidDefinitionError as exc:  # what settings' syntax check lets through (`30 2`: Feb 30)
        raise SettingsError(f"ESSAYS_SCHEDULE_CRON (schedule_cron in config.yaml) {settings.schedule_cron!r} "
                            f"is not a schedule Dagster accepts: {exc}") from None
    return dg.Definitions(
        assets=essay_assets(prompt_revision, settings.step_retry_delay_s, settings.run_size),
        asset_checks=dg.load_asset_checks_from_modules([checks]),
        jobs=[essays_job],
        schedules=[schedule],
        sensors=[followed_feeds_sensor, essay_chain_automation],
        resources={"essay_settings": EssaySettings()},
        # One process per run, not one per step: each step process re-imports Dagster, this package
        # and litellm (seconds of CPU each on 2 cores) and the chain is linear anyway. Pools still apply.
        executor=dg.in_process_executor,
    )
