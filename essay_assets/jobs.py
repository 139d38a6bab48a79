"""The one job: the whole essay chain for a set of videos."""

import dagster as dg

from essay_assets.partitions import video_partitions

ESSAY_GROUP = "essays"

essays_job = dg.define_asset_job(
    "essays_job",
    selection=dg.AssetSelection.groups(ESSAY_GROUP),
    partitions_def=video_partitions,
    description="Transcript -> prompt -> LLM response -> essay for the chosen videos.",
)
