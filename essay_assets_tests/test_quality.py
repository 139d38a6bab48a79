"""The essay checks' judgements: front matter, structure, length, cost (writing/quality.py)."""

from __future__ import annotations

from essay_assets.writing.quality import (
    cost_problems,
    front_matter_problems,
    length_problems,
    structure_problems,
)
from essay_assets_tests.support.reference_essay import reference_fields


def test_reference_front_matter_passes_and_a_string_cost_fails():
    fields = {**reference_fields(), "costSource": "provider"}
    assert front_matter_problems(fields) == []
    assert front_matter_problems({**fields, "estimatedCostCents": "0"}) != []
    assert any("costSource" in p for p in front_matter_problems({**fields, "estimatedCostCents": None}))


def test_structure_and_length_checks():
    good = "# T\n\n## Reflections\nx\n\n## Research directions\ny\n\n## Conclusion\nz\n"
    assert structure_problems(good) == []
    assert len(structure_problems("# T\n\n## Only one\n")) == 2
    assert length_problems(100, 150, 6000) and not length_problems(500, 150, 6000)


def test_cost_problems_flag_unknown_and_over_ceiling_costs():
    assert cost_problems({"estimatedCostCents": None}, None) != []
    assert cost_problems({"estimatedCostCents": 0.0}, None) == []  # a known 0 (local model) is fine
    assert cost_problems({"estimatedCostCents": 5.42}, 5.0) and not cost_problems({"estimatedCostCents": 4.9}, 5.0)
