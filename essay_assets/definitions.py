"""What Dagster loads: assets, checks, the job, the schedule, the feed sensor, resources."""

import dagster as dg

from essay_assets import assets, checks
from essay_assets.jobs import essays_job
from essay_assets.resources import EssaySettings
from essay_assets.schedules import missing_or_stale_essays
from essay_assets.sensors import followed_feeds_sensor

defs = dg.Definitions(
    assets=dg.load_assets_from_modules([assets]),
    asset_checks=dg.load_asset_checks_from_modules([checks]),
    jobs=[essays_job],
    schedules=[missing_or_stale_essays],
    sensors=[followed_feeds_sensor],
    resources={"essay_settings": EssaySettings()},
    # One process per run, not one per step: each step process re-imports Dagster, this package
    # and litellm (seconds of CPU each on 2 cores) and the chain is linear anyway. Pools still apply.
    executor=dg.in_process_executor,
)
