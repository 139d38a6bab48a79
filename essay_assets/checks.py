"""Asset checks: what a reader of the essays, and a payer of the bills, would verify.

They look at the videos of the run being checked (all partitions in a single-run backfill).
`transcript_is_usable` is blocking: a bad transcript must not reach a paid model.
"""


import dagster as dg

from essay_assets.assets import essay, transcript
from essay_assets.partitions import video_partitions
from essay_assets.quality import cost_problems, front_matter_problems, length_problems, structure_problems
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


def _check_essays(context, essay_settings: EssaySettings, problems_of, severity=dg.AssetCheckSeverity.ERROR):
    """Run `problems_of(settings, fields, body) -> list[str]` over the essays of this run."""
    settings = essay_settings.get()
    problems, checked = {}, 0
    for video_id in run_partition_keys(context):
        path = settings.essays_dir / f"{video_id}.md"
        if not path.exists():
            continue
        checked += 1
        fields, body = parse_essay(path.read_text(encoding="utf-8"))
        if found := problems_of(settings, fields, body):
            problems[video_id] = found
    return _result(problems, checked, severity)


@dg.asset_check(asset=essay, description="Front matter has every reference field, well typed.")
def essay_front_matter_is_complete(context: dg.AssetCheckExecutionContext, essay_settings: EssaySettings) -> dg.AssetCheckResult:
    return _check_essays(context, essay_settings, lambda settings, fields, body: front_matter_problems(fields))


@dg.asset_check(asset=essay, description="One title, three or more sections, a conclusion, a sane length.")
def essay_has_structure(context: dg.AssetCheckExecutionContext, essay_settings: EssaySettings) -> dg.AssetCheckResult:
    def problems_of(settings, fields, body):
        words = fields.get("essayWordCount") or 0
        return structure_problems(body) + length_problems(words, settings.min_essay_words, settings.max_essay_words)

    # A warning, not an error: small local models drift from the outline; the essay is still kept.
    return _check_essays(context, essay_settings, problems_of, severity=dg.AssetCheckSeverity.WARN)


@dg.asset_check(asset=essay, description="Cost is known, and under the per-essay ceiling.")
def essay_cost_is_known_and_within_ceiling(context: dg.AssetCheckExecutionContext, essay_settings: EssaySettings) -> dg.AssetCheckResult:
    return _check_essays(context, essay_settings,
                         lambda settings, fields, body: cost_problems(fields, settings.essay_cost_ceiling_cents))
