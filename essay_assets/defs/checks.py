"""Asset checks: what a reader of the essays, and a payer of the bills, would verify.

They look at the videos of the run being checked (all partitions in a single-run backfill).
`transcript_is_usable` is blocking: a bad transcript must not reach a paid model.
"""


import dagster as dg

from essay_assets.defs.assets import essay, transcript
from essay_assets.defs.partitions import video_partitions
from essay_assets.defs.resources import EssaySettings
from essay_assets.writing.publishing import essay_path
from essay_assets.writing.quality import (
    cost_problems,
    front_matter_problems,
    length_problems,
    structure_problems,
)
from essay_assets.writing.rendering import parse_essay


def run_partition_keys(context: dg.AssetCheckExecutionContext) -> list[str]:
    tags = context.run.tags
    if "dagster/partition" in tags:
        return [tags["dagster/partition"]]
    start, end = tags.get("dagster/asset_partition_range_start"), tags.get("dagster/asset_partition_range_end")
    if start and end:
        order = list(context.instance.get_dynamic_partitions(video_partitions.name))
        return order[order.index(start): order.index(end) + 1] if start in order and end in order else []
    return []


def _result(problems: dict[str, list[str]], checked: int, severity=dg.AssetCheckSeverity.ERROR,
            check_name: str | None = None) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name=check_name,  # which of a multi-check's specs this answers (all are on one asset)
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


# The essay's checks share one step: each essay file is read and parsed once for all three.
ESSAY_CHECKS = {
    "essay_front_matter_is_complete": "Front matter has every reference field, well typed.",
    "essay_has_structure": ("One title, three or more sections with prose, a conclusion in prose, a sane "
                            "length; no repeated paragraphs, tags or reference markers."),
    "essay_cost_is_known_and_within_ceiling": "Cost is known, and under the per-essay ceiling.",
}
# Every essay check is an error: broken output is cleaned or re-asked before publishing
# (writing/cleanup.py), so a structure problem here is a real fault, not model drift.
ESSAY_CHECK_SEVERITY: dict[str, dg.AssetCheckSeverity] = {}


def essay_problems(settings, fields: dict, body: str) -> dict[str, list[str]]:
    """Problems of one essay, per check name (an empty list: that check passes)."""
    words = fields.get("essayWordCount") or 0
    return {
        "essay_front_matter_is_complete": front_matter_problems(fields),
        "essay_has_structure": structure_problems(body) + length_problems(words, settings.min_essay_words,
                                                                          settings.max_essay_words),
        "essay_cost_is_known_and_within_ceiling": cost_problems(fields, settings.essay_cost_ceiling_cents),
    }


@dg.multi_asset_check(
    specs=[dg.AssetCheckSpec(name, asset=essay, description=text) for name, text in ESSAY_CHECKS.items()],
    can_subset=True,
)
def essay_checks(context: dg.AssetCheckExecutionContext, essay_settings: EssaySettings):
    settings = essay_settings.get()
    selected = [key.name for key in context.selected_asset_check_keys]
    problems: dict[str, dict[str, list[str]]] = {name: {} for name in selected}
    checked = 0
    for video_id in run_partition_keys(context):
        path = essay_path(settings.essays_dir, video_id)
        if not path.exists():
            continue
        checked += 1
        fields, body = parse_essay(path.read_text(encoding="utf-8"))
        for name, found in essay_problems(settings, fields, body).items():
            if found and name in problems:
                problems[name][video_id] = found
    for name in selected:
        yield _result(problems[name], checked, ESSAY_CHECK_SEVERITY.get(name, dg.AssetCheckSeverity.ERROR),
                      check_name=name)
