"""Scenario (e) of bench/backfill.py: the issue's design with nothing else, as a yardstick.

Four `-> None` assets over a dynamic partition set, `BackfillPolicy.single_run()`, the
in-process executor, one `asyncio.gather` of `litellm.acompletion` calls under a semaphore,
and no checks, warehouse, ledger, metadata or retries. It shows what the design itself costs
on this machine, apart from everything essay_assets adds, and where litellm's import lands:

    LITELLM_AT_LOAD=0  litellm is imported inside the LLM step, as essay_assets does (the run pays it)
    LITELLM_AT_LOAD=1  litellm is imported with the code, before Dagster starts the run's clock

    python bench/bare_prototype.py DATA API_BASE CONCURRENCY RESULT_JSON

DATA holds transcripts/<id>.json; the essays land in DATA/essays/.
"""

import asyncio
import json
import os
import sys
import time
from pathlib import Path

import dagster as dg

if os.environ.get("LITELLM_AT_LOAD") == "1":
    import litellm  # noqa: F401  (the import is the point)

MODEL = "openai/gpt-4o"
videos = dg.DynamicPartitionsDefinition(name="videos")
_common = dict(partitions_def=videos, backfill_policy=dg.BackfillPolicy.single_run())


def _data() -> Path:
    return Path(os.environ["BARE_DATA"])


@dg.asset(**_common)
def transcript(context: dg.AssetExecutionContext) -> None:
    for video_id in context.partition_keys:
        snippets = json.loads((_data() / "transcripts" / f"{video_id}.json").read_text())
        (_data() / "raw" / f"{video_id}.txt").write_text(" ".join(s["text"] for s in snippets))


@dg.asset(**_common, deps=[transcript])
def essay_prompt(context: dg.AssetExecutionContext) -> None:
    for video_id in context.partition_keys:
        text = (_data() / "raw" / f"{video_id}.txt").read_text()
        messages = [{"role": "system", "content": "You are the third guest of this conversation. Write an essay."},
                    {"role": "user", "content": f"<transcript>\n{text}\n</transcript>"}]
        (_data() / "raw" / f"{video_id}.prompt.json").write_text(json.dumps(messages))


@dg.asset(**_common, deps=[essay_prompt])
def llm_response(context: dg.AssetExecutionContext) -> None:
    import litellm

    limit = asyncio.Semaphore(int(os.environ["BARE_CONCURRENCY"]))

    async def answer(video_id: str) -> None:
        async with limit:
            messages = json.loads((_data() / "raw" / f"{video_id}.prompt.json").read_text())
            response = await litellm.acompletion(model=MODEL, messages=messages, api_base=os.environ["BARE_API_BASE"],
                                                 api_key="fake", max_tokens=1200)
            (_data() / "raw" / f"{video_id}.response.json").write_text(response.model_dump_json())

    async def answer_all() -> None:
        await asyncio.gather(*(answer(v) for v in context.partition_keys))

    asyncio.run(answer_all())


@dg.asset(**_common, deps=[llm_response])
def essay(context: dg.AssetExecutionContext) -> None:
    for video_id in context.partition_keys:
        response = json.loads((_data() / "raw" / f"{video_id}.response.json").read_text())
        (_data() / "essays" / f"{video_id}.md").write_text(response["choices"][0]["message"]["content"])


defs = dg.Definitions(assets=[transcript, essay_prompt, llm_response, essay], executor=dg.in_process_executor)


def main(data: Path, api_base: str, concurrency: int, result_path: Path) -> None:
    os.environ.update(BARE_DATA=str(data), BARE_API_BASE=api_base, BARE_CONCURRENCY=str(concurrency))
    for folder in ("raw", "essays"):
        (data / folder).mkdir(exist_ok=True)
    ids = sorted(path.stem for path in (data / "transcripts").glob("*.json"))
    instance = dg.DagsterInstance.get()
    instance.add_dynamic_partitions(videos.name, ids)
    job = defs.resolve_implicit_global_asset_job_def()
    started = time.monotonic()
    result = job.execute_in_process(instance=instance, tags={
        "dagster/asset_partition_range_start": ids[0], "dagster/asset_partition_range_end": ids[-1]})
    record = instance.get_run_record_by_id(result.run_id)
    result_path.write_text(json.dumps({
        "success": result.success, "execute_s": time.monotonic() - started,
        "run_duration_s": record.end_time - record.start_time}))


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), Path(sys.argv[4]))
