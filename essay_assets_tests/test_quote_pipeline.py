"""Quote verification through the real chain: a loopback model misquotes a timed conversation,
and each ESSAYS_QUOTE_POLICY publishes (or refuses) an accountable essay."""

from __future__ import annotations

import dagster as dg
import pytest

from essay_assets.settings import Settings
from essay_assets.storage.warehouse import warehouse_for
from essay_assets.writing.rendering import parse_essay
from essay_assets_tests.support import quoted_conversation as qc
from essay_assets_tests.support.chain import run_chain
from essay_assets_tests.support.essay_schema import schema_errors
from testkit.openai_stub import last_user_text

ID = qc.VIDEO_ID


def link(seconds: int) -> str:
    return f"{qc.VIDEO_LINK}&t={seconds}s"


def query(sql: str, params=None) -> list[dict]:
    return warehouse_for(Settings.from_env()).query(sql, params)


def check_results(run_id: str) -> dict:
    records = dg.DagsterInstance.get().all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
    return {r.dagster_event.event_specific_data.check_name: r.dagster_event.event_specific_data for r in records}


def publish(data_dir, llm_server, monkeypatch, policy: str | None, writer=qc.write_timed_transcript):
    if policy:
        monkeypatch.setenv("ESSAYS_QUOTE_POLICY", policy)
    llm_server.reply_text = qc.QuotingModel()
    writer(data_dir)
    return run_chain([ID])


def assert_common_body(body: str) -> None:
    assert f'"{qc.GENUINE}" ([0:18]({link(18)}))' in body  # the snippet where the quotation starts
    assert f'"shade is not a luxury." ([0:14]({link(14)}))' in body  # transcript words, not the model's
    assert f'"{qc.CLOSING}." ([0:40]({link(40)}))' in body
    assert not any(marker in body for marker in qc.MODEL_MARKERS)
    assert qc.FOREIGN_URL not in body and "survey of other cities" in body  # link gone, text kept
    assert f"[her data]({qc.TRANSCRIPT_URL})" in body  # said in the conversation: kept
    assert f"[the full conversation]({qc.VIDEO_LINK})" in body  # this video: kept
    assert f'"{qc.INVENTED}"' not in body and f'"{qc.FLIPPED}"' not in body


def quote_rows() -> list[dict]:
    return query("SELECT * FROM quotes WHERE video_id = ? ORDER BY quote_index", [ID])


def test_repair_policy_rewrites_the_misquoting_sections_and_publishes_verified_quotes(data_dir, llm_server):
    summary = publish(data_dir, llm_server, None, None)  # default for hosted models: repair
    assert summary.ok, summary.failures
    fields, body = parse_essay((data_dir / "essays" / f"{ID}.md").read_text())
    assert_common_body(body)
    assert f'"the trees need water for the first three years" ([0:59]({link(59)}))' in body  # the repair
    assert "cooler" in body and "2030" not in body  # the invented forecast became a paraphrase
    assert (fields["quotesVerified"], fields["quotesRepaired"], fields["quotesRemoved"], fields["linksRemoved"],
            fields["quotesLinked"]) == (4, 1, 1, 1, True)
    assert schema_errors(fields) == []

    rows = quote_rows()
    assert [(r["drafted_text"], r["verdict"]) for r in rows] == [
        (f'"{qc.GENUINE}"', "verified"), (f'"{qc.ALTERED_CASE}"', "verified"), (f'"{qc.FLIPPED}"', "repaired"),
        (f'"{qc.INVENTED}"', "removed"), (f'"{qc.CLOSING}"', "verified")]
    assert [r["start_s"] for r in rows] == [18.5, 14.7, 59.0, None, 40.2]
    assert [r["link"] for r in rows] == [link(18), link(14), link(59), None, link(40)]
    assert rows[2]["published_text"] == '"the trees need water for the first three years"'
    assert "'do not'" in rows[2]["reason"] and rows[3]["reason"] == "not in the transcript"
    assert rows[0]["match_score"] == 100.0 and rows[2]["match_score"] < 100.0
    assert {r["response_id"] for r in rows} == {query("SELECT response_id FROM essays")[0]["response_id"]}

    calls = query("SELECT stage, chunk_index, cost_usd FROM llm_calls ORDER BY stage, chunk_index")
    # The first answer left a section empty: asked again once, then two sections re-written for their quotes.
    assert [(c["stage"], c["chunk_index"]) for c in calls] == [
        ("essay", None), ("essay", None), ("quote_repair", 1), ("quote_repair", 3)]
    assert all(c["cost_usd"] > 0 for c in calls)
    assert fields["llmCallCount"] == 4
    assert qc.OPEN_QUESTIONS in body  # the empty section was not published empty
    assert fields["estimatedCostCents"] == pytest.approx(sum(c["cost_usd"] for c in calls) * 100)
    repair_asks = [r.json for r in llm_server.requests if "<section>" in last_user_text(r.json)]
    assert len(repair_asks) == 2
    evidence = next(last_user_text(a) for a in repair_asks if "## The Evidence" in last_user_text(a))
    assert qc.FLIPPED in evidence and "need water for the first three years" in evidence  # the closest passage
    assert "Quote only these exact words, or paraphrase without quotation marks." in evidence

    stored = (data_dir / "raw" / "responses").glob(f"{ID}.r*.json")
    assert any(qc.INVENTED in path.read_text() for path in stored)  # the raw answer is kept untouched

    checks = check_results(summary.run_ids[0])
    assert checks["essay_quotes_are_verbatim"].passed
    assert checks["essay_quotes_are_verbatim"].severity == dg.AssetCheckSeverity.ERROR
    metadata = dg.DagsterInstance.get().get_latest_materialization_event(dg.AssetKey("essay")).asset_materialization
    assert metadata.metadata["quotes_repaired"].value == 1

    # A re-run reuses every call (the repairs included) and publishes the same essay.
    before = llm_server.call_count
    assert run_chain([ID]).ok
    assert llm_server.call_count == before
    assert parse_essay((data_dir / "essays" / f"{ID}.md").read_text())[1] == body
    assert len(quote_rows()) == 5


