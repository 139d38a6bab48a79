"""How one asset step handles many video partitions: each video succeeds or fails on its
own, failures are recorded with their reason, and the step fails only where that helps.

Why: backfills run every selected partition in one run (`BackfillPolicy.single_run()`, or runs
of ESSAYS_RUN_SIZE videos), which is 40-70x faster than a run per partition on this hardware. One bad video must not sink the
other 99, but it must not disappear silently either:
- a permanent failure (no transcript, bad key, over budget) is written to `failures` and
  logged; the video is skipped downstream;
- a transient failure (YouTube blocking, provider 5xx) makes the step raise so Dagster's
  RetryPolicy retries it with backoff; finished videos are reused, so a retry costs nothing;
  on the last retry it is recorded like a permanent failure;
- a step in which every video failed fails with every message; the last step of the chain
  fails the run when any video failed anywhere in it, after recording the essays it did write;
- a failure that cannot be recorded (the warehouse's disk full) is not lost behind the write's
  error: the step fails with the video's own message plus where it could not be written, and
  carries both as metadata (UNRECORDED_METADATA) for `essays run` to print.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import dagster as dg

from essay_assets.instance.step_metadata import add_partitions_metadata
from essay_assets.redaction import redact
from essay_assets.storage.warehouse import Warehouse, utc_now

UNRECORDED_METADATA = "unrecorded_failures"  # step failure metadata: {video_id: {stage, message, not_recorded}}


class StageFailure(Exception):
    """A per-video failure with a reason code; `transient` ones are worth a retry."""

    def __init__(self, message: str, *, reason: str, transient: bool = False):
        super().__init__(message)
        self.reason = reason
        self.transient = transient


class PartitionLoop:
    def __init__(self, context: dg.AssetExecutionContext, stage: str, warehouse: Warehouse, max_retries: int = 0):
        self.context = context
        self.stage = stage
        self.warehouse = warehouse
        self.max_retries = max_retries
        self.succeeded: list[str] = []
        self.failed: dict[str, StageFailure] = {}
        self.skipped: list[str] = []
        self.transient: dict[str, StageFailure] = {}
        self.unrecorded: dict[str, dict[str, str]] = {}  # failures the warehouse could not take
        # Each video's metadata for the UI, handed to Dagster once when the step ends (finish):
        # one `add_asset_metadata` per video costs O(videos) each (see add_partitions_metadata).
        self._metadata: dict[str, dict[str, Any]] = {}

    @property
    def keys(self) -> list[str]:
        return list(self.context.partition_keys)

    def skip(self, video_id: str, why: str, *, upstream: str) -> None:
        """Nothing to work from for the video: `why` says what is missing, `upstream` which asset makes it.

        When the upstream asset ran in this run, it failed for the video and recorded why: the
        video is only skipped. When it was not part of the run (e.g. `essay` launched alone from
        its partitions page), nothing failed earlier: that is recorded as this stage's failure,
        `upstream_not_materialized`, with what to do.
        """
        selection = self.context.run.asset_selection  # None or empty: the whole job (`essays run`)
        if not selection or dg.AssetKey(upstream) in selection:
            self.skipped.append(video_id)
            self.context.log.warning(f"{video_id}: skipped at {self.stage}: {why}")
            return
        self.fail(video_id, StageFailure(
            f"Video {video_id}: {why}: materialize {self.stage} with its upstream assets "
            f"(Lineage → Materialize all, or `essays run {video_id}`).", reason="upstream_not_materialized"))

    def succeed(self, video_id: str, metadata: dict[str, Any]) -> None:
        self.succeeded.append(video_id)
        self._add_metadata(video_id, metadata)

    def _add_metadata(self, video_id: str, metadata: Mapping[str, Any]) -> None:
        """As `context.add_asset_metadata(metadata, partition_key=video_id)` would: a later
        value of the same name replaces an earlier one."""
        self._metadata.setdefault(video_id, {}).update(metadata)

    @contextmanager
    def attempt(self, video_id: str) -> Iterator[None]:
        try:
            yield
        except StageFailure as exc:
            self.fail(video_id, exc)

    def fail(self, video_id: str, exc: StageFailure) -> None:
        last_try = self.context.retry_number >= self.max_retries
        if exc.transient and not last_try:
            self.transient[video_id] = exc
            self.context.log.warning(f"{video_id}: {self.stage} will be retried: {redact(str(exc))}")
            return
        self.failed[video_id] = exc
        message = redact(str(exc))
        self.context.log.error(f"{video_id}: {self.stage} failed ({exc.reason}): {message}")
        try:
            self.warehouse.write("failures", [{
                "failure_id": uuid.uuid4().hex, "video_id": video_id, "stage": self.stage, "reason": exc.reason,
                "message": message, "run_id": self.context.run.run_id, "failed_at": utc_now(),
            }])
        except OSError as write_error:  # a full or read-only disk: the failure itself must still be told
            where = self.warehouse.root / "failures"
            not_recorded = (f"This failure could not be recorded in {where}: {write_error.strerror or write_error}. "
                            "Free some space there; `essays status` will not list it until then.")
            self.unrecorded[video_id] = {"stage": self.stage, "message": message, "not_recorded": not_recorded}
            self.context.log.error(f"{video_id}: {not_recorded}")
        self._add_metadata(video_id, {"status": "failed", "failure_reason": exc.reason, "failure": message})

    def finish(self) -> None:
        """Hand the videos' metadata to Dagster, then raise what the step should raise, after
        every video had its turn."""
        for video_id in self.skipped:  # skipped: the upstream failure was already recorded
            self._add_metadata(video_id, {"status": "skipped (upstream failed)"})
        add_partitions_metadata(self.context, self._metadata)
        self._metadata = {}
        # One line per step, not per video: each log line is a row in Dagster's event log.
        self.context.log.info(f"{self.stage}: {len(self.succeeded)} done, {len(self.failed)} failed, "
                              f"{len(self.skipped)} skipped, {len(self.transient)} to retry")
        if self.transient:
            first = next(iter(self.transient.values()))
            raise dg.Failure(
                f"{len(self.transient)} video(s) hit transient errors at {self.stage}; retrying. "
                f"First: {redact(str(first))}",
                allow_retries=True,
            )
        if self.unrecorded:  # the run must not end as if nothing failed: nobody would know
            lines = [f"{video_id}: {f['message']}\n{f['not_recorded']}" for video_id, f in self.unrecorded.items()]
            raise dg.Failure(f"{self.stage}: {len(lines)} failure(s) could not be recorded:\n" + "\n".join(lines),
                             metadata={UNRECORDED_METADATA: dg.MetadataValue.json(self.unrecorded)},
                             allow_retries=False)
        if self.keys and not self.succeeded:
            raise dg.Failure(self._summary(), allow_retries=False)

    def _summary(self) -> str:
        lines = [f"{video_id}: {redact(str(exc))}" for video_id, exc in self.failed.items()]
        lines += [f"{video_id}: skipped, an earlier stage failed" for video_id in self.skipped]
        return f"{self.stage} failed for {len(lines)} of {len(self.keys)} video(s):\n" + "\n".join(lines)
