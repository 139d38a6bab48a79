"""The pipeline's story, one video partition at a time:

    transcript -> essay_prompt -> llm_response -> essay

Every asset takes a whole set of partitions in one run (a backfill is one run, or runs of
ESSAYS_RUN_SIZE videos each) and returns
nothing: the data lives in data/raw/, data/essays/ and the warehouse, not in Dagster's IO
manager. The prompt revision is in the code_version of every asset that consumes it, so
bumping it marks older essays stale.

`essay_assets(prompt_revision, step_retry_delay_s, run_size)` declares the four assets from
settings read once when Dagster loads the code (`defs/build.py`); what each asset does is in the
functions below it, one per asset, in the order of the chain.
"""


import asyncio

import dagster as dg

from essay_assets.defs.jobs import ESSAY_GROUP
from essay_assets.defs.metadata import (
    PARTITION_ROW_COUNT,
    column_schema,
    essays_column_lineage,
)
from essay_assets.defs.partition_runs import PartitionLoop, StageFailure
from essay_assets.defs.partitions import video_partitions
from essay_assets.defs.resources import EssaySettings
from essay_assets.intake import sources, youtube
from essay_assets.intake.oembed import OEmbedLookups
from essay_assets.intake.transcripts import Transcript, TranscriptFileError
from essay_assets.intake.videos import read_video_record
from essay_assets.model_calls import client
from essay_assets.model_calls.budgets import BudgetCheck, BudgetExceeded, enforce_budget
from essay_assets.model_calls.costs import estimate_cost_usd, usd_to_cents
from essay_assets.model_calls.ledger import (
    CallLedger,
    call_row_from_json,
    ensure_room_for_answers,
    response_totals,
    totals_from_calls,
)
from essay_assets.model_calls.litellm_import import prefetch_litellm
from essay_assets.model_calls.model_info import context_window, count_tokens_fn
from essay_assets.settings import blank_variables
from essay_assets.storage.files import stable_hash
from essay_assets.storage.warehouse import utc_now
from essay_assets.writing import drafting
from essay_assets.writing.cleanup import BrokenEssay
from essay_assets.writing.planning import PromptPlan, plan_prompt
from essay_assets.writing.prompts import VideoContext, load_prompts
from essay_assets.writing.publishing import publish_essay
from essay_assets.writing.quotes import (
    LazyTranscriptIndex,
    find_quotations,
    verify_quotes,
)
from essay_assets.writing.rendering import normalize_body
from essay_assets.writing.repair import (
    UnverifiedQuotes,
    link_video_id,
    repair_requests,
    write_repairs,
)

TRANSIENT_RETRIES = 3
VIDEO_COLUMNS = ("video_id", "title", "channel_name", "channel_id", "published_at", "url", "metadata_source")
_chain = dict(partitions_def=video_partitions, group_name=ESSAY_GROUP)
# Downstream of the transcript, a new upstream materialization (e.g. a transcript refreshed
# from the UI) brings the rest of the chain up to date by itself, evaluated by the
# `essay_chain_automation` sensor (defs/build.py); reused answers cost nothing. Never more than
# that, so no paid call happens that nobody asked for: eager() alone never starts a chain
# (the transcript has no condition; a new partition's downstream waits for its transcript), and
# a partition whose last execution failed (budget exceeded, bad key, model errors) is left to
# the user instead of being retried automatically.
FOLLOW_UPSTREAM = (dg.AutomationCondition.eager() & ~dg.AutomationCondition.execution_failed()).with_label(
    "eager, unless its last execution failed")


class LLMResponseConfig(dg.Config):
    force_refresh: bool = False
    """Call the model again even when an identical request was already answered (and paid)."""


def backfill_policy(run_size: int | None) -> dg.BackfillPolicy:
    """Videos per backfill run (ESSAYS_RUN_SIZE): None = every video in one run. The four assets
    share it, so each run carries the whole chain for its videos (Dagster splits a backfill whose
    assets have different policies into separate runs)."""
    return dg.BackfillPolicy.single_run() if run_size is None else dg.BackfillPolicy.multi_run(run_size)


