"""The quote verifier: every quotation must be the speakers' own words, linked to its moment.

The labelled set (LABELLED) is data: genuine quotations a careful writer could publish, and
altered or invented ones a model produces. One test prints the figures the issue asks for.
"""

from __future__ import annotations

import copy

import pytest

from essay_assets.writing import quotes
from essay_assets.writing.quotes import (
    MIN_QUOTE_WORDS,
    LazyTranscriptIndex,
    Quotation,
    QuoteMatch,
    TranscriptIndex,
    clean_links,
    find_quotations,
    match_quote,
    quote_link,
    strip_model_timestamps,
    unquote,
    verbatim_problems,
    verify_quotes,
)
from essay_assets_tests.support.quoted_conversation import SNIPPETS, VIDEO_ID

OTHER_ID = "aaaaaaaaaaa"
# The conversation about urban heat the pipeline tests quote too (support/quoted_conversation.py):
# a punctuated (human) first half, an auto-caption second half (lower case, no punctuation, ">>"
# speaker changes), filler words and captioner's tags.

# (quotation as the essay drafted it, expected: None = must be rejected, else (start_s, published words)).
GENUINE, ALTERED = "genuine", "altered"
LABELLED: list[tuple[str, str, tuple[float, str] | None]] = [
    # -- genuine: exact
    (GENUINE, "shade is not a luxury", (14.7, "shade is not a luxury.")),
    (GENUINE, "Shade is infrastructure, just like water pipes", (18.5, "Shade is infrastructure, just like water pipes")),
    (GENUINE, "they need more trees", (40.2, "they need more trees.")),
    (GENUINE, "the cheapest health policy we ever had", (56.3, "the cheapest health policy we ever had")),
    # -- genuine: case and punctuation
    (GENUINE, "SHADE IS NOT A LUXURY!", (14.7, "shade is not a luxury.")),
    (GENUINE, "Shade is infrastructure — just like water pipes", (18.5, None)),
    (GENUINE, "welcome back today I'm talking with Dr Amara Osei", (4.2, None)),
    (GENUINE, "That's a 40 % cut in heat related hospital visits", (29.0, None)),
    # -- genuine: apostrophes and curly quotes
    (GENUINE, "And I dont think cities need more air conditioning", (36.9, None)),
    (GENUINE, "And I don’t think cities need more air conditioning", (36.9, None)),
    (GENUINE, "That’s a 40% cut", (29.0, "That's a 40% cut")),
    # -- genuine: spanning caption snippets
    (GENUINE, "just like water pipes or electricity", (18.5, "just like water pipes or electricity.")),
    (GENUINE, "When we planted 3,000 trees in one neighbourhood, night-time temperatures dropped by two degrees.",
     (23.0, None)),
    (GENUINE, "I don't think cities need more air conditioning; they need more trees.", (36.9, None)),
    (GENUINE, "the trees need water for the first three years and without that most of them die", (59.0, None)),
    # -- genuine: numbers in digits or words
    (GENUINE, "night-time temperatures dropped by 2 degrees", (26.2, None)),
    (GENUINE, "we planted 3000 trees", (23.0, None)),
    (GENUINE, "who has spent 12 years measuring heat in Accra and Lagos", (7.3, None)),
    (GENUINE, "need water for the first 3 years", (61.6, None)),
    # -- genuine: ellipsis
    (GENUINE, "Shade is infrastructure … they need more trees", (18.5, "Shade is infrastructure, … they need more trees.")),
    (GENUINE, "honestly it was how fast people noticed the difference... residents were sleeping outside again",
     (46.3, None)),
    (GENUINE, "the trees need water ... and without that most of them die", (59.0, None)),
    (GENUINE, "… the cheapest health policy we ever had …", (56.3, None)),
    # -- genuine: auto-captions, quoted with proper punctuation
    (GENUINE, "Honestly, it was how fast people noticed the difference.", (46.3, None)),
    (GENUINE, "Within weeks, residents were sleeping outside again.", (48.8, "within weeks residents were sleeping outside again")),
    (GENUINE, "Kwame Mensah, the mayor, called it the cheapest health policy we ever had.", (53.8, None)),
    (GENUINE, "What surprised you most about the results in Lagos?", (42.1, "what surprised you most about the results in lagos")),
    # -- genuine: a phrase said twice (the first occurrence is linked)
    (GENUINE, "shade is infrastructure", (18.5, "Shade is infrastructure,")),
    (GENUINE, "Shade is infrastructure. You have to maintain it like any other.", (66.5, None)),
    # -- genuine: filler words dropped
    (GENUINE, "Thank you for having me. It's a real pleasure.", (11.2, "thank you for having me. It's, a real pleasure.")),
    (GENUINE, "we have to be careful: the trees need water", (59.0, "we have to be careful the trees need water")),
    (GENUINE, "noticed the difference within weeks", (48.8, "noticed the difference within weeks")),
    # -- altered: a flipped negation
    (ALTERED, "shade is a luxury", None),
    (ALTERED, "I think cities need more air conditioning", None),
    (ALTERED, "shade is not infrastructure", None),
    # -- altered: "more" -> "fewer" and other changed words
    (ALTERED, "they need fewer trees", None),
    (ALTERED, "I don't think cities need less air conditioning", None),
    (ALTERED, "the most expensive health policy we ever had", None),
    (ALTERED, "within days residents were sleeping outside again", None),
    # -- altered: changed numbers
    (ALTERED, "When we planted 30,000 trees in one neighbourhood", None),
    (ALTERED, "night-time temperatures dropped by four degrees", None),
    (ALTERED, "That's a 14% cut in heat-related hospital visits", None),
    (ALTERED, "who has spent twenty years measuring heat in Accra and Lagos", None),
    (ALTERED, "need water for the first 2 years", None),
    # -- altered: swapped names
    (ALTERED, "who has spent twelve years measuring heat in Lagos and Accra", None),
    (ALTERED, "Amara Osei, the mayor, called it the cheapest health policy we ever had", None),
    (ALTERED, "what surprised you most about the results in Accra", None),
    # -- altered: a real quote with an invented tail
    (ALTERED, "shade is not a luxury, it is a human right", None),
    (ALTERED, "they need more trees and better building codes", None),
    (ALTERED, "the cheapest health policy we ever had, and the most popular", None),
    # -- invented: famous sayings, never said here
    (ALTERED, "The best time to plant a tree was twenty years ago", None),
    (ALTERED, "Think globally, act locally", None),
    (ALTERED, "In the long run we are all dead", None),
    # -- altered: pieces out of order around an ellipsis, or a piece that was never said
    (ALTERED, "they need more trees … shade is not a luxury", None),
    (ALTERED, "most of them die … we planted 3,000 trees", None),
    (ALTERED, "shade is not a luxury … it is a human right", None),
    # -- altered: words dropped or inserted inside a real quote
    (ALTERED, "the trees need water for the first years", None),
    (ALTERED, "they really need more trees", None),
]


