"""Asset checks: what a reader of the essays, and a payer of the bills, would verify.

They look at the videos of the run being checked (all partitions in a single-run backfill).
`transcript_is_usable` is blocking: a bad transcript must not reach a paid model.
"""


from pathlib import Path

import dagster as dg

from essay_assets.assets import essay, transcript
from essay_assets.partitions import video_partitions
from essay_assets.quality import front_matter_problems, length_problems, structure_problems
from essay_assets.rendering import parse_essay
from essay_assets.resources import EssaySettings


def run_partition_keys(context: dg.AssetCheckExecutionContext) -> list[str]:
    tags = context.run.tags
    if "dagster/partition" in tags:
        return [tags["dagster/partition"]]
    start, end = tags.get("dagster/asset_partition_range_start"), tags.get("dagster/asset_partition_range_end")
    if start and end:
        order = list(context.instance.get_dynamic_partitions(video_partitions.name))
        return order[order.index(start): order.index(end) + 1] if start in order and end in order else []
    return []


def _result(problems: dict[str, list[str]], checked: int, severity=dg.AssetCheckSeverity.ERROR) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=not problems,
        severity=severity,
        metadata={"videos_checked": checked, "videos_with_problems": len(problems),
                  "problems": dg.MetadataValue.json(problems)},
    )


@dg.asset_check(asset=transcript, blocking=True, description="Non-empty, and in a preferred language.")
def transcript_is_usable(context: dg.AssetCheckExecutionContext, essay_settings: EssaySettings) -> dg.AssetCheckResult:
    settings, _, warehouse = essay_settings.parts()
    keys = run_partition_keys(context)
    rows = warehouse.query("SELECT * FROM transcripts WHERE list_contains(?, video_id)", [keys]) if keys else []
    problems: dict[str, list[str]] = {}
    for row in rows:
        found = []
        if not row["word_count"]:
            found.append("empty transcript")
        if row["source"] == "youtube" and row["language_code"] not in settings.languages:
            found.append(f"language {row['language_code']} is not one of {list(settings.languages)}")
        if found:
            problems[row["video_id"]] = found
    return _result(problems, len(rows))


def _essays_of_run(context, essay_settings: EssaySettings) -> list[tuple[str, dict, str]]:
    settings, _, _ = essay_settings.parts()
    out = []
    for video_id in run_partition_keys(context):
        path = settings.essays_dir / f"{video_id}.md"
        if Path(path).exists():
            fields, body = parse_essay(path.read_text(encoding="utf-8"))
            out.append((video_id, fields, body))
    return out


@dg.asset_check(asset=essay, description="Front matter has every reference field, well typed.")
def essay_front_matter_is_complete(context: dg.AssetCheckExecutionContext, essay_settings: EssaySettings) -> dg.AssetCheckResult:
    essays = _essays_of_run(context, essay_settings)
    problems = {v: p for v, fields, _ in essays if (p := front_matter_problems(fields))}
    return _result(problems, len(essays))


@dg.asset_check(asset=essay, description="One title, three or more sections, a conclusion, a sane length.")
def essay_has_structure(context: dg.AssetCheckExecutionContext, essay_settings: EssaySettings) -> dg.AssetCheckResult:
    settings = essay_settings.get()
    essays = _essays_of_run(context, essay_settings)
    problems = {}
    for video_id, fields, body in essays:
        found = structure_problems(body) + length_problems(fields.get("essayWordCount") or 0,
                                                           settings.min_essay_words, settings.max_essay_words)
        if found:
            problems[video_id] = found
    # A warning, not an error: small local models drift from the outline; the essay is still kept.
    return _result(problems, len(essays), severity=dg.AssetCheckSeverity.WARN)


@dg.asset_check(asset=essay, description="Cost is known, and under the per-essay ceiling.")
def essay_cost_is_known_and_within_ceiling(context: dg.AssetCheckExecutionContext, essay_settings: EssaySettings) -> dg.AssetCheckResult:
    settings = essay_settings.get()
    essays = _essays_of_run(context, essay_settings)
    problems = {}
    for video_id, fields, _ in essays:
        cents = fields.get("estimatedCostCents")
        if cents is None:
            problems[video_id] = ["cost unknown: set model_prices in config.yaml for this model"]
        elif settings.essay_cost_ceiling_cents is not None and cents > settings.essay_cost_ceiling_cents:
            problems[video_id] = [f"{cents:.4f} cents is over the ceiling of {settings.essay_cost_ceiling_cents} cents"]
    return _result(problems, len(essays))
