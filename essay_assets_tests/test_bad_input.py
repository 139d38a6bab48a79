"""Bad input gets one clear, actionable message, and leaves nothing behind."""

from __future__ import annotations

import dagster as dg

from essay_assets.cli.main import main
from essay_assets.instance import ensure_dagster_home
from essay_assets.settings import Settings
from essay_assets.storage.warehouse import warehouse_for
from essay_assets_tests.support.chain import run_chain, write_transcript


def test_invalid_video_references_are_rejected_before_any_partition(data_dir, capsys):
    code = main(["run", "dQw4w9WgXcQ", "https://vimeo.com/12345", "watch this"])
    err = capsys.readouterr().err
    assert code == 2
    assert "vimeo.com/12345" in err and "watch this" in err  # what was received
    assert "youtu.be" in err  # what is accepted
    ensure_dagster_home(Settings.from_env())
    assert not dg.DagsterInstance.get().get_dynamic_partitions("videos")  # not even the good one
    assert not (data_dir / "essays").exists()


def test_missing_api_key_names_the_variable_and_sends_nothing(llm_server, data_dir, monkeypatch):
    monkeypatch.setenv("ESSAYS_MODEL", "openrouter/openai/gpt-4o")
    monkeypatch.delenv("OPENROUTER_API_KEY", raising=False)
    write_transcript(data_dir, "abcdefghijk")
    summary = run_chain(["abcdefghijk"])
    assert "OPENROUTER_API_KEY" in summary.failures["abcdefghijk"]
    assert llm_server.call_count == 0
    assert not (data_dir / "essays" / "abcdefghijk.md").exists()
    rows = warehouse_for(Settings.from_env()).query("SELECT reason FROM failures")
    assert rows == [{"reason": "missing_api_key"}]


def test_unknown_model_name_fails_at_once(llm_server, data_dir, monkeypatch):
    monkeypatch.setenv("ESSAYS_MODEL", "nosuchprovider/some-model")
    monkeypatch.delenv("ESSAYS_API_BASE")
    write_transcript(data_dir, "abcdefghijk")
    summary = run_chain(["abcdefghijk"])
    assert "Unknown model 'nosuchprovider/some-model'" in summary.failures["abcdefghijk"]
    assert llm_server.call_count == 0
    assert not (data_dir / "essays").exists() or not list((data_dir / "essays").glob("*.md"))


def test_bad_transcript_json_says_what_shape_is_expected(llm_server, data_dir):
    (data_dir / "transcripts" / "abcdefghijk.json").write_text('{"oops": 1}')
    summary = run_chain(["abcdefghijk"])
    assert "expected a JSON list" in summary.failures["abcdefghijk"]
    assert llm_server.call_count == 0
