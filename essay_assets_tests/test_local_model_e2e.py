"""The README's first command, for real: `essays demo` with the embedded model, offline."""

from __future__ import annotations

import os
import subprocess
import sys

import dagster as dg
import duckdb
import pytest

from essay_assets.defs.checks import ESSAY_CHECKS
from essay_assets.settings import Settings
from essay_assets.writing.drafting import SECTION_RETRIES
from essay_assets.writing.quality import (
    front_matter_problems,
    length_problems,
    structure_problems,
)
from essay_assets.writing.rendering import parse_essay


@pytest.mark.slow
def test_demo_writes_a_real_essay_with_the_embedded_model(data_dir):
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    result = subprocess.run([sys.executable, "-m", "essay_assets.cli", "demo"], env=env,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    essay_path = data_dir / "essays" / "demo-sample.md"
    assert str(essay_path) in result.stdout
    assert "Warning" not in result.stderr, result.stderr[-3000:]  # the first command's output is for people
    fields, body = parse_essay(essay_path.read_text())
    assert front_matter_problems(fields) == []
    assert fields["llmModel"] == "local/smollm2-135m"
    assert fields["estimatedCostCents"] == 0 and fields["costSource"] == "local_model"  # a true 0, and said so
    assert fields["transcriptWordCount"] >= 6000
    assert fields["transcriptChunks"] >= 2  # the sample does not fit 8k tokens: map-reduce ran
    # Notes per chunk, then one call per section, plus the bounded re-asks of sections that came back empty.
    sections = fields["llmCallCount"] - fields["transcriptChunks"]
    assert 4 <= sections <= 4 * (1 + SECTION_RETRIES)
    assert fields["inputTokens"] > fields["transcriptWordCount"]  # every chunk was really read
    assert body.startswith("# ") and fields["essayWordCount"] >= 100
    # The user's database file: plain duckdb sees the row, read-only.
    with duckdb.connect(str(data_dir / "essays.duckdb"), read_only=True) as con:
        rows = con.execute('SELECT "youtubeVideoId", "llmCallCount" FROM essay_metadata').fetchall()
    assert rows == [("demo-sample", fields["llmCallCount"])]
    assert [line for line in body.splitlines() if line.startswith("## ")] == [
        "## Reflections", "## Research directions", "## Challenging the assumptions", "## Conclusion"]
    # Published only when well formed: the structure check is an error, and it passed.
    settings = Settings.from_env()
    assert structure_problems(body) == [], body
    assert length_problems(fields["essayWordCount"], settings.min_essay_words, settings.max_essay_words) == [], body
    instance = dg.DagsterInstance.get()  # the demo's own instance (DAGSTER_HOME of this test)
    evaluations = [record.dagster_event.event_specific_data for run in instance.get_runs()
                   for record in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)]
    essay_checks = {e.check_name: e for e in evaluations if e.check_name in ESSAY_CHECKS}
    assert set(essay_checks) == set(ESSAY_CHECKS)
    for name, evaluation in essay_checks.items():
        assert evaluation.passed, (name, evaluation.metadata["problems"].value, body)
    assert essay_checks["essay_has_structure"].severity == dg.AssetCheckSeverity.ERROR


@pytest.mark.slow
def test_the_embedded_tokenizer_counts_exactly_and_survives_a_dropped_connection():
    from essay_assets.model_calls import local_model

    words = "The canopy cools the street at night, measured twice."
    first = local_model.count_tokens(words)
    assert 8 <= first <= 30  # a real BPE count, not a word count (9) or a character count (54)
    assert local_model.count_tokens(words + " " + words) > first
    local_model._tokenizer_connection.sock.close()  # as if the server dropped the kept connection
    assert local_model.count_tokens(words) == first
    assert local_model.count_tokens("") == 0