@pytest.fixture(scope="module")
def index() -> TranscriptIndex:
    return TranscriptIndex.from_snippets(SNIPPETS)


def classify(index: TranscriptIndex) -> dict[str, list[tuple[str, QuoteMatch]]]:
    results: dict[str, list[tuple[str, QuoteMatch]]] = {GENUINE: [], ALTERED: []}
    for label, quoted, _ in LABELLED:
        results[label].append((quoted, match_quote(index, quoted)))
    return results


def test_the_labelled_set_is_large_and_balanced():
    labels = [label for label, _, _ in LABELLED]
    assert len(LABELLED) >= 40
    assert labels.count(GENUINE) >= 20 and labels.count(ALTERED) >= 20


def test_labelled_set_figures(index, capsys):
    results = classify(index)
    kept = sum(match.verified for _, match in results[GENUINE])
    rejected = sum(not match.verified for _, match in results[ALTERED])
    with capsys.disabled():
        print(f"\nquote verifier: genuine kept {kept}/{len(results[GENUINE])} "
              f"({100 * kept / len(results[GENUINE]):.0f} % recall); altered or invented rejected "
              f"{rejected}/{len(results[ALTERED])} ({100 * rejected / len(results[ALTERED]):.0f} %)")
    assert rejected == len(results[ALTERED]), [q for q, m in results[ALTERED] if m.verified]
    assert kept >= 0.95 * len(results[GENUINE]), [(q, m.reason) for q, m in results[GENUINE] if not m.verified]