def essay_assets(prompt_revision: int, step_retry_delay_s: float,
                 run_size: int | None = None) -> list[dg.AssetsDefinition]:
    """The chain's four assets for the prompt revision in use (in the code_version of every
    asset that consumes the prompt), the first delay of step retries and the videos per
    backfill run (None: all in one)."""
    # Dagster's beta warning on `backfill_policy` is silenced in essay_assets/library_warnings.py.
    return _declare_essay_assets(prompt_revision, step_retry_delay_s, backfill_policy(run_size))


def _declare_essay_assets(prompt_revision: int, step_retry_delay_s: float,
                          policy: dg.BackfillPolicy) -> list[dg.AssetsDefinition]:
    transient_retry_policy = dg.RetryPolicy(
        # A step retry re-runs only unfinished videos (finished ones are reused), so it is cheap.
        max_retries=TRANSIENT_RETRIES, delay=step_retry_delay_s, backoff=dg.Backoff.EXPONENTIAL,
        jitter=dg.Jitter.PLUS_MINUS,
    )
    prompt_version = f"r{prompt_revision}"
    common = dict(_chain, backfill_policy=policy)

    @dg.asset(**common, code_version="1", retry_policy=transient_retry_policy, kinds={"youtube"},
              metadata={"dagster/column_schema": column_schema("transcripts")})
    def transcript(context: dg.AssetExecutionContext, essay_settings: EssaySettings) -> None:
        """The conversation's words: a user file, the stored copy, the bundled sample or YouTube."""
        fetch_transcripts(context, essay_settings, prompt_revision)

    @dg.asset(**common, deps=[transcript], code_version=prompt_version, automation_condition=FOLLOW_UPSTREAM)
    def essay_prompt(context: dg.AssetExecutionContext, essay_settings: EssaySettings) -> None:
        """The third-guest prompt for this video, split into chunks when the model's context is small."""
        plan_prompts(context, essay_settings, prompt_revision)

    @dg.asset(**common, deps=[essay_prompt], code_version=prompt_version, pool="llm",
              automation_condition=FOLLOW_UPSTREAM,
              retry_policy=transient_retry_policy, kinds={"litellm"},
              metadata={"dagster/column_schema": column_schema("llm_calls")})
    def llm_response(context: dg.AssetExecutionContext, config: LLMResponseConfig,
                     essay_settings: EssaySettings) -> None:
        """The model's essay, from one call or map-reduce over chunks; reused when nothing changed."""
        answer_prompts(context, config, essay_settings, prompt_revision)

    @dg.asset(**common, deps=[llm_response], code_version=prompt_version, kinds={"markdown"},
              automation_condition=FOLLOW_UPSTREAM,
              metadata={"dagster/column_schema": column_schema("essays")})
    def essay(context: dg.AssetExecutionContext, essay_settings: EssaySettings) -> None:
        """The essay as a markdown file with YAML front matter, and its row in the warehouse."""
        publish_essays(context, essay_settings, prompt_revision)

    return [transcript, essay_prompt, llm_response, essay]


def fetch_transcripts(context: dg.AssetExecutionContext, essay_settings: EssaySettings, prompt_revision: int) -> None:
    settings, store, warehouse = essay_settings.parts()
    loop = PartitionLoop(context, "transcript", warehouse, max_retries=TRANSIENT_RETRIES)
    # A model will be called downstream: import its client meanwhile, but only while the run waits
    # on something else: YouTube, or the embedded model starting up. The import holds the
    # interpreter lock for seconds, and each file this step reads or writes meanwhile waits up to
    # a switch interval (5 ms) for the lock back: over 1,000 transcript files that made the step
    # 3-4x slower and cost more CPU than importing when first needed (docs/benchmarks.md).
    model_will_be_called = any(not store.response_path(v, prompt_revision).exists() for v in loop.keys)
    if model_will_be_called and (settings.uses_local_model
                                 or any(sources.needs_youtube_fetch(settings, store, v) for v in loop.keys)):
        prefetch_litellm()
    video_rows, transcript_rows = [], []
    # Titles are looked up a few at a time, ahead of the loop (one after another, their round
    # trips would be most of this step), and not while oEmbed is down.
    with OEmbedLookups(settings.oembed_url) as lookups:
        lookups.prefetch(v for v in loop.keys if sources.needs_metadata_lookup(store, v))
        for video_id in loop.keys:
            with loop.attempt(video_id):
                found = _fetch_transcript(settings, store, video_id)
                video = sources.obtain_video_metadata(store, video_id, lookups)
                video_rows.append({**{k: video.get(k) for k in VIDEO_COLUMNS}, "updated_at": utc_now()})
                transcript_rows.append({
                    "video_id": video_id, "source": found.source, "language_code": found.language_code,
                    "is_generated": found.is_generated, "is_translated": found.is_translated,
                    "snippet_count": len(found.snippets), "word_count": found.word_count,
                    "content_sha256": found.content_sha256, "path": str(store.transcript_path(video_id)),
                    "fetched_at": utc_now(),
                })
                loop.succeed(video_id, {
                    "source": found.source, "language": found.language_code or "unknown",
                    "is_generated": bool(found.is_generated), "is_translated": bool(found.is_translated),
                    "snippet_count": len(found.snippets), "word_count": found.word_count,
                    "video_title": video.get("title") or "", "content_sha256": found.content_sha256,
                    PARTITION_ROW_COUNT: 1,  # its row in `transcripts`
                })
    if (unasked := lookups.summary()) is not None:
        context.log.warning(unasked)
    # One segment per table per step, not per video: the raw store already holds every transcript.
    warehouse.write("videos", video_rows)
    warehouse.write("transcripts", transcript_rows)
    loop.finish()


