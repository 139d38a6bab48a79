"""The chain through a real Dagster instance, a real DuckDB and litellm over loopback HTTP."""

from __future__ import annotations

import dagster as dg
import pytest

from essay_assets.settings import Settings
from essay_assets.storage.warehouse import warehouse_for
from essay_assets.writing.rendering import REFERENCE_FIELDS, parse_essay
from essay_assets_tests.support.chain import run_chain, write_transcript
from essay_assets_tests.support.essay_schema import schema_errors


def test_user_transcript_becomes_essay_with_row_and_ui_metadata(llm_server, data_dir):
    write_transcript(data_dir, "abcdefghijk", words=500)
    summary = run_chain(["abcdefghijk"])
    assert summary.ok, summary.failures
    fields, body = parse_essay((data_dir / "essays" / "abcdefghijk.md").read_text())
    assert all(name in fields for name in REFERENCE_FIELDS)
    assert schema_errors(fields) == []  # docs/essay.schema.json describes what the pipeline writes
    assert fields["youtubeVideoId"] == "abcdefghijk"
    assert fields["llmModel"] == "openai/gpt-4o"
    assert fields["transcriptWordCount"] == 500
    assert fields["estimatedCostCents"] > 0  # gpt-4o is priced: never the old system's 0
    assert body.startswith("# ")
    assert llm_server.call_count == 1
    rows = warehouse_for(Settings.from_env()).query("SELECT * FROM essay_metadata")
    assert [r["youtubeVideoId"] for r in rows] == ["abcdefghijk"]
    assert rows[0]["inputTokens"] == fields["inputTokens"]
    instance = dg.DagsterInstance.get()
    event = instance.get_latest_materialization_event(dg.AssetKey("essay"))
    assert event.asset_materialization.partition == "abcdefghijk"
    assert event.asset_materialization.metadata["cost_cents"].value == fields["estimatedCostCents"]


def test_rerun_reuses_the_stored_response_and_pays_nothing(llm_server, data_dir):
    write_transcript(data_dir, "abcdefghijk")
    assert run_chain(["abcdefghijk"]).ok
    first = (data_dir / "essays" / "abcdefghijk.md").read_text()
    assert run_chain(["abcdefghijk"]).ok
    assert llm_server.call_count == 1
    assert (data_dir / "essays" / "abcdefghijk.md").read_text() == first
    calls = warehouse_for(Settings.from_env()).query("SELECT count(*) AS n FROM llm_calls")
    assert calls[0]["n"] == 1
    assert run_chain(["abcdefghijk"], force_refresh=True).ok
    assert llm_server.call_count == 2


def test_one_bad_video_fails_alone_with_a_clear_message(llm_server, data_dir):
    write_transcript(data_dir, "goodvideo01")
    (data_dir / "transcripts" / "emptyvideo1.txt").write_text("   \n")
    summary = run_chain(["goodvideo01", "emptyvideo1"])
    assert list(summary.essays) == ["goodvideo01"]
    assert "emptyvideo1" in summary.failures
    assert "no transcript text" in summary.failures["emptyvideo1"]
    assert not (data_dir / "essays" / "emptyvideo1.md").exists()
    failures = warehouse_for(Settings.from_env()).query("SELECT video_id, stage, reason FROM failures")
    assert failures == [{"video_id": "emptyvideo1", "stage": "transcript", "reason": "bad_transcript_file"}]
    assert llm_server.call_count == 1


def test_unreachable_model_endpoint_fails_clearly_and_writes_no_essay(data_dir, monkeypatch):
    monkeypatch.setenv("ESSAYS_MODEL", "openai/gpt-4o")
    monkeypatch.setenv("ESSAYS_API_BASE", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-unreachable-000000000")
    write_transcript(data_dir, "abcdefghijk")
    summary = run_chain(["abcdefghijk"])
    assert not summary.ok
    assert "abcdefghijk" in summary.failures
    assert not (data_dir / "essays" / "abcdefghijk.md").exists()


def test_a_new_transcript_brings_the_rest_of_the_chain_by_automation(llm_server, data_dir):
    from essay_assets.definitions import defs
    from essay_assets.defs.resources import EssaySettings
    from essay_assets.instance import ensure_dagster_home

    write_transcript(data_dir, "abcdefghijk")
    ensure_dagster_home(Settings.from_env())
    instance = dg.DagsterInstance.get()
    instance.add_dynamic_partitions("videos", ["abcdefghijk"])
    before = dg.evaluate_automation_conditions(defs=defs, instance=instance)  # the daemon's previous tick
    assert before.total_requested == 0  # nothing is requested for videos nobody materialized
    result = dg.materialize([defs.get_assets_def("transcript")], partition_key="abcdefghijk", instance=instance,
                            resources={"essay_settings": EssaySettings()})
    assert result.success
    evaluation = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=before.cursor)
    for downstream in ("essay_prompt", "llm_response", "essay"):  # the whole rest of the chain, in one request
        assert evaluation.get_requested_partitions(dg.AssetKey(downstream)) == {"abcdefghijk"}
    assert evaluation.get_requested_partitions(dg.AssetKey("transcript")) == set()


def run_chain_killed_by(monkeypatch, owner, name: str, replacement, video_ids: list[str]) -> None:
    """Run the chain with `owner.name` replaced by something that raises KeyboardInterrupt (a kill)."""
    with monkeypatch.context() as patched:
        patched.setattr(owner, name, replacement)
        try:
            run_chain(video_ids)
        except KeyboardInterrupt:
            pass


