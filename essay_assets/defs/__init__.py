"""Dagster wiring, and only that: assets, checks, the job, partitions, the schedule, the feed
sensor, the settings resource, and how one step handles many partitions (partition_runs).
Everything it calls lives in the stages below it."""