def _fetch_transcript(settings, store, video_id: str) -> Transcript:
    try:
        found = sources.obtain_transcript(settings, store, video_id)
    except TranscriptFileError as exc:
        raise StageFailure(str(exc), reason="bad_transcript_file") from None
    except youtube.TranscriptUnavailable as exc:
        raise StageFailure(str(exc), reason=exc.reason) from None
    except youtube.TranscriptFetchTransient as exc:
        raise StageFailure(str(exc), reason=exc.reason, transient=True) from None
    if found.word_count == 0:
        raise StageFailure(f"Video {video_id}: the transcript is empty; nothing to write about.", reason="empty_transcript")
    return found


def plan_prompts(context: dg.AssetExecutionContext, essay_settings: EssaySettings, prompt_revision: int) -> None:
    settings, store, warehouse = essay_settings.parts()
    loop = PartitionLoop(context, "essay_prompt", warehouse)
    prompts = load_prompts(prompt_revision, settings.prompts_dir)
    planner = _Planner(settings)
    for video_id in loop.keys:
        stored = store.read(store.transcript_path(video_id))
        if stored is None:
            loop.skip(video_id, "no transcript yet for this video", upstream="transcript")
            continue
        with loop.attempt(video_id):
            found = Transcript.from_json(stored)
            video = _video_context(store, video_id)
            inputs = planner.inputs(found, video)
            previous = store.read(store.plan_path(video_id, prompt_revision))
            if previous and previous.get("inputs") == inputs:
                plan = PromptPlan.from_json(previous["plan"])  # same inputs, same plan: no tokenizing
            else:
                plan = planner.plan(prompts, video, found)
                store.write(store.plan_path(video_id, prompt_revision), {
                    "transcript_sha256": found.content_sha256, "model": settings.model, "inputs": inputs,
                    "plan": plan.to_json()}, durable=False)  # planned again if a crash loses it
            loop.succeed(video_id, {
                "prompt_revision": prompt_revision, "prompt_tokens": plan.prompt_tokens,
                "context_window": plan.context_window or 0, "fits_context": plan.fits_context, "mode": plan.mode,
                "chunk_count": plan.chunk_count,
            })
    loop.finish()


class _Planner:
    """Plans prompts; its tokenizer and the model's context window are looked up only when a
    plan must really be made (for hosted models that means importing litellm)."""

    def __init__(self, settings):
        self.settings = settings
        self._tools = None

    def inputs(self, found: Transcript, video: VideoContext) -> dict:
        s = self.settings
        return {"transcript_sha256": found.content_sha256, "model": s.model, "video": vars(video),
                "context_window_override": s.context_window, "essay_max_tokens": s.essay_max_tokens,
                "chunk_max_tokens": s.chunk_max_tokens, "notes_max_tokens": s.notes_max_tokens,
                "essay_style": s.resolved_essay_style}

    def plan(self, prompts, video: VideoContext, found: Transcript) -> PromptPlan:
        s = self.settings
        if self._tools is None:
            self._tools = (count_tokens_fn(s.model, is_local=s.uses_local_model),
                           context_window(s.model, s.context_window))
        count_tokens, window = self._tools
        try:
            return plan_prompt(prompts, video, list(found.snippets), context_window=window,
                               essay_max_tokens=s.essay_max_tokens, count_tokens=count_tokens,
                               chunk_max_tokens=s.chunk_max_tokens, notes_max_tokens=s.notes_max_tokens,
                               essay_style=s.resolved_essay_style)
        except ValueError as exc:
            raise StageFailure(f"Video {video.video_id}: {exc}", reason="context_too_small") from None