def test_a_crash_after_the_model_answered_resumes_without_a_second_call(llm_server, data_dir, monkeypatch):
    from essay_assets.writing import publishing

    write_transcript(data_dir, "abcdefghijk")

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("killed between the answer and the essay")

    run_chain_killed_by(monkeypatch, publishing, "atomic_write_text", crash, ["abcdefghijk"])
    assert llm_server.call_count == 1 and not (data_dir / "essays" / "abcdefghijk.md").exists()
    # Worse still: the response record is gone too; only the per-call answer survived.
    for path in (data_dir / "raw" / "responses").glob("*"):
        path.unlink()
    summary = run_chain(["abcdefghijk"])
    assert summary.ok
    assert llm_server.call_count == 1  # the paid answer was reused, not bought again
    calls = warehouse_for(Settings.from_env()).query("SELECT count(*) AS n FROM llm_calls")
    assert calls[0]["n"] == 1


def test_a_kill_before_the_call_row_reached_the_warehouse_recovers_the_row(llm_server, data_dir, monkeypatch):
    from essay_assets.storage.warehouse import Warehouse

    write_transcript(data_dir, "abcdefghijk")
    real_write = Warehouse.write

    def killed_at_llm_calls(self, table_name, rows):
        if table_name == "llm_calls" and rows:
            raise KeyboardInterrupt("killed after the answer was on disk, before its row")
        return real_write(self, table_name, rows)

    run_chain_killed_by(monkeypatch, Warehouse, "write", killed_at_llm_calls, ["abcdefghijk"])
    warehouse = warehouse_for(Settings.from_env())
    assert llm_server.call_count == 1
    assert warehouse.query("SELECT count(*) AS n FROM llm_calls")[0]["n"] == 0
    assert run_chain(["abcdefghijk"]).ok
    assert llm_server.call_count == 1  # not bought again
    rows = warehouse.query("SELECT video_id, status, input_tokens, cost_usd FROM llm_calls")
    assert len(rows) == 1 and rows[0]["video_id"] == "abcdefghijk" and rows[0]["status"] == "ok"
    assert rows[0]["input_tokens"] > 0 and rows[0]["cost_usd"] > 0
    # The essay's cost and the calls behind it agree, and a third run adds no duplicate.
    essay_row = warehouse.query("SELECT estimated_cost_cents FROM essays")[0]
    assert essay_row["estimated_cost_cents"] == pytest.approx(rows[0]["cost_usd"] * 100)
    assert run_chain(["abcdefghijk"]).ok
    assert warehouse.query("SELECT count(*) AS n FROM llm_calls")[0]["n"] == 1


def test_essay_checks_judge_each_essay_per_check_and_a_check_runs_alone(llm_server, data_dir):
    from essay_assets.defs.checks import ESSAY_CHECKS, essay_checks
    from essay_assets.defs.resources import EssaySettings

    videos = ["abcdefghijk", "bcdefghijkl"]
    for video_id in videos:
        write_transcript(data_dir, video_id)
    summary = run_chain(videos)
    assert summary.ok, summary.failures
    instance = dg.DagsterInstance.get()

    def evaluations(run_id: str) -> dict:
        records = instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
        return {r.dagster_event.event_specific_data.check_name: r.dagster_event.event_specific_data for r in records}

    first = evaluations(summary.run_ids[0])
    assert set(first) == set(ESSAY_CHECKS) | {"transcript_is_usable"}
    for name in ESSAY_CHECKS:
        assert first[name].passed and first[name].metadata["videos_checked"].value == 2, name

    # Someone edits one essay down to a single section; only the structure check should mind.
    broken = data_dir / "essays" / "bcdefghijkl.md"
    broken.write_text(broken.read_text().replace("\n## ", "\n"))
    structure = dg.AssetCheckKey(dg.AssetKey("essay"), "essay_has_structure")
    result = dg.materialize([essay_checks], selection=dg.AssetSelection.checks(structure), instance=instance,
                            resources={"essay_settings": EssaySettings()},
                            tags={"dagster/asset_partition_range_start": videos[0],
                                  "dagster/asset_partition_range_end": videos[1]})
    alone = evaluations(result.run_id)
    assert set(alone) == {"essay_has_structure"}  # the UI can run one check of the three
    assert not alone["essay_has_structure"].passed
    assert alone["essay_has_structure"].severity == dg.AssetCheckSeverity.ERROR
    problems = alone["essay_has_structure"].metadata["problems"].value
    assert list(problems) == ["bcdefghijkl"] and any("section" in p for p in problems["bcdefghijkl"])


def test_files_written_without_fsync_that_a_crash_left_empty_or_cut_are_made_again_at_no_cost(llm_server, data_dir):
    """The plan, the response record, the copy of the user's transcript and the metadata lookup
    are written without fsync (storage/files.py): after a machine crash they may be empty or cut
    short. The next run takes them as missing and makes them again; the paid answer is reused."""
    import json

    write_transcript(data_dir, "abcdefghijk")
    assert run_chain(["abcdefghijk"]).ok
    _, first_body = parse_essay((data_dir / "essays" / "abcdefghijk.md").read_text())
    raw = data_dir / "raw"
    rederivable = [raw / "transcripts" / "abcdefghijk.json", raw / "videos" / "abcdefghijk.json",
                   *(raw / "prompts").glob("abcdefghijk.*.json"), *(raw / "responses").glob("abcdefghijk.*.json")]
    assert len(rederivable) == 4
    for number, path in enumerate(rederivable):
        text = path.read_bytes()
        path.write_bytes(b"" if number % 2 else text[: len(text) // 2])  # empty, or cut short
    summary = run_chain(["abcdefghijk"])
    assert summary.ok, summary.failures
    assert llm_server.call_count == 1  # the stored answer was reused, not bought again
    for path in rederivable:
        assert isinstance(json.loads(path.read_text()), dict)  # whole again
    _, body = parse_essay((data_dir / "essays" / "abcdefghijk.md").read_text())
    assert body == first_body
