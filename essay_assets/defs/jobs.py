"""The one job: the whole essay chain for a set of videos."""

import dagster as dg

ESSAY_GROUP = "essays"

essays_job = dg.define_asset_job(
    "essays_job",
    selection=dg.AssetSelection.groups(ESSAY_GROUP),  # partitioned by videos, like its assets
    description="Transcript -> prompt -> LLM response -> essay for the chosen videos.",
)
