"""Asset checks: what a reader of the essays, and a payer of the bills, would verify.

They look at the videos of the run being checked (all partitions in a single-run backfill).
`transcript_is_usable` is blocking: a bad transcript must not reach a paid model.
"""


import dagster as dg

from essay_assets.defs.partitions import video_partitions
from essay_assets.defs.resources import EssaySettings
from essay_assets.intake.transcripts import Transcript
from essay_assets.writing.publishing import essay_path
from essay_assets.writing.quality import (
    cost_problems,
    front_matter_problems,
    length_problems,
    structure_problems,
)
from essay_assets.writing.quotes import LazyTranscriptIndex, verbatim_problems
from essay_assets.writing.rendering import parse_essay
from essay_assets.writing.repair import link_video_id


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


# Assets are named by key: they are declared per settings (defs/assets.py's factory).
@dg.asset_check(asset="transcript", blocking=True, description="Non-empty, and in a preferred language.")
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


# The essay's checks share one step: each essay file is read and parsed once for all of them.
ESSAY_CHECKS = {
    "essay_front_matter_is_complete": "Front matter has every reference field, well typed.",
    "essay_has_structure": ("One title, three or more sections with prose, a conclusion in prose, a sane "
                            "length; no repeated paragraphs, tags or reference markers."),
    "essay_cost_is_known_and_within_ceiling": "Cost is known, and under the per-essay ceiling.",
    "essay_quotes_are_verbatim": "Every quotation is in the transcript word for word, and its link opens the video "
                                 "within 10 s of where it starts (no link when the transcript has no times).",
}
# Every essay check is an error: broken output is cleaned or re-asked before publishing
# (writing/cleanup.py), so a structure problem here is a real fault, not model drift.
ESSAY_CHECK_SEVERITY: dict[str, dg.AssetCheckSeverity] = {}


def quote_problems(store, video_id: str, body: str) -> list[str]:
    """Re-read the stored transcript and check every quotation of the published body against it,
    independently of what the essay step recorded."""
    stored = store.read(store.transcript_path(video_id))
    if stored is None:
        return ["no stored transcript to check the quotations against"]
    transcript = Transcript.from_json(stored)
    index = LazyTranscriptIndex(transcript.snippets)  # built only if the body quotes
    linked = index.has_times and link_video_id(video_id, transcript.source) is not None
    return verbatim_problems(body, index, linked=linked)


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
    specs=[dg.AssetCheckSpec(name, asset="essay", description=text) for name, text in ESSAY_CHECKS.items()],
    can_subset=True,
)
def essay_checks(context: dg.AssetCheckExecutionContext, essay_settings: EssaySettings):
    settings, store, _ = essay_settings.parts()
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
        if "essay_quotes_are_verbatim" in problems and (found := quote_problems(store, video_id, body)):
            problems["essay_quotes_are_verbatim"][video_id] = found
    for name in selected:
        yield _result(problems[name], checked, ESSAY_CHECK_SEVERITY.get(name, dg.AssetCheckSeverity.ERROR),
                      check_name=name)