@pytest.mark.parametrize("quoted, expected", [(q, e) for label, q, e in LABELLED if label == GENUINE])
def test_a_genuine_quotation_is_verified_at_its_snippet_in_the_transcripts_words(index, quoted, expected):
    match = match_quote(index, quoted)
    assert match.verified, match.reason
    start_s, published = expected
    assert match.start_s == start_s
    assert match.score == 100.0 and match.reason == ""
    if published is not None:
        assert match.transcript_text == published


@pytest.mark.parametrize("quoted", [q for label, q, _ in LABELLED if label == ALTERED])
def test_an_altered_or_invented_quotation_is_rejected_with_a_reason(index, quoted):
    match = match_quote(index, quoted)
    assert not match.verified
    assert match.transcript_text is None and match.start_s is None
    assert match.reason and 0.0 <= match.score < 100.0


def test_the_reason_names_the_changed_word(index):
    assert match_quote(index, "they need fewer trees").reason == "content words differ: 'fewer' instead of 'more'"
    assert "'not' missing" in match_quote(index, "shade is a luxury").reason
    assert "human right" in match_quote(index, "shade is not a luxury, it is a human right").reason
    assert match_quote(index, "Think globally, act locally").reason == "not in the transcript"
    assert "order" in match_quote(index, "they need more trees … shade is not a luxury").reason


def test_filler_words_and_captioners_tags_are_not_published(index):
    match = match_quote(index, "how fast people noticed the difference within weeks residents")
    assert match.verified and "um" not in match.transcript_text.split()
    assert match.transcript_text == "how fast people noticed the difference within weeks residents"
    assert match_quote(index, "Music welcome back").verified is False  # "[Music]" is nobody's words


def test_an_ellipsis_piece_must_follow_within_the_gap_bound():
    words = [{"text": "alpha beta gamma", "start": 1.0, "duration": 1.0}]
    words += [{"text": "filler words here", "start": 2.0 + i, "duration": 1.0} for i in range(150)]
    words += [{"text": "delta epsilon zeta", "start": 200.0, "duration": 1.0}]
    index = TranscriptIndex.from_snippets(words)
    assert not match_quote(index, "alpha beta … delta epsilon").verified  # 450 words apart
    # The first "filler words" that brings "delta epsilon" within reach, not the very first one.
    assert match_quote(index, "filler words … delta epsilon").start_s == 52.0


def test_an_ellipsis_links_the_first_occurrence_that_lets_later_pieces_follow():
    snippets = [{"text": "we tried it", "start": 1.0, "duration": 1.0}]
    snippets += [{"text": "nothing to see", "start": 2.0 + i, "duration": 1.0} for i in range(120)]
    snippets += [{"text": "we tried it again and it worked", "start": 500.0, "duration": 1.0}]
    match = match_quote(TranscriptIndex.from_snippets(snippets), "we tried it … it worked")
    assert match.verified and match.start_s == 500.0


def test_a_plain_text_transcript_verifies_without_times():
    index = TranscriptIndex.from_snippets([{"text": "We need more trees.", "start": 0, "duration": 0},
                                           {"text": "Shade is infrastructure.", "start": 0, "duration": 0}])
    assert not index.has_times
    match = match_quote(index, "we need more trees")
    assert match.verified and match.start_s is None


def test_the_index_collects_the_transcripts_urls(index):
    assert "heatwatch.org/accra" in index.urls
    assert TranscriptIndex.from_snippets([]).urls == frozenset()
    assert not match_quote(TranscriptIndex.from_snippets([]), "anything at all").verified


