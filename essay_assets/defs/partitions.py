"""One partition per YouTube video ID, added at run time (CLI, sensor or UI)."""

import dagster as dg

video_partitions = dg.DynamicPartitionsDefinition(name="videos")