def answer_prompts(context: dg.AssetExecutionContext, config: LLMResponseConfig, essay_settings: EssaySettings,
                   prompt_revision: int) -> None:
    settings, store, warehouse = essay_settings.parts()
    loop = PartitionLoop(context, "llm_response", warehouse, max_retries=TRANSIENT_RETRIES)
    jobs, reused_calls = [], []
    for video_id in loop.keys:
        stored = store.read(store.plan_path(video_id, prompt_revision))
        if stored is None or stored.get("model") != settings.model:
            loop.skip(video_id, f"no prompt yet for this video, model {settings.model} and prompt revision "
                                f"{prompt_revision}", upstream="essay_prompt")
            continue
        plan = PromptPlan.from_json(stored["plan"])
        # The quote policy changes what is stored (re-written sections), so it is in the fingerprint;
        # the draft's calls do not depend on it, so they keep their response_id and are reused.
        fingerprint = {**drafting.response_fingerprint(plan, settings, stored["transcript_sha256"]),
                       "quote_policy": settings.resolved_quote_policy}
        previous = store.read(store.response_path(video_id, prompt_revision))
        if previous and previous["fingerprint"] == fingerprint and not config.force_refresh:
            loop.succeed(video_id, _response_metadata(previous, reused=True))  # nothing changed: no call, no cost
            reused_calls += previous["calls"]
        else:
            jobs.append((video_id, plan, fingerprint))
    # Rows of reused calls again (same call_id: replaced, not duplicated), in case a killed run
    # stored the answer but never got its row into the warehouse.
    warehouse.write("llm_calls", [call_row_from_json(row) for row in reused_calls])
    if jobs:  # only now start the model client: a fully reused run never imports litellm
        asyncio.run(_answer_all(context, settings, store, warehouse, loop, jobs, config.force_refresh,
                                prompt_revision))
    loop.finish()


