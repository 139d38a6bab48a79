"""The versioned prompts (writing/prompts.py)."""

from __future__ import annotations

from essay_assets.writing.prompts import essay_sections, load_prompts


def test_essay_sections_come_from_the_prompt_revision():
    headings = [h for h, _ in essay_sections(load_prompts())]
    assert headings == ["Reflections", "Research directions", "Challenging the assumptions", "Conclusion"]
