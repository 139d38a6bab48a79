"""Tidying a model's essay before publishing (writing/cleanup.py), on shapes the embedded
model really produced."""

from __future__ import annotations

import pytest

from essay_assets.writing.cleanup import (
    BrokenEssay,
    broken_sections,
    clean_body,
    conclusion_is_a_list,
    leftover_markup,
    publishable_body,
    repeated_paragraphs,
)

PROSE = ("I keep returning to the claim that shade is a public good, because the speakers tied it to "
         "measured street temperatures rather than to intuition alone.")
OTHER = ("The research I would want first is a simple one: measure night temperatures on matched "
         "streets with and without canopy for a whole summer.")


def essay(*sections: tuple[str, str]) -> str:
    return "# Who gets the shade\n\n" + "\n\n".join(f"## {h}\n\n{text}" for h, text in sections) + "\n"


def test_reference_tags_html_and_chat_tokens_are_removed_and_the_prose_kept():
    raw = essay(("Reflections", PROSE[:-1] + '<ref name="a">https://www.youtube.com/embed?v=x&t=1</ref>.<br>'
                 + OTHER + "<|im_end|>"),
                ("Conclusion", '<the id="ad23-1b89" title="The Long Way Round">' + OTHER + "[1]</the> <sup>2</sup>"))
    cleaned = clean_body(raw)
    assert "<" not in cleaned.body and "[1]" not in cleaned.body and "http" not in cleaned.body
    assert PROSE in cleaned.body and OTHER in cleaned.body
    assert leftover_markup(cleaned.body) == [] and leftover_markup(raw) != []
    assert {"removed 2 reference tags", "removed 1 chat-template tokens"} <= set(cleaned.fixes)


def test_a_tag_with_a_nameless_attribute_goes_too():
    raw = essay(("Reflections", f'<section id="text-wrap">{PROSE}\n<textbox="10">{OTHER}'))
    assert "<" not in clean_body(raw).body and leftover_markup(raw) == ['<section id="text-wrap">', '<textbox="10">']


def test_time_markers_survive_and_reference_markers_do_not():
    text = f'She said "shade is infrastructure" [12:30] and later "heat kills quietly" [1:02:05]. {PROSE} [2][3, 4]'
    cleaned = clean_body(essay(("Reflections", text)))
    assert '"shade is infrastructure" [12:30]' in cleaned.body and "[1:02:05]" in cleaned.body
    assert "[2]" not in cleaned.body and "[3, 4]" not in cleaned.body


def test_a_repeated_paragraph_is_kept_once():
    raw = essay(("Reflections", f"{PROSE}\n\n{OTHER}\n\n{PROSE.upper()}"), ("Conclusion", PROSE))
    cleaned = clean_body(raw)
    assert cleaned.body.count(PROSE) == 1 and OTHER in cleaned.body
    assert repeated_paragraphs(raw) and repeated_paragraphs(cleaned.body) == []
    assert "removed 2 repeated paragraph(s)" in cleaned.fixes


def test_a_conclusion_of_notes_becomes_prose():
    notes = ("- **Shade** is unequally shared\n- cool roofs help top floors most\n"
             "1) measure before planting:\n* who pays for the water")
    raw = essay(("Reflections", PROSE), ("Conclusion", notes))
    assert conclusion_is_a_list(raw)
    cleaned = clean_body(raw)
    assert cleaned.body.endswith("## Conclusion\n\nShade is unequally shared. Cool roofs help top floors most. "
                                 "Measure before planting. Who pays for the water.\n")
    assert not conclusion_is_a_list(cleaned.body)
    assert "turned the conclusion's list into prose" in cleaned.fixes


def test_an_answer_cut_off_mid_sentence_ends_at_its_last_full_sentence():
    cut = f"{PROSE} Part 1: What the conversation was really about is that there's a new way of thinking in terms of human well"
    cleaned = clean_body(essay(("Reflections", cut), ("Research directions", "in the High Line city's underground,")))
    assert f"## Reflections\n\n{PROSE}\n\n## Research directions\n" in cleaned.body + "\n"
    assert "removed 2 cut-off sentence(s)" in cleaned.fixes


def test_echoed_prompt_labels_go():
    cleaned = clean_body(essay(("Conclusion", f"Notes on part 1:\n{PROSE}\n\nPart 2: {OTHER}")))
    assert "Notes on part" not in cleaned.body and "Part 2" not in cleaned.body and OTHER in cleaned.body


def test_a_clean_essay_is_left_alone():
    body = essay(("Reflections", PROSE), ("Research directions", OTHER), ("Conclusion", PROSE.replace("I keep", "We keep")))
    assert clean_body(body) == clean_body(body) and clean_body(body).body == body and clean_body(body).fixes == ()


def test_empty_and_near_empty_sections_are_broken_and_not_publishable():
    raw = essay(("Reflections", ""), ("Research directions", OTHER), ("Challenging the assumptions", "<br>"),
                ("Conclusion", "It matters."))
    assert [p.split("'")[1] for p in broken_sections(clean_body(raw).body)] == [
        "Reflections", "Challenging the assumptions", "Conclusion"]
    with pytest.raises(BrokenEssay, match="Reflections"):
        publishable_body(raw)
    assert publishable_body(essay(("Reflections", PROSE), ("Conclusion", OTHER))).fixes == ()


@pytest.mark.parametrize("text", ["a <|im_end|> b", "<<A title>>", "x<REF name='a'>[1]</ref>", "line<BR/>next",
                                  "<textbox=\"10\">", "[^1]: a source", "a claim [2, 3].", "a claim[4-6]",
                                  "Notes on part 2: the notes", "PART #1 of 3: the part"])
def test_a_pattern_is_skipped_only_where_it_could_not_match(text):
    """clean_body and leftover_markup skip a pattern over a text lacking what it needs; wherever
    a pattern does match, what it needs is there (so skipping never changes a result)."""
    from essay_assets.writing.cleanup import _NEEDS, _NEEDS_IN_LOWER_CASE, _could_match

    matching = [p for p in (*_NEEDS, *_NEEDS_IN_LOWER_CASE) if p.search(text)]
    assert matching
    assert all(_could_match(pattern, text) for pattern in matching)


def test_a_near_empty_section_is_named_with_its_exact_word_count():
    """Words are counted only until a section has enough; a short one still gets its exact count."""
    body = ("# Title\n\n## Short\n\nOnly seven words are in this section.\n\n## Split\n\nFive words on this line.\n"
            "And six more words on this.\n\n## Long\n\n" + PROSE + "\n\n" + PROSE + "\n")
    assert broken_sections(body) == ["section 'Short' is empty or near-empty (7 words)",
                                     "section 'Split' is empty or near-empty (11 words)"]