async def _answer_all(context, settings, store, warehouse, loop, jobs, force_refresh: bool,
                      prompt_revision: int) -> None:
    try:
        endpoint = client.resolve_endpoint(settings)
        client.check_credentials(endpoint, blank_variables)
        ensure_room_for_answers(settings)
    except client.ModelCallError as exc:
        for video_id, _, _ in jobs:
            loop.fail(video_id, StageFailure(f"Video {video_id}: {exc}", reason=exc.reason))
        return
    count_tokens = count_tokens_fn(settings.model, is_local=endpoint.is_local)
    # The embedded server has one slot: queueing calls there would only inflate their timings.
    concurrency = 1 if endpoint.is_local else settings.llm_concurrency
    ledger = CallLedger(settings, endpoint, warehouse, context.run.run_id,
                                     asyncio.Semaphore(concurrency), force_refresh, context.log)
    spent_today = _spent_today_cents(warehouse)
    prompts = load_prompts(prompt_revision, settings.prompts_dir)

    async def answer(video_id: str, plan: PromptPlan, fingerprint: dict) -> None:
        nonlocal spent_today
        draft_fingerprint = {k: v for k, v in fingerprint.items() if k != "quote_policy"}
        response_id = stable_hash([draft_fingerprint, context.run.run_id if force_refresh else None])[:32]
        with loop.attempt(video_id):
            estimate_cents = None  # only a ceiling reads the estimate: without one, no tokenizing or pricing
            if settings.essay_cost_ceiling_cents is not None or settings.daily_cost_ceiling_cents is not None:
                estimate_in, estimate_out = drafting.estimated_tokens(plan, count_tokens)
                estimate_cents = usd_to_cents(estimate_cost_usd(
                    settings.model, estimate_in, estimate_out, user_prices=settings.model_prices,
                    is_local=endpoint.is_local))
            try:
                enforce_budget(video_id, settings.model, BudgetCheck(
                    estimate_cents, settings.essay_cost_ceiling_cents, settings.daily_cost_ceiling_cents, spent_today))
            except BudgetExceeded as exc:
                raise StageFailure(str(exc), reason=exc.reason) from None
            spent_today += estimate_cents or 0.0  # reserve, so parallel videos share the ceiling
            try:
                draft = await drafting.write_draft(video=_video_context(store, video_id), plan=plan,
                                                   prompts=prompts, ledger=ledger, response_id=response_id,
                                                   count_tokens=count_tokens)
                repairs, repair_calls = await _verify_draft_quotes(store, ledger, video_id, draft.content,
                                                                   response_id, plan, settings.resolved_quote_policy)
            except client.ModelCallError as exc:
                raise StageFailure(f"Video {video_id}: {exc}", reason=exc.reason, transient=exc.transient) from None
            except BrokenEssay as exc:
                raise StageFailure(f"Video {video_id}: {exc}", reason=exc.reason) from None
            calls = list(draft.calls) + repair_calls
            record = {"fingerprint": fingerprint, "response_id": response_id, "model": settings.model,
                      "content": draft.content,  # the raw answer, never rewritten; re-writes go to "repairs"
                      "repairs": repairs, "calls": calls, "chunk_count": draft.chunk_count,
                      "totals": totals_from_calls(calls),  # once per video, repairs included: the essay reads these
                      "created_at": utc_now().isoformat(),
                      "new_calls": draft.new_calls + sum(1 for c in repair_calls if c["run_id"] == context.run.run_id)}
            # Not fsynced: every call behind it is (the ledger), so a record a crash loses is
            # rebuilt by the next run from the stored answers, at no cost.
            store.write(store.response_path(video_id, prompt_revision), record, durable=False)
            loop.succeed(video_id, _response_metadata(record, reused=False))

    try:
        await asyncio.gather(*(answer(*job) for job in jobs))
    finally:
        ledger.flush_rows()


async def _verify_draft_quotes(store, ledger, video_id: str, content: str, response_id: str,
                               plan: PromptPlan, policy: str) -> tuple[list[dict], list[dict]]:
    """Verify the draft's quotations now, while other videos' answers are awaited; under
    ESSAYS_QUOTE_POLICY=repair, one re-write call per section whose quotations the transcript does
    not confirm (the essay step verifies the result again).

    Under the other policies nothing here needs the verdicts, but the essay step does: verifying
    now leaves the transcript's index and each quotation's answer in the shared cache
    (writing/quotes.py), so the essay step, on the run's critical path, only looks them up.
    The verifying runs in a worker thread: on this loop, each answer's ~15 ms (30 quotations of
    20,000 words) held back the next call of every other video whose answer came in the same
    moment (8 at once: up to ~0.1 s per round of calls). bench/backfill.py --quotes measures it."""
    body = normalize_body(content, "Essay")
    if not find_quotations(body):
        return [], []  # nothing to verify: not even the transcript is read
    requests = await asyncio.to_thread(_verified_draft_requests, store, video_id, body, policy)
    if not requests:
        return [], []
    return await write_repairs(ledger=ledger, requests=requests, video_id=video_id, response_id=response_id,
                               prompt_revision=plan.prompt_revision, max_tokens=plan.essay_max_tokens)


def _verified_draft_requests(store, video_id: str, body: str, policy: str) -> list:
    """The repair requests of a draft (none unless the policy is repair), its quotations verified."""
    found = Transcript.from_json(store.read(store.transcript_path(video_id)))
    index, linked_video = LazyTranscriptIndex(found.snippets), link_video_id(video_id, found.source)
    if policy != "repair":
        verify_quotes(body, index, linked_video)  # the answers stay with the shared index
        return []
    return repair_requests(body, index, linked_video)