def test_a_url_that_opens_a_caption_line_is_the_transcripts_too():
    """Captions are joined with line breaks: a URL said first in a snippet follows "\n", not a space."""
    index = TranscriptIndex.from_snippets([{"text": "the data is on the site", "start": 1.0},
                                           {"text": "heatwatch.org/accra for every street", "start": 3.0},
                                           {"text": "and\tcitymaps.net too", "start": 5.0}])
    assert {"heatwatch.org/accra", "citymaps.net"} <= index.urls


def test_the_same_transcript_gets_the_same_index():
    """The essay step and its check verify the same stored transcript: one index for both."""
    first = TranscriptIndex.from_snippets(SNIPPETS)
    assert TranscriptIndex.from_snippets(copy.deepcopy(SNIPPETS)) is first


def test_a_changed_start_time_or_text_gets_its_own_index():
    moved = copy.deepcopy(SNIPPETS)
    moved[3]["start"] += 1.0
    edited = copy.deepcopy(SNIPPETS)
    edited[3]["text"] += " and more"
    original = TranscriptIndex.from_snippets(SNIPPETS)
    moved_index, edited_index = TranscriptIndex.from_snippets(moved), TranscriptIndex.from_snippets(edited)
    assert moved_index is not original and edited_index is not original
    assert moved_index.snippet_starts[3] == SNIPPETS[3]["start"] + 1.0
    assert edited_index.snippet_texts[3].endswith(" and more")


def test_snippets_with_odd_fields_index_as_before():
    """None or a number as text, a missing or "" start, line breaks inside a snippet."""
    index = TranscriptIndex.from_snippets([{"text": "We need\nmore trees.", "start": ""}, {"text": None},
                                           {"text": 42, "start": 3}, {"text": "Shade is\r\ninfrastructure.",
                                                                     "start": "4.5"}])
    assert index.snippet_texts == ("We need more trees.", "", "42", "Shade is  infrastructure.")
    assert index.snippet_starts == (0.0, 0.0, 3.0, 4.5)
    assert match_quote(index, "more trees 42 shade is infrastructure").start_s == 0.0


def test_recent_indexes_stay_within_their_memory_budget():
    small = [{"text": f"words of transcript {number}", "start": 1.0} for number in range(4)]
    indexes = [TranscriptIndex.from_snippets([snippet]) for snippet in small]
    sizes = [quotes._held_bytes(len(snippet["text"]), len(index.codes)) for snippet, index in zip(small, indexes)]
    recent = quotes._RecentIndexes(max_bytes=sum(sizes[:2]))
    keys = [(snippet["text"], (1.0,)) for snippet in small]
    for key, index in zip(keys[:3], indexes):
        assert recent.get_or_build(key, lambda index=index: index) is index
    assert recent.get_or_build(keys[2], list) is indexes[2]  # kept: the two most recent fit
    assert recent.get_or_build(keys[1], list) is indexes[1]
    assert recent.get_or_build(keys[0], lambda: indexes[3]) is indexes[3]  # the oldest went first: built again
    assert recent.get_or_build(keys[2], lambda: indexes[0]) is indexes[0]  # now the least recent: built again


def test_a_filler_beside_a_no_break_space_is_dropped_on_both_sides():
    index = TranscriptIndex.from_snippets([{"text": "we um\u00a0planted three\u00a0thousand trees", "start": 1}])
    assert match_quote(index, "we planted 3 thousand trees").verified
    assert match_quote(index, "we planted three\u00a0thousand trees").transcript_text == \
        "we planted three\u00a0thousand trees".replace("\u00a0", " ")


def test_a_vocabulary_past_the_surrogate_range_still_encodes_one_character_per_word():
    words = [f"w{number}" for number in range(60_000)]  # more distinct words than U+0100..U+D7FF holds
    index = TranscriptIndex.from_snippets([{"text": " ".join(words[i:i + 1000]), "start": i}
                                           for i in range(0, len(words), 1000)] + [{"text": "three", "start": 1}])
    assert index.token_count == len(words) + 1
    assert not any(0xD800 <= ord(character) < 0xE000 for character in index.encoded)
    assert match_quote(index, "w59998 w59999 3").start_s == 59000
    assert match_quote(index, "w59998 w59999 three").verified


