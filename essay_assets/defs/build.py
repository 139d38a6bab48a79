"""Every Dagster definition of the project, in one `Definitions`: what `definitions.py` hands to
Dagster and what `essays run` executes in process."""

import dagster as dg

from essay_assets.defs import assets, checks
from essay_assets.defs.jobs import essays_job
from essay_assets.defs.resources import EssaySettings
from essay_assets.defs.schedules import missing_or_stale_essays
from essay_assets.defs.sensors import followed_feeds_sensor


def build_definitions() -> dg.Definitions:
    return dg.Definitions(
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
