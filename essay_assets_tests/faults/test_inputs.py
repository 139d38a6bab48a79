"""Fault suite, bad input: unreadable transcripts, bad settings, stray files and paths, and SQL
that reaches outside the warehouse each give one clear line and cost nothing; no tracebacks."""

from __future__ import annotations

import time

from essay_assets.settings import Settings
from essay_assets.storage.warehouse import warehouse_for
from essay_assets_tests.support.chain import run_chain

VIDEO = "abcdefghijk"


# ---- 9. an unreadable transcript is a permanent failure, recorded at once -----------------------

def test_deeply_nested_json_transcript_fails_once_without_retries(llm_server, data_dir):
    depth = 100_000
    (data_dir / "transcripts" / f"{VIDEO}.json").write_text("[" * depth + "]" * depth)
    started = time.monotonic()
    summary = run_chain([VIDEO])
    elapsed = time.monotonic() - started
    assert "nested too deeply" in summary.failures[VIDEO]
    assert f"{VIDEO}.json" in summary.failures[VIDEO]
    assert llm_server.call_count == 0
    rows = warehouse_for(Settings.from_env()).query("SELECT stage, reason FROM failures")
    assert rows == [{"stage": "transcript", "reason": "bad_transcript_file"}]
    assert elapsed < 60  # was retried as transient for 127 s


def test_transcript_that_is_a_folder_or_has_a_huge_number_fails_permanently(llm_server, data_dir):
    other = "bcdefghijkl"
    (data_dir / "transcripts" / f"{VIDEO}.json").mkdir()
    (data_dir / "transcripts" / f"{other}.json").write_text('[{"text": "hi", "start": 1' + "0" * 5000 + "}]")
    summary = run_chain([VIDEO, other])
    assert "cannot be read" in summary.failures[VIDEO]
    assert "cannot be read as JSON" in summary.failures[other]
    assert llm_server.call_count == 0
    rows = warehouse_for(Settings.from_env()).query("SELECT DISTINCT reason FROM failures")
    assert rows == [{"reason": "bad_transcript_file"}]