def test_repeated_questions_about_a_quotation_reuse_the_answer(index):
    assert match_quote(index, "they need more trees") is match_quote(index, "they need more trees")


# ---- find_quotations -------------------------------------------------------------------------


def test_find_quotations_curly_and_straight_with_spans():
    body = 'She said "shade is not a luxury" and then “they need more trees”.'
    found = find_quotations(body)
    assert [q.text for q in found] == ["shade is not a luxury", "they need more trees"]
    assert [body[q.start:q.end] for q in found] == ['"shade is not a luxury"', "“they need more trees”"]
    assert all(q.link_s is None for q in found)


def test_find_quotations_skips_scare_quotes_headings_and_code():
    body = ('# The "shade is infrastructure" idea\n\n'
            'A "luxury" it is not, said “experts”.\n\n'
            '```\nprint("not a quotation here")\n```\n\n'
            'Run `essays "two words"` then.\n\n'
            'See [the data](https://heatwatch.org "our two words") but "shade is not a luxury".\n')
    assert [q.text for q in find_quotations(body)] == ["shade is not a luxury"]
    assert MIN_QUOTE_WORDS == 2


def test_find_quotations_single_curly_only_when_clearly_a_quotation():
    body = "The mayor’s words were ‘the cheapest health policy’ and the residents’ view was ‘we don’t care’."
    assert [q.text for q in find_quotations(body)] == ["the cheapest health policy", "we don’t care"]
    assert find_quotations("It’s the speakers’ view and the city’s plan.") == []
    nested = "“She called it ‘the cheapest policy’ at the time”"
    assert [q.text for q in find_quotations(nested)] == ["She called it ‘the cheapest policy’ at the time"]


def test_find_quotations_reads_our_own_link_and_does_not_cross_paragraphs():
    link = quote_link(VIDEO_ID, 56.3)
    body = f'He said "the cheapest health policy"{link}.\n\nAn odd " mark.\n\nAnd "two words" here.'
    found = find_quotations(body)
    assert found[0].link_s == 56.0
    assert [q.text for q in found] == ["the cheapest health policy", "two words"]


# ---- timestamps and links ------------------------------------------------------------------------


def test_strip_model_timestamps():
    body = "[12:30] Osei says shade matters [1:02:03]. Trees cool (05:10) streets [12:30-13:05]."
    assert strip_model_timestamps(body) == "Osei says shade matters. Trees cool streets."
    ours = f'"two words"{quote_link(VIDEO_ID, 5)}'
    assert strip_model_timestamps(ours) == ours
    assert strip_model_timestamps("at 12:30 in the talk") == "at 12:30 in the talk"


def test_quote_link():
    assert quote_link(VIDEO_ID, 56.9) == f" ([0:56](https://www.youtube.com/watch?v={VIDEO_ID}&t=56s))"
    assert quote_link(VIDEO_ID, 3725.0) == f" ([1:02:05](https://www.youtube.com/watch?v={VIDEO_ID}&t=3725s))"


# ---- verify_quotes and unquote -------------------------------------------------------------------


DRAFT = ('Osei is blunt: “Shade is not a luxury.” [00:15] She adds that "they need fewer trees", and that '
         '"when we planted 3000 trees in one neighbourhood, night-time temperatures dropped by two degrees." '
         'The mayor called it "the cheapest health policy we ever had" (00:55).')