def _response_metadata(record: dict, *, reused: bool) -> dict:
    totals = response_totals(record)
    cost_cents = totals["estimated_cost_cents"]
    return {
        "reused": reused, "model": record["model"], "response_id": record["response_id"],
        "llm_calls": totals["call_count"], "chunk_count": record["chunk_count"],
        "input_tokens": totals["input_tokens"] or 0, "output_tokens": totals["output_tokens"] or 0,
        "total_tokens": totals["total_tokens"] or 0,
        # The UI plots numbers; an unknown cost is flagged, never plotted as 0.
        **({"cost_cents": float(cost_cents)} if cost_cents is not None else {"cost_unknown": True}),
        "cost_source": totals["cost_source"],
        "cost_cents_this_run": 0.0 if reused else float(cost_cents or 0.0),
        "response_time_ms": totals["response_time_ms"],
        "quote_repairs": len(record.get("repairs") or ()),
        PARTITION_ROW_COUNT: len(record["calls"]),  # the video's rows in `llm_calls`
    }


def _essay_metadata(published) -> dict:
    """What the UI shows for one essay partition: the file's metadata plus, as in its front
    matter, the model, total tokens and response time."""
    fields = published.front_matter
    return {**published.metadata, "model": fields["llmModel"], "total_tokens": fields["totalTokens"] or 0,
            "response_time_ms": fields["responseTimeMs"] or 0,
            PARTITION_ROW_COUNT: 1}  # its row in `essays` (one per video and prompt revision)


def _spent_today_cents(warehouse) -> float:
    rows = warehouse.query(
        "SELECT coalesce(sum(cost_usd), 0) AS usd FROM llm_calls "
        "WHERE created_at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
    )
    return usd_to_cents(float(rows[0]["usd"]))


def publish_essays(context: dg.AssetExecutionContext, essay_settings: EssaySettings, prompt_revision: int) -> None:
    settings, store, warehouse = essay_settings.parts()
    loop = PartitionLoop(context, "essay", warehouse)
    essay_rows, quote_rows = [], []
    for video_id in loop.keys:
        response = store.read(store.response_path(video_id, prompt_revision))
        stored = store.read(store.transcript_path(video_id))
        transcript_now = Transcript.from_json(stored) if stored is not None else None
        if (response is None or response.get("model") != settings.model or transcript_now is None
                or response["fingerprint"]["transcript_sha256"] != transcript_now.content_sha256):
            loop.skip(video_id, "no model answer yet for this video" if response is None else
                      f"no model answer yet for this video's current transcript and model {settings.model}",
                      upstream="llm_response")
            continue
        with loop.attempt(video_id):
            try:
                published = publish_essay(settings, store, video_id, prompt_revision, response, context.run.run_id,
                                          transcript_now)
            except BrokenEssay as exc:  # a response stored before cleanup existed, say
                raise StageFailure(f"Video {video_id}: {exc}", reason=exc.reason) from None
            except UnverifiedQuotes as exc:
                raise StageFailure(str(exc), reason="unverified_quotes") from None
            essay_rows.append(published.row)
            quote_rows += published.quote_rows
            loop.succeed(video_id, _essay_metadata(published))
    warehouse.write("essays", essay_rows)  # files first, then one segment for all their rows
    warehouse.write("quotes", quote_rows)
    warehouse.maybe_compact()
    warehouse.ensure_database()
    context.add_output_metadata({"dagster/column_lineage": essays_column_lineage()})
    loop.finish()
    _fail_run_if_any_video_failed(context, warehouse, loop)


def _fail_run_if_any_video_failed(context, warehouse, loop: PartitionLoop) -> None:
    failures = warehouse.query(
        "SELECT video_id, stage, reason, message FROM failures WHERE run_id = ? ORDER BY failed_at", [context.run.run_id]
    )
    if not failures:
        return
    for video_id in loop.succeeded:  # the step will fail: record the essays it did write
        context.log_event(dg.AssetMaterialization(asset_key=context.asset_key, partition=video_id,
                                                  metadata={"status": "written"}))
    lines = "\n".join(f"- {f['video_id']} ({f['stage']}, {f['reason']}): {f['message']}" for f in failures)
    raise dg.Failure(f"{len(loop.succeeded)} essay(s) written; {len(failures)} video(s) failed:\n{lines}",
                     allow_retries=False)


def _video_context(store, video_id: str) -> VideoContext:
    meta = read_video_record(store, video_id)  # stored by the transcript stage: no network here
    return VideoContext(video_id, meta.get("title"), meta.get("channel_name"), meta.get("published_at"))
