"""`essays sql` and `essays export`, and the example queries in essay_assets/storage/sql/examples.sql."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from essay_assets.cli.main import main
from essay_assets.settings import Settings
from essay_assets.storage.schema import TABLES
from essay_assets.storage.sql_examples import load_examples
from essay_assets.storage.warehouse import warehouse_for
from testkit import warehouse_rows as wr

COST_PER_CALL = {"openai/gpt-4o": 0.02, "openai/gpt-4o-mini": 0.001, "anthropic/claude-sonnet-4": 0.03,
                 "local/qwen3-4b": None}


def _month_start(moment: datetime) -> datetime:
    return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


# What became of each essay's drafted quotations, per model (the last one quotes nobody).
QUOTE_VERDICTS = {"openai/gpt-4o": ("verified", "verified", "verified", "repaired"),
                  "openai/gpt-4o-mini": ("verified", "unquoted", "removed"),
                  "anthropic/claude-sonnet-4": ("verified",), "local/qwen3-4b": ()}


@pytest.fixture
def filled(data_dir: Path):
    """A warehouse with essays of 4 models over 3 months (2 prompt revisions), and failures."""
    warehouse = warehouse_for(Settings.from_env())
    this_month = _month_start(datetime.now(timezone.utc))
    last_month = _month_start(this_month - timedelta(days=1))
    months = [_month_start(last_month - timedelta(days=1)), last_month, this_month]
    parts = []
    for m, model in enumerate(wr.MODELS):
        for month_no, month in enumerate(months):
            for i in range(3 + m):
                video_id = f"{m}{month_no}{i:09d}"
                created = month + timedelta(days=i, hours=12)
                parts.append(wr.synthetic_video(video_id, created_at=created, model=model, calls=1 + i % 3,
                                                cost_usd_per_call=COST_PER_CALL[model], words=900 + 100 * i,
                                                run_id=f"run-{month_no}"))
                if i == 0:  # a newer prompt revision of the same video
                    parts.append(wr.synthetic_video(video_id, created_at=created + timedelta(hours=1), model=model,
                                                    revision=2, cost_usd_per_call=COST_PER_CALL[model],
                                                    words=900 + 100 * i))
    rows = wr.merge(parts)
    rows["quotes"] = [quote for essay in rows["essays"]
                      for quote in wr.synthetic_quotes(essay, QUOTE_VERDICTS[essay["llm_model"]])]
    stale = rows["essays"][0]  # an earlier publication of the same draft: its rows are not current
    rows["quotes"] += [{**quote, "quote_index": 10 + quote["quote_index"], "run_id": "an-older-run"}
                       for quote in wr.synthetic_quotes(stale, ("removed",) * 3)]
    for table, table_rows in rows.items():
        for first in range(0, len(table_rows), 10):  # several segments per table
            warehouse.write(table, table_rows[first:first + 10])
    failures = [("transcript", "transcripts_disabled")] * 3 + [("llm_response", "budget_exceeded")] * 2 + [
        ("essay", "too_short")]
    warehouse.write("failures", [{"failure_id": f"f{i}", "video_id": f"fail{i:07d}", "stage": stage, "reason": reason,
                                  "message": "...", "run_id": "run-x", "failed_at": this_month}
                                 for i, (stage, reason) in enumerate(failures)])
    assert warehouse.ensure_database()
    return {"warehouse": warehouse, "rows": rows, "failures": failures, "last_month": last_month,
            "this_month": this_month}


def _sql(capsys, *args) -> tuple[int, str, str]:
    code = main(["sql", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# ---- essays sql --------------------------------------------------------------------------------
def test_sql_prints_a_readable_table(filled, capsys):
    code, out, err = _sql(capsys, "SELECT video_id, llm_model, call_count FROM essays ORDER BY video_id LIMIT 3")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert [cell.strip() for cell in lines[0].split(" | ")] == ["video_id", "llm_model", "call_count"]
    assert len({line.index(" | ") for line in lines[:1] + lines[2:-1]}) == 1  # the columns line up
    assert set(lines[1]) <= {"-", "+"}
    assert lines[2].startswith("00000000000 | openai/gpt-4o")
    assert lines[-1] == "(3 rows)"
    assert _sql(capsys, "SELECT 1 AS one WHERE false")[1].splitlines()[-1] == "(0 rows)"


def test_sql_csv_and_json_parse(filled, capsys):
    query = "SELECT video_id, prompt_revision, estimated_cost_cents, created_at FROM essays ORDER BY video_id, prompt_revision"
    code, out, _ = _sql(capsys, query, "--format", "csv")
    assert code == 0
    table = list(csv.DictReader(io.StringIO(out)))
    assert len(table) == len(filled["rows"]["essays"])
    assert list(table[0]) == ["video_id", "prompt_revision", "estimated_cost_cents", "created_at"]
    code, out, _ = _sql(capsys, query, "--format", "json")
    assert code == 0
    records = json.loads(out)
    assert len(records) == len(filled["rows"]["essays"])
    assert [r["video_id"] for r in records] == [r["video_id"] for r in table]
    assert isinstance(records[0]["prompt_revision"], int)
    assert any(r["estimated_cost_cents"] is None for r in records)  # unknown cost stays null, never 0
    datetime.fromisoformat(records[0]["created_at"])


@pytest.mark.parametrize("query, message", [
    ("SELECT no_such_column FROM essays", "Binder Error"),
    ("SELECT * FROM no_such_table", "Catalog Error"),
    ("SELEC 1", "Parser Error"),
])
def test_sql_error_prints_duckdbs_message_and_exits_1(filled, capsys, query, message):
    code, out, err = _sql(capsys, query)
    assert code == 1
    assert out == ""
    assert err.startswith("essays sql: ") and message in err
    assert "Traceback" not in err


@pytest.mark.parametrize("query", [
    "DELETE FROM essays",
    "DROP VIEW essays",
    "INSERT INTO failures SELECT * FROM failures",
    "CREATE TABLE mine AS SELECT 1",
    "SELECT 1; COPY (SELECT 1) TO '{out}'",
    "EXPLAIN ANALYZE COPY (SELECT 1) TO '{out}'",
    "WITH x AS (SELECT 1) DELETE FROM essays",
    "ATTACH '{out}' AS other",
])
def test_sql_refuses_statements_that_are_not_read_only(filled, capsys, tmp_path, query):
    target = tmp_path / "written.csv"
    code, out, err = _sql(capsys, query.format(out=target))
    assert code == 2
    assert "not a read-only query" in err and "SELECT" in err
    assert "Traceback" not in err
    assert not target.exists()
    assert filled["warehouse"].row_count("essays") == len(filled["rows"]["essays"])


@pytest.mark.parametrize("query", ["SHOW TABLES", "DESCRIBE essays", "SUMMARIZE llm_calls",
                                   "EXPLAIN SELECT * FROM essays", "FROM essay_metadata LIMIT 1",
                                   "-- a comment first\nSELECT 1", "WITH x AS (SELECT 1 AS a) SELECT * FROM x"])
def test_sql_runs_read_only_statements(filled, capsys, query):
    code, _out, err = _sql(capsys, query)
    assert (code, err) == (0, "")


# ---- essays export -----------------------------------------------------------------------------
def test_export_writes_one_readable_parquet_file_per_table(filled, capsys, tmp_path):
    target = tmp_path / "export"
    assert main(["export", str(target)]) == 0
    printed = capsys.readouterr().out.split()
    videos = len({r["video_id"] for r in filled["rows"]["videos"]})  # revision 2 rewrote some video rows
    expected = {"videos": videos, "transcripts": videos, "llm_calls": len(filled["rows"]["llm_calls"]),
                "essays": len(filled["rows"]["essays"]), "quotes": len(filled["rows"]["quotes"]),
                "failures": len(filled["failures"]), "deletions": 0,
                "essay_metadata": videos}
    assert {t.name for t in TABLES} <= set(expected)
    assert sorted(Path(p).name for p in printed) == sorted(f"{name}.parquet" for name in expected)
    for name, count in expected.items():
        table = pq.read_table(target / f"{name}.parquet")
        assert table.num_rows == count, name
    essays = pq.read_table(target / "essays.parquet")
    assert essays.schema.field("created_at").type.tz is not None


# ---- the example queries -----------------------------------------------------------------------
def _run_example(capsys, sql: str) -> list[dict]:
    code, out, err = _sql(capsys, sql, "--format", "json")
    assert (code, err) == (0, "")
    return json.loads(out)


def test_examples_file_names_the_documented_examples():
    assert list(load_examples()) == ["spend_per_model_per_month", "most_expensive_essays",
                                     "essays_per_prompt_revision", "failures_by_reason",
                                     "tokens_per_transcript_word", "last_month_cost_per_model",
                                     "essays_whose_model_invented_quotes"]
    with pytest.raises(ValueError, match="twice"):
        load_examples("-- name: a\nSELECT 1;\n-- name: a\nSELECT 2;\n")


def test_every_example_query_runs_and_adds_up(filled, capsys):
    examples = load_examples()
    rows = filled["rows"]
    calls, essays = rows["llm_calls"], rows["essays"]
    results = {name: _run_example(capsys, sql) for name, sql in examples.items()}
    assert all(results.values()), [name for name, result in results.items() if not result]

    # Each example also runs unchanged on data/essays.duckdb in plain duckdb.
    with duckdb.connect(str(filled["warehouse"].database_path), read_only=True) as con:
        for name, sql in examples.items():
            assert len(con.execute(sql).fetchall()) == len(results[name]), name

    spend = results["spend_per_model_per_month"]
    assert sum(r["calls"] for r in spend) == len(calls)
    assert sum(r["cost_usd"] or 0 for r in spend) == pytest.approx(sum(c["cost_usd"] or 0 for c in calls), abs=1e-3)
    assert {r["month"] for r in spend} == {c["created_at"].strftime("%Y-%m") for c in calls}
    for model in wr.MODELS:
        expected = sum(c["cost_usd"] or 0 for c in calls if c["model_requested"] == model)
        got = sum(r["cost_usd"] or 0 for r in spend if r["model"] == model)
        assert got == pytest.approx(expected, abs=1e-3), model
    assert sum(r["unknown_cost_calls"] for r in spend) == sum(1 for c in calls if c["cost_usd"] is None)

    expensive = results["most_expensive_essays"]
    costs = [r["cost_usd"] for r in expensive]
    assert len(expensive) == 20 and costs == sorted(costs, reverse=True)
    assert costs[0] == pytest.approx(max(e["estimated_cost_cents"] or 0 for e in essays) / 100)

    per_revision = {r["prompt_revision"]: r["essays"] for r in results["essays_per_prompt_revision"]}
    assert per_revision == {1: sum(e["prompt_revision"] == 1 for e in essays),
                            2: sum(e["prompt_revision"] == 2 for e in essays)}

    failures = {(r["stage"], r["reason"]): r["failures"] for r in results["failures_by_reason"]}
    assert failures == {("transcript", "transcripts_disabled"): 3, ("llm_response", "budget_exceeded"): 2,
                        ("essay", "too_short"): 1}
    assert results["failures_by_reason"][0]["reason"] == "transcripts_disabled"

    current = {}
    for essay in essays:  # the newest essay per video
        if essay["video_id"] not in current or essay["created_at"] > current[essay["video_id"]]["created_at"]:
            current[essay["video_id"]] = essay
    for row in results["tokens_per_transcript_word"]:
        mine = [e for e in current.values() if e["llm_model"] == row["model"]]
        assert row["essays"] == len(mine)
        assert row["input_tokens_per_word"] == pytest.approx(
            sum(e["input_tokens"] for e in mine) / sum(e["transcript_word_count"] for e in mine), abs=1e-3)
        assert 0 < row["input_tokens_per_word"] < 10

    last = [e for e in essays if filled["last_month"] <= e["created_at"] < filled["this_month"]]
    by_model = {r["model"]: r for r in results["last_month_cost_per_model"]}
    assert set(by_model) == {e["llm_model"] for e in last}
    for model, row in by_model.items():
        mine = [e for e in last if e["llm_model"] == model]
        assert row["essays"] == len(mine)
        if COST_PER_CALL[model] is None:
            assert row["cost_usd"] is None and row["essays_with_unknown_cost"] == len(mine)
        else:
            assert row["cost_usd"] == pytest.approx(sum(e["estimated_cost_cents"] for e in mine) / 100, abs=1e-4)

    invented = {r["model"]: r for r in results["essays_whose_model_invented_quotes"]}
    assert set(invented) == set(wr.MODELS)
    for model, row in invented.items():
        verdicts, essays_now = QUOTE_VERDICTS[model], sum(1 for e in current.values() if e["llm_model"] == model)
        assert row["essays"] == essays_now
        assert row["quotations_drafted"] == essays_now * len(verdicts)  # stale rows of older runs not counted
        assert row["verified"] == essays_now * verdicts.count("verified")
        assert row["repaired"] == essays_now * verdicts.count("repaired")
        assert row["removed_or_unquoted"] == essays_now * (verdicts.count("unquoted") + verdicts.count("removed"))
        invented_share = sum(v != "verified" for v in verdicts) / len(verdicts) if verdicts else None
        assert row["share_invented"] == (pytest.approx(invented_share, abs=1e-3) if verdicts else None)
        assert row["essays_with_invented_quotes"] == (essays_now if invented_share else 0)
    assert [r["model"] for r in results["essays_whose_model_invented_quotes"]][0] == "openai/gpt-4o-mini"