def test_verify_quotes_rewrites_links_and_reports(index):
    result = verify_quotes(DRAFT, index, VIDEO_ID)
    assert "[00:15]" not in result.body and "(00:55)" not in result.body
    assert f"“shade is not a luxury.”{quote_link(VIDEO_ID, 14.7)}" in result.body
    assert ('"When we planted 3,000 trees in one neighbourhood, night-time temperatures dropped by two degrees."'
            f"{quote_link(VIDEO_ID, 23.0)}") in result.body
    assert f'"the cheapest health policy we ever had"{quote_link(VIDEO_ID, 56.3)}.' in result.body
    assert [o.verdict for o in result.outcomes] == ["verified"] * 3
    assert [o.start_s for o in result.outcomes] == [14.7, 23.0, 56.3]
    assert result.outcomes[0].drafted == "“Shade is not a luxury.”"
    assert result.outcomes[0].link == f"https://www.youtube.com/watch?v={VIDEO_ID}&t=14s"
    [bad] = result.unverified
    assert result.body[bad.start:bad.end] == '"they need fewer trees"' and bad.text == "they need fewer trees"
    assert "fewer" in result.unverified_matches[0].reason


def test_verify_quotes_is_idempotent(index):
    once = verify_quotes(DRAFT, index, VIDEO_ID)
    twice = verify_quotes(once.body, index, VIDEO_ID)
    assert twice.body == once.body
    assert [o.published for o in twice.outcomes] == [o.published for o in once.outcomes]


def test_verify_quotes_without_times_or_video_adds_no_links(index):
    plain = TranscriptIndex.from_snippets([{**s, "start": 0} for s in SNIPPETS])
    for result in (verify_quotes(DRAFT, plain, VIDEO_ID), verify_quotes(DRAFT, index, None)):
        assert "youtube.com" not in result.body
        assert "“shade is not a luxury.”" in result.body and len(result.outcomes) == 3
        assert all(o.link is None for o in result.outcomes)


def test_verify_quotes_replaces_a_wrong_link_of_ours(index):
    body = f'"they need more trees"{quote_link(VIDEO_ID, 3)} indeed.'
    assert verify_quotes(body, index, VIDEO_ID).body == f'"they need more trees."{quote_link(VIDEO_ID, 40.2)} indeed.'


def test_unquote_keeps_the_words(index):
    result = verify_quotes(DRAFT, index, VIDEO_ID)
    body, outcomes = unquote(result.body, result.unverified, result.unverified_matches)
    assert "She adds that they need fewer trees, and that" in body
    assert [(o.drafted, o.published, o.verdict) for o in outcomes] == [
        ('"they need fewer trees"', None, "unquoted")]
    assert "fewer" in outcomes[0].reason
    assert find_quotations(body) and all(q.text != "they need fewer trees" for q in find_quotations(body))
    with pytest.raises(ValueError):
        unquote("no quotation here", [Quotation(0, 5, "abc", None)])


# ---- clean_links ---------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [
    f"https://www.youtube.com/watch?v={VIDEO_ID}", f"https://youtu.be/{VIDEO_ID}?t=42",
    f"https://www.youtube.com/watch?t=42&v={VIDEO_ID}", f"https://m.youtube.com/watch?v={VIDEO_ID}&t=42s",
    f"https://www.youtube.com/embed/{VIDEO_ID}", f"https://www.youtube.com/shorts/{VIDEO_ID}",
])
def test_clean_links_keeps_this_videos_links_in_every_form(url):
    body = f"Watch [the talk]({url}) or {url} directly."
    assert clean_links(body, video_id=VIDEO_ID, allowed_urls=frozenset()) == (body, 0)


def test_clean_links_removes_foreign_links_keeping_their_text():
    body = (f"See [the study](https://example.com/study) and [another talk](https://youtu.be/{OTHER_ID}), "
            "or https://made-up.org/page. Also <https://invented.net/x> and ![a chart](https://img.example/c.png).\n"
            "Read [the report][r] too.\n\n[r]: https://example.com/report\n")
    cleaned, removed = clean_links(body, video_id=VIDEO_ID, allowed_urls=frozenset())
    assert cleaned == ("See the study and another talk, or. Also and a chart.\n"
                       "Read the report too.\n\n")
    assert removed == 6


