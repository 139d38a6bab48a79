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
    prose = "Each section holds a whole paragraph of prose: the claim, the evidence behind it, and what would change my mind about it."
    good = f"# T\n\n## Reflections\n{prose}\n\n## Research directions\nWe ask: {prose}\n\n## Conclusion\nSo: {prose}\n"
    assert structure_problems(good) == []
    assert len(structure_problems(f"# T\n\n## Only one\n{prose}\n")) == 2  # too few sections, no conclusion
    assert length_problems(100, 150, 6000) and not length_problems(500, 150, 6000)


def test_structure_problems_name_what_cleanup_would_have_fixed_or_re_asked_for():
    prose = ("I would measure night temperatures on matched streets, with and without trees, for a summer, "
             "and only then argue about who gets the shade.")
    good = f"# T\n\n## Reflections\n{prose}\n\n## Research directions\n{prose.replace('I', 'We')}\n\n## Conclusion\n{prose[2:]}\n"
    assert structure_problems(good) == []
    empty = good.replace(f"## Research directions\n{prose.replace('I', 'We')}", "## Research directions\n")
    assert any("'Research directions' is empty" in p for p in structure_problems(empty))
    repeated = good + "\n" + prose + "\n"
    assert any("repeated paragraph" in p for p in structure_problems(repeated))
    tagged = good.replace("the shade.", 'the shade.<ref name="x">https://www.youtube.com/embed?v=1</ref>')
    assert any("leftover tag" in p for p in structure_problems(tagged))
    assert any("leftover tag" in p for p in structure_problems(good.replace("the shade.", "the shade [1].")))
    listed = good.replace(f"## Conclusion\n{prose[2:]}", "## Conclusion\n- trees\n- roofs\n- " + prose)
    assert "the conclusion is a list of notes, not prose" in structure_problems(listed)


def test_cost_problems_flag_unknown_and_over_ceiling_costs():
    assert cost_problems({"estimatedCostCents": None}, None) != []
    assert cost_problems({"estimatedCostCents": 0.0}, None) == []  # a known 0 (local model) is fine
    assert cost_problems({"estimatedCostCents": 5.42}, 5.0) and not cost_problems({"estimatedCostCents": 4.9}, 5.0)
