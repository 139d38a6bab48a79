"""Broken drafts through the real chain (writing/drafting.py, writing/cleanup.py): cleaned
before publishing, asked again a bounded number of times, or failed with nothing published."""

from __future__ import annotations

import dagster as dg

from essay_assets.settings import Settings
from essay_assets.storage.warehouse import warehouse_for
from essay_assets.writing.drafting import ESSAY_RETRIES
from essay_assets.writing.quality import structure_problems
from essay_assets.writing.rendering import parse_essay
from essay_assets_tests.support.chain import run_chain, write_transcript
from testkit.openai_stub import last_user_text

VIDEO = "abcdefghijk"
PARAGRAPH = ("I came away thinking that shade is infrastructure, not decoration: the speakers kept returning to "
             "night temperatures on streets without trees, and to who pays for the water that keeps trees alive.")
REPEATED = ("The strongest moment was the survey of top-floor flats, where the heat stayed long after sunset "
            "and the people most exposed were the ones least able to leave for somewhere cooler.")


REFLECTIONS = (f"{PARAGRAPH}<ref name=\"yt\">https://www.youtube.com/embed?v=abc&t=12</ref>\n\n"
               f"{REPEATED}\n\n{REPEATED}")  # the same paragraph twice
BROKEN_DRAFT = (
    f"# Who Gets the Shade\n\n## Reflections\n\n{REFLECTIONS}\n\n"
    "## Research directions\n\nI would measure matched streets for a summer, with and without canopy, "
    "and publish every night reading so others could check it [1].<br>Then I would ask the residents of "
    "the hottest blocks what they would trade for a cooler bedroom, because their answer sets the budget.\n\n"
    "## Challenging the assumptions\n\nThe speakers assumed that planting is cheap<sup>2</sup>, but watering "
    "and maintenance over twenty years may cost far more than the saplings themselves.<|im_end|>\n\n"
    "## Conclusion\n\n- shade is unequally shared between streets\n- **measure** night temperatures before planting\n"
    "- ask who pays for the water over twenty years\n"
)


def _calls(video_id: str = VIDEO) -> list[dict]:
    return warehouse_for(Settings.from_env()).query(
        "SELECT stage, chunk_index, status FROM llm_calls WHERE video_id = ? ORDER BY created_at", [video_id])


def test_a_draft_with_markup_a_repeat_and_a_list_conclusion_is_published_clean(llm_server, data_dir):
    llm_server.reply_text = BROKEN_DRAFT
    write_transcript(data_dir, VIDEO, words=500)
    summary = run_chain([VIDEO])
    assert summary.ok, summary.failures
    fields, body = parse_essay((data_dir / "essays" / f"{VIDEO}.md").read_text())
    assert structure_problems(body) == []
    for leftover in ("<ref", "youtube.com", "[1]", "<br>", "<sup>", "<|im_end|>", "- shade"):
        assert leftover not in body, leftover
    assert body.count(REPEATED) == 1
    assert body.rstrip().endswith("## Conclusion\n\nShade is unequally shared between streets. Measure night "
                                  "temperatures before planting. Ask who pays for the water over twenty years.")
    assert llm_server.call_count == 1  # cleaning needs no new answer
    checks = dg.DagsterInstance.get().all_logs(summary.run_ids[0], of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
    structure = [r.dagster_event.event_specific_data for r in checks
                 if r.dagster_event.event_specific_data.check_name == "essay_has_structure"]
    assert [(e.passed, e.severity) for e in structure] == [(True, dg.AssetCheckSeverity.ERROR)], \
        structure[0].metadata["problems"]


def test_a_sectioned_draft_asks_again_for_an_empty_section_and_publishes_the_second_answer(
        llm_server, data_dir, monkeypatch):
    monkeypatch.setenv("ESSAYS_ESSAY_STYLE", "sectioned")
    answered: dict[str, int] = {}

    def per_section(request_json: dict) -> str:
        section = last_user_text(request_json).split('Write only the section "')[1].split('"')[0]
        answered[section] = answered.get(section, 0) + 1
        if section == "Research directions" and answered[section] == 1:
            return "<br>\n"  # only markup: nothing to publish
        return f"{PARAGRAPH} ({section}, answer {answered[section]}.)"

    llm_server.reply_text = per_section
    write_transcript(data_dir, VIDEO, words=500)
    summary = run_chain([VIDEO])
    assert summary.ok, summary.failures
    assert answered == {"Reflections": 1, "Research directions": 2, "Challenging the assumptions": 1, "Conclusion": 1}
    fields, body = parse_essay((data_dir / "essays" / f"{VIDEO}.md").read_text())
    assert "(Research directions, answer 2.)" in body and "<br>" not in body
    # Both answers were real calls: in llm_calls and in the essay's totals.
    calls = _calls()
    assert [c["chunk_index"] for c in calls if c["stage"] == "essay_section"] == [0, 1, 1, 2, 3]
    assert fields["llmCallCount"] == len(calls) == llm_server.call_count == 5
    # A re-run reuses both stored answers: the first (broken) one is not handed back for the second.
    assert run_chain([VIDEO]).ok and llm_server.call_count == 5
    assert parse_essay((data_dir / "essays" / f"{VIDEO}.md").read_text())[1] == body


def test_a_draft_that_stays_broken_fails_the_video_and_publishes_nothing(llm_server, data_dir):
    llm_server.reply_text = BROKEN_DRAFT.replace(REFLECTIONS, "<br>")  # a section with no prose, every time
    write_transcript(data_dir, VIDEO, words=500)
    summary = run_chain([VIDEO])
    assert not summary.ok and list(summary.essays) == []
    assert "Reflections" in summary.failures[VIDEO] and "force-refresh" in summary.failures[VIDEO]
    assert not (data_dir / "essays").exists() or not list((data_dir / "essays").glob(f"{VIDEO}*"))
    warehouse = warehouse_for(Settings.from_env())
    assert warehouse.query("SELECT stage, reason FROM failures") == [{"stage": "llm_response", "reason": "broken_essay"}]
    assert llm_server.call_count == 1 + ESSAY_RETRIES  # asked again, within the bound
    assert [c["stage"] for c in _calls()] == ["essay"] * (1 + ESSAY_RETRIES)  # both paid calls are on record
    assert warehouse.query("SELECT count(*) AS n FROM essays")[0]["n"] == 0