def test_clean_links_keeps_urls_from_the_transcript(index):
    body = ("Her data is at [heatwatch](https://www.heatwatch.org/accra/) and heatwatch.org/accra, "
            "but not at https://heatwatch.org/lagos.")
    cleaned, removed = clean_links(body, video_id=VIDEO_ID, allowed_urls=index.urls)
    assert cleaned == ("Her data is at [heatwatch](https://www.heatwatch.org/accra/) and heatwatch.org/accra, "
                       "but not at.")
    assert removed == 1


def test_clean_links_keeps_our_quote_links_and_counts_nothing_without_links(index):
    body = verify_quotes(DRAFT, index, VIDEO_ID).body
    assert clean_links(body, video_id=VIDEO_ID, allowed_urls=frozenset()) == (body, 0)
    assert clean_links(body, video_id=None, allowed_urls=frozenset())[1] == 3
    assert clean_links("No links (none at all).", video_id=None, allowed_urls=frozenset()) == (
        "No links (none at all).", 0)


def test_a_lazy_index_reads_urls_and_times_as_the_index_does_without_building_one():
    TranscriptIndex.forget_recent()
    odd = [{"text": "see\nourworldindata.org/heat", "start": ""}, {"text": None}, {"text": "www.x.org", "start": 2}]
    transcripts = [SNIPPETS, odd, [{**s, "start": 0} for s in SNIPPETS], []]
    lazies = [LazyTranscriptIndex(snippets) for snippets in transcripts]
    read = [(lazy.urls, lazy.has_times) for lazy in lazies]
    assert not any(lazy.is_built for lazy in lazies) and TranscriptIndex.recent_count() == 0
    built = [TranscriptIndex.from_snippets(snippets) for snippets in transcripts]
    assert read == [(index.urls, index.has_times) for index in built]
    assert "heatwatch.org/accra" in read[0][0] and read[0][1] and not read[2][1]
    assert "ourworldindata.org/heat" in read[1][0]


def test_a_body_without_quotations_builds_no_index():
    TranscriptIndex.forget_recent()
    lazy = LazyTranscriptIndex(SNIPPETS)
    body = "## Shade\n\nShade is infrastructure, just like water pipes, she says, and 'cities' need trees.\n"
    assert verify_quotes(body, lazy, VIDEO_ID).body == body
    assert verbatim_problems(body, lazy, linked=True) == []
    assert not lazy.is_built and TranscriptIndex.recent_count() == 0


def test_a_lazy_index_is_built_once_for_the_first_quotation_and_shared():
    TranscriptIndex.forget_recent()
    lazy = LazyTranscriptIndex(SNIPPETS)
    body = 'She said "shade is not a luxury" twice.'
    assert verify_quotes(body, lazy, VIDEO_ID) == verify_quotes(body, TranscriptIndex.from_snippets(SNIPPETS), VIDEO_ID)
    assert lazy.is_built and lazy.index is TranscriptIndex.from_snippets(SNIPPETS)
    assert TranscriptIndex.recent_count() == 1


def test_our_own_quote_links_are_kept_without_parsing_and_as_parsing_would():
    from essay_assets.intake.video_refs import parse_video_ref
    from essay_assets.writing.links import is_allowed_url, quote_url

    for seconds in (0, 12.7, 3723):
        url = quote_url(VIDEO_ID, seconds)
        assert parse_video_ref(url) == VIDEO_ID  # what the fast path stands for
        assert is_allowed_url(url, video_id=VIDEO_ID, allowed_keys=frozenset())
        assert not is_allowed_url(url, video_id=OTHER_ID, allowed_keys=frozenset())
        assert not is_allowed_url(url, video_id=None, allowed_keys=frozenset())
    body = f'She said "shade is not a luxury"{quote_link(VIDEO_ID, 14.7)} and [more](https://example.com/x).'
    assert clean_links(body, video_id=VIDEO_ID, allowed_urls=frozenset()) == (
        f'She said "shade is not a luxury"{quote_link(VIDEO_ID, 14.7)} and more.', 1)
    assert clean_links(body, video_id=OTHER_ID, allowed_urls=frozenset())[1] == 2
