"""What makes an essay acceptable: pure checks that asset checks and tests both use."""

from __future__ import annotations

import re
from typing import Any

from essay_assets.essay_record import (
    FIELDS_BY_NAME,
    REFERENCE_FIELDS,
    front_matter_copy_problems,
    front_matter_type_problems,
)
from essay_assets.writing.cleanup import (
    broken_sections,
    conclusion_is_a_list,
    leftover_markup,
    repeated_paragraphs,
)

_CREATED_AT = re.compile(FIELDS_BY_NAME["createdAt"].kind.json_pattern)
_CONCLUSION = re.compile(r"^##\s+.*(conclusion|closing|final thoughts|takeaway)", re.IGNORECASE | re.MULTILINE)


def front_matter_problems(fields: dict[str, Any]) -> list[str]:
    problems = [f"missing {name}" for name in REFERENCE_FIELDS if name not in fields]
    problems += front_matter_type_problems(fields)
    problems += front_matter_copy_problems(fields)
    if isinstance(fields.get("createdAt"), str) and not _CREATED_AT.match(fields["createdAt"]):
        problems.append("createdAt is not like 2026-01-08T09:31:43.631Z")
    if fields.get("estimatedCostCents") is None and fields.get("costSource") != "unknown":
        problems.append("estimatedCostCents is null but costSource does not say unknown")
    return problems


def structure_problems(body: str) -> list[str]:
    lines = body.strip().splitlines()
    problems = []
    titles = [line for line in lines if line.startswith("# ")]
    if len(titles) != 1 or not lines or not lines[0].startswith("# "):
        problems.append(f"expected exactly one '# ' title as the first line, found {len(titles)}")
    sections = [line for line in lines if line.startswith("## ")]
    if len(sections) < 3:
        problems.append(f"expected at least three '## ' sections, found {len(sections)}")
    if not _CONCLUSION.search(body):
        problems.append("no conclusion section ('## Conclusion')")
    # What writing/cleanup fixes or re-asks for before publishing: here, for essays that
    # escaped it (published before it existed, or edited by hand).
    problems += broken_sections(body)
    repeated = repeated_paragraphs(body)
    if repeated:
        problems.append(f"{len(repeated)} repeated paragraph(s), e.g. {repeated[0][:60]!r}")
    markup = leftover_markup(body)
    if markup:
        problems.append(f"{len(markup)} leftover tag(s) or reference marker(s), e.g. {markup[0][:60]!r}")
    if conclusion_is_a_list(body):
        problems.append("the conclusion is a list of notes, not prose")
    return problems


def length_problems(word_count: int, minimum: int, maximum: int) -> list[str]:
    if word_count < minimum:
        return [f"{word_count} words, fewer than the minimum {minimum} (ESSAYS_MIN_ESSAY_WORDS)"]
    if word_count > maximum:
        return [f"{word_count} words, more than the maximum {maximum} (ESSAYS_MAX_ESSAY_WORDS)"]
    return []


def cost_problems(fields: dict[str, Any], ceiling_cents: float | None) -> list[str]:
    cents = fields.get("estimatedCostCents")
    if cents is None:
        return ["cost unknown: set model_prices in data/config.yaml for this model (see docs/costs.md)"]
    if ceiling_cents is not None and cents > ceiling_cents:
        return [f"{cents:.4f} cents is over the per-essay ceiling of {ceiling_cents:g} cents"]
    return []
