"""The quote policy around the verifier: repair requests, re-written sections, verdicts."""

from __future__ import annotations

from essay_assets.writing.quotes import LazyTranscriptIndex, TranscriptIndex
from essay_assets.writing.rendering import normalize_body
from essay_assets.writing.repair import (
    REPAIR_RULE,
    UnverifiedQuotes,
    apply_repairs,
    check_essay,
    link_video_id,
    repair_messages,
    repair_requests,
    section_from_reply,
    sections,
)
from essay_assets_tests.support import quoted_conversation as qc

INDEX = TranscriptIndex.from_snippets(qc.SNIPPETS)
BODY = normalize_body(qc.DRAFT, "unused")
REPAIRS = [{"section": 1, "heading": "## The Evidence", "text": qc.REPAIRED_EVIDENCE.strip()},
           {"section": 3, "heading": "## Conclusion", "text": qc.REPAIRED_CONCLUSION.strip()}]


def test_link_video_id_only_for_a_real_youtube_video():
    assert link_video_id(qc.VIDEO_ID, "user_file") == qc.VIDEO_ID
    assert link_video_id("demo-sample", "sample") is None  # 11 characters, but no YouTube page
    assert link_video_id("not-an-id", "user_file") is None


def test_one_repair_request_per_section_with_unverified_quotations():
    requests = repair_requests(BODY, INDEX, qc.VIDEO_ID)
    assert [(r.section, r.heading) for r in requests] == [(1, "## The Evidence"), (3, "## Conclusion")]
    evidence, conclusion = requests
    assert [p.quoted for p in evidence.problems] == [qc.FLIPPED]
    assert "need water for the first three years" in evidence.problems[0].closest
    assert conclusion.problems[0].closest is None and conclusion.problems[0].reason == "not in the transcript"
    assert qc.FOREIGN_URL not in evidence.text and "[1:02:03]" not in evidence.text  # as it would be published
    messages = repair_messages(evidence)
    assert messages[0]["role"] == "system" and REPAIR_RULE in messages[1]["content"]
    assert f"<section>\n{evidence.text}\n</section>" in messages[1]["content"]


def test_section_from_reply_keeps_the_heading_and_drops_echoed_markup():
    reply = "```markdown\n# A Title\n## The Evidence (revised)\n\nProse stays.\n```"
    assert section_from_reply("## The Evidence", reply) == "## The Evidence\n\nProse stays."
    assert section_from_reply("## The Evidence", "```\n```") is None


def test_apply_repairs_finds_sections_by_heading_even_when_their_number_moved():
    shifted = BODY.replace("## Open Questions\n\n", "")  # another step dropped the empty section
    body, replaced = apply_repairs(shifted, REPAIRS)
    assert replaced == {1, 2}
    assert qc.REPAIRED_CONCLUSION.strip() in body and [s.heading for s in sections(body)][-1] == "## Conclusion"
    assert apply_repairs(BODY, [{"section": 0, "heading": "## Gone", "text": "x"}]) == (BODY, frozenset())


def test_repair_policy_verdicts():
    checked = check_essay(BODY, INDEX, video_id=qc.VIDEO_ID, policy="repair", repairs=REPAIRS)
    assert [(v.verdict, v.section) for v in checked.verdicts] == [
        ("verified", 0), ("verified", 0), ("repaired", 1), ("removed", 3), ("verified", 3)]
    assert (checked.quotes_verified, checked.quotes_repaired, checked.quotes_removed, checked.links_removed) == (
        4, 1, 1, 1)
    assert checked.unverified == () and checked.linked


def test_a_rewrite_that_still_misquotes_is_unquoted_and_a_new_quotation_is_recorded():
    repairs = [{"section": 1, "heading": "## The Evidence",
                "text": '## The Evidence\n\nShe said "the trees do not need water for three years" and '
                        '"residents were sleeping outside again".'}]
    checked = check_essay(BODY, INDEX, video_id=qc.VIDEO_ID, policy="repair", repairs=repairs)
    verdicts = [(v.drafted is not None, v.verdict) for v in checked.verdicts]
    assert verdicts == [(True, "verified"), (True, "verified"), (True, "unquoted"), (True, "unquoted"),
                        (True, "verified"), (False, "repaired")]
    assert "the trees do not need water for three years and" in checked.body
    assert checked.quotes_verified == 4 and checked.quotes_removed == 2


def test_unquote_and_fail_policies_ignore_stored_repairs():
    unquoted = check_essay(BODY, INDEX, video_id=qc.VIDEO_ID, policy="unquote", repairs=REPAIRS)
    assert [v.verdict for v in unquoted.verdicts] == ["verified", "verified", "unquoted", "unquoted", "verified"]
    assert f"adding that\n{qc.FLIPPED}, which" in unquoted.body
    failed = check_essay(BODY, INDEX, video_id=qc.VIDEO_ID, policy="fail")
    assert [text for text, _ in failed.unverified] == [qc.FLIPPED, qc.INVENTED]
    message = str(UnverifiedQuotes(qc.VIDEO_ID, failed.unverified))
    assert qc.FLIPPED in message and "not in the transcript" in message


def test_no_links_without_a_video_or_times():
    checked = check_essay(BODY, INDEX, video_id=None, policy="unquote")
    assert not checked.linked and "&t=" not in checked.body and all(v.link is None for v in checked.verdicts)
    assert checked.quotes_verified == 3


def test_an_essay_without_quotations_builds_no_index_and_still_loses_its_foreign_links():
    """Most of the work of an essay that quotes nothing is its links: they need the transcript's
    URLs, not its index."""
    plain = BODY.replace('"', "")
    assert qc.FOREIGN_URL in plain and qc.TRANSCRIPT_URL in plain
    for policy in ("repair", "unquote", "fail"):
        TranscriptIndex.forget_recent()
        lazy = LazyTranscriptIndex(qc.SNIPPETS)
        checked = check_essay(plain, lazy, video_id=qc.VIDEO_ID, policy=policy)  # nothing to re-write
        assert repair_requests(plain, lazy, qc.VIDEO_ID) == []
        assert not lazy.is_built and TranscriptIndex.recent_count() == 0
        assert checked == check_essay(plain, INDEX, video_id=qc.VIDEO_ID, policy=policy)
        assert qc.FOREIGN_URL not in checked.body and qc.TRANSCRIPT_URL in checked.body
        assert checked.links_removed == 1 and checked.verdicts == () and checked.linked


def test_a_lazy_index_gives_the_same_published_essay_as_the_index():
    for policy in ("repair", "unquote", "fail"):
        assert check_essay(BODY, LazyTranscriptIndex(qc.SNIPPETS), video_id=qc.VIDEO_ID, policy=policy,
                           repairs=REPAIRS) == check_essay(BODY, INDEX, video_id=qc.VIDEO_ID, policy=policy,
                                                           repairs=REPAIRS)
    assert repair_requests(BODY, LazyTranscriptIndex(qc.SNIPPETS), qc.VIDEO_ID) == repair_requests(
        BODY, INDEX, qc.VIDEO_ID)