def test_unquote_policy_keeps_the_words_without_marks_and_calls_nothing_more(data_dir, llm_server, monkeypatch):
    summary = publish(data_dir, llm_server, monkeypatch, "unquote")
    assert summary.ok, summary.failures
    fields, body = parse_essay((data_dir / "essays" / f"{ID}.md").read_text())
    assert_common_body(body)
    assert f"adding that\n{qc.FLIPPED}, which" in body and f"forecast: {qc.INVENTED}." in body  # paraphrase now
    assert (fields["quotesVerified"], fields["quotesRepaired"], fields["quotesRemoved"], fields["linksRemoved"],
            fields["quotesLinked"]) == (3, 0, 2, 1, True)
    assert [r["verdict"] for r in quote_rows()] == ["verified", "verified", "unquoted", "unquoted", "verified"]
    assert llm_server.call_count == 2  # the draft, and the draft asked again for its empty section
    assert [c["stage"] for c in query("SELECT stage FROM llm_calls")] == ["essay", "essay"]
    assert check_results(summary.run_ids[0])["essay_quotes_are_verbatim"].passed
    metadata = query('SELECT "quotesVerified", "quotesRemoved", "linksRemoved" FROM essay_metadata')
    assert metadata == [{"quotesVerified": 3, "quotesRemoved": 2, "linksRemoved": 1}]


def test_fail_policy_fails_the_video_listing_the_bad_quotes_and_publishes_nothing(data_dir, llm_server,
                                                                                    monkeypatch):
    summary = publish(data_dir, llm_server, monkeypatch, "fail")
    assert not summary.ok
    assert qc.FLIPPED in summary.failures[ID] and qc.INVENTED in summary.failures[ID]
    assert qc.GENUINE not in summary.failures[ID]
    assert not (data_dir / "essays" / f"{ID}.md").exists()
    assert query("SELECT stage, reason FROM failures") == [{"stage": "essay", "reason": "unverified_quotes"}]
    assert llm_server.call_count == 2  # the draft and its re-ask; no repair call
    assert quote_rows() == [] and query("SELECT * FROM essays") == []


def test_a_text_transcript_verifies_quotes_without_links(data_dir, llm_server, monkeypatch):
    summary = publish(data_dir, llm_server, monkeypatch, "unquote", writer=qc.write_text_transcript)
    assert summary.ok, summary.failures
    fields, body = parse_essay((data_dir / "essays" / f"{ID}.md").read_text())
    assert f'"{qc.GENUINE}"' in body and '"shade is not a luxury."' in body
    assert "&t=" not in body
    assert (fields["quotesVerified"], fields["quotesLinked"]) == (3, False)
    rows = quote_rows()
    assert [r["verdict"] for r in rows] == ["verified", "verified", "unquoted", "unquoted", "verified"]
    assert all(r["link"] is None and r["start_s"] is None for r in rows)
    assert check_results(summary.run_ids[0])["essay_quotes_are_verbatim"].passed


def test_the_check_fails_when_a_published_quote_is_edited_or_its_link_moved(data_dir, llm_server, monkeypatch):
    from essay_assets.defs.checks import essay_checks
    from essay_assets.defs.resources import EssaySettings

    assert publish(data_dir, llm_server, monkeypatch, "unquote").ok
    path = data_dir / "essays" / f"{ID}.md"
    path.write_text(path.read_text().replace('"shade is not a luxury."', '"shade is never a luxury."')
                    .replace(link(40), link(55)))
    instance = dg.DagsterInstance.get()
    key = dg.AssetCheckKey(dg.AssetKey("essay"), "essay_quotes_are_verbatim")
    result = dg.materialize([essay_checks], selection=dg.AssetSelection.checks(key), instance=instance,
                            resources={"essay_settings": EssaySettings()}, tags={"dagster/partition": ID},
                            raise_on_error=False)
    evaluation = check_results(result.run_id)["essay_quotes_are_verbatim"]
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR
    problems = evaluation.metadata["problems"].value[ID]
    assert len(problems) == 2
    assert any("never" in p and "not in the transcript" in p for p in problems)
    assert any("links to 55s but starts at 40.2s" in p for p in problems)
