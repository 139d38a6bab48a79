"""Cost and usage accounting, end to end (issue #3).

Every test runs the real chain (`run_chain`: a real Dagster instance, a real DuckDB warehouse)
with litellm talking HTTP to a `LoopbackLLM` the test starts, and asserts on what a user sees:
the essay's front matter, the `llm_calls` / `essays` / `failures` tables, the Dagster event
log and the requests the "provider" received.

Reference numbers (GUIDE.md): the replaced system recorded `estimatedCostCents: 0` for
18,343 input + 832 output tokens on openrouter/openai/gpt-4o; at list price ($2.50 / $10
per million tokens) that call cost 5.41775 cents.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import dagster as dg
import duckdb
import pyarrow.parquet as pq
import pytest

from essay_assets.settings import Settings
from essay_assets.storage.warehouse import warehouse_for
from essay_assets.writing.rendering import parse_essay
from essay_assets_tests.support.chain import run_chain, write_transcript
from testkit.openai_stub import LoopbackLLM, default_essay, last_user_text

REF_IN, REF_OUT = 18_343, 832
LIST_USD_PER_IN, LIST_USD_PER_OUT = 2.50 / 1e6, 10.00 / 1e6  # gpt-4o list price
REF_CENTS = (REF_IN * LIST_USD_PER_IN + REF_OUT * LIST_USD_PER_OUT) * 100  # 5.41775
VIDEO = "abcdefghijk"


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def _litellm_table():
    import litellm

    return litellm.model_cost


def front_matter(data_dir: Path, video_id: str = VIDEO) -> tuple[dict, str]:
    """(parsed fields, raw front-matter text) of the current essay."""
    text = (data_dir / "essays" / f"{video_id}.md").read_text(encoding="utf-8")
    fields, _ = parse_essay(text)
    return fields, text[: text.index("\n---\n", 4)]


def query(sql: str, params=None) -> list[dict]:
    return warehouse_for(Settings.from_env()).query(sql, params)


def calls_of(video_id: str = VIDEO) -> list[dict]:
    return query("SELECT * FROM llm_calls WHERE video_id = ? ORDER BY created_at", [video_id])


def event_log(run_ids: list[str]) -> list:
    instance = dg.DagsterInstance.get()
    return [entry for run_id in run_ids for entry in instance.all_logs(run_id)]


def check_evaluations(run_ids: list[str], check_name: str) -> list:
    return [
        e.asset_check_evaluation for e in event_log(run_ids)
        if e.asset_check_evaluation is not None and e.asset_check_evaluation.check_name == check_name
    ]


def latest_materialization_metadata(asset: str) -> dict:
    event = dg.DagsterInstance.get().get_latest_materialization_event(dg.AssetKey(asset))
    assert event is not None, f"no materialization of {asset}"
    return {k: v.value for k, v in event.asset_materialization.metadata.items()}


@pytest.fixture
def use_model(data_dir, monkeypatch):
    """Point the pipeline at a loopback server as the given litellm model."""

    def point(server: LoopbackLLM, model: str, **keys: str) -> None:
        monkeypatch.setenv("ESSAYS_MODEL", model)
        monkeypatch.setenv("ESSAYS_API_BASE", server.base_url)
        for name, value in keys.items():
            monkeypatch.setenv(name, value)

    return point


def write_config(data_dir: Path, text: str) -> None:
    (data_dir / "config.yaml").write_text(text, encoding="utf-8")


# ---------------------------------------------------------------------------
# Pricing by provider usage shape
# ---------------------------------------------------------------------------


def test_openai_usage_is_priced_from_litellm_table_with_fractions_kept(data_dir, use_model):
    with LoopbackLLM(usage_shape="openai", prompt_tokens=REF_IN, completion_tokens=REF_OUT) as server:
        use_model(server, "openai/gpt-4o", OPENAI_API_KEY="sk-test-cost-openai-000000")
        write_transcript(data_dir, VIDEO)
        summary = run_chain([VIDEO])
    assert summary.ok, summary.failures
    assert server.call_count == 1

    entry = _litellm_table()["gpt-4o"]
    from_table = (REF_IN * entry["input_cost_per_token"] + REF_OUT * entry["output_cost_per_token"]) * 100
    fields, raw = front_matter(data_dir)
    assert fields["llmModel"] == "openai/gpt-4o"
    assert fields["costSource"] == "litellm_price_table"
    assert fields["inputTokens"] == REF_IN and fields["outputTokens"] == REF_OUT
    assert fields["totalTokens"] == REF_IN + REF_OUT
    assert fields["estimatedCostCents"] == pytest.approx(from_table, rel=1e-12)
    assert fields["estimatedCostCents"] == pytest.approx(REF_CENTS, rel=1e-12)  # $2.50 / $10 per 1M
    assert fields["estimatedCostCents"] == pytest.approx(5.41775, rel=1e-12)
    assert fields["estimatedCostCents"] != round(fields["estimatedCostCents"])  # not truncated/rounded
    assert "estimatedCostCents: 5.41775" in raw
    # Plain OpenAI usage has no details: unknown, not 0.
    assert fields["reasoningTokens"] is None and fields["cachedInputTokens"] is None

    [call] = calls_of()
    assert call["cost_source"] == "litellm_price_table"
    assert call["cost_usd"] * 100 == pytest.approx(from_table, rel=1e-12)
    assert call["reasoning_tokens"] is None and call["cached_input_tokens"] is None
    [row] = query("SELECT * FROM essays WHERE video_id = ?", [VIDEO])
    assert row["estimated_cost_cents"] == pytest.approx(from_table, rel=1e-12)
    assert row["cost_source"] == "litellm_price_table"
    assert row["response_id"] == call["response_id"]


def test_openrouter_reported_cost_wins_and_usage_accounting_is_requested(data_dir, use_model):
    billed_usd = 0.0123456  # deliberately not the list price: the bill is what counts
    with LoopbackLLM(usage_shape="openrouter_with_cost", prompt_tokens=REF_IN, completion_tokens=REF_OUT,
                     cost_usd=billed_usd) as server:
        use_model(server, "openrouter/openai/gpt-4o", OPENROUTER_API_KEY="sk-or-v1-" + "ab" * 16)
        write_transcript(data_dir, VIDEO)
        summary = run_chain([VIDEO])
    assert summary.ok, summary.failures

    [request] = server.chat_requests
    assert request.json["usage"] == {"include": True}
    assert request.json["model"] == "openai/gpt-4o"  # the routing prefix is litellm's, not OpenRouter's

    fields, _ = front_matter(data_dir)
    assert fields["llmModel"] == "openrouter/openai/gpt-4o"
    assert fields["costSource"] == "provider"
    assert fields["estimatedCostCents"] == pytest.approx(billed_usd * 100, rel=1e-12)
    [call] = calls_of()
    assert call["cost_source"] == "provider"
    assert call["cost_usd"] == pytest.approx(billed_usd, rel=1e-12)
    # OpenRouter reports details, with explicit zeros: recorded as the 0 it said.
    assert call["reasoning_tokens"] == 0 and call["cached_input_tokens"] == 0


def test_openrouter_without_cost_is_priced_as_the_stripped_model_never_zero(data_dir, use_model):
    with LoopbackLLM(usage_shape="openrouter_without_cost", prompt_tokens=REF_IN, completion_tokens=REF_OUT) as server:
        use_model(server, "openrouter/openai/gpt-4o", OPENROUTER_API_KEY="sk-or-v1-" + "cd" * 16)
        write_transcript(data_dir, VIDEO)
        summary = run_chain([VIDEO])
    assert summary.ok, summary.failures
    assert server.chat_requests[0].json["usage"] == {"include": True}

    fields, _ = front_matter(data_dir)
    assert fields["costSource"] == "litellm_price_table"
    assert fields["inputTokens"] == REF_IN and fields["outputTokens"] == REF_OUT
    # The reference essay said 0 here; the call cost about 5.42 cents.
    assert fields["estimatedCostCents"] == pytest.approx(REF_CENTS, rel=1e-12)
    assert round(fields["estimatedCostCents"], 2) == 5.42
    [call] = calls_of()
    assert call["cost_source"] == "litellm_price_table"
    assert call["cost_usd"] == pytest.approx(REF_CENTS / 100, rel=1e-12)


# ---------------------------------------------------------------------------
# Unknown prices and user prices
# ---------------------------------------------------------------------------


def test_unknown_model_cost_is_null_warned_flagged_and_fails_the_check(data_dir, use_model):
    with LoopbackLLM(usage_shape="openai", prompt_tokens=1000, completion_tokens=500) as server:
        use_model(server, "openai/my-private-model", OPENAI_API_KEY="sk-test-cost-private-00000")
        write_transcript(data_dir, VIDEO)
        summary = run_chain([VIDEO])
    assert summary.ok, summary.failures  # an unknown price does not stop an essay without ceilings

    fields, raw = front_matter(data_dir)
    assert fields["estimatedCostCents"] is None
    assert re.search(r"^estimatedCostCents: null$", raw, re.MULTILINE), raw
    assert fields["costSource"] == "unknown"
    assert fields["inputTokens"] == 1000 and fields["outputTokens"] == 500  # tokens are still known

    [call] = calls_of()
    assert call["cost_usd"] is None and call["cost_source"] == "unknown"
    [row] = query("SELECT estimated_cost_cents, cost_source FROM essays WHERE video_id = ?", [VIDEO])
    assert row == {"estimated_cost_cents": None, "cost_source": "unknown"}

    warnings = [e.user_message for e in event_log(summary.run_ids)
                if e.level == 30 and "No price known for model openai/my-private-model" in (e.user_message or "")]
    assert warnings, "the unknown price must be warned about in the Dagster event log"
    assert "model_prices" in warnings[0]

    for asset in ("llm_response", "essay"):
        metadata = latest_materialization_metadata(asset)
        assert metadata.get("cost_unknown") is True, (asset, metadata)
        assert "cost_cents" not in metadata  # never plotted as 0
        assert metadata["cost_source"] == "unknown"

    [evaluation] = check_evaluations(summary.run_ids, "essay_cost_is_known_and_within_ceiling")
    assert evaluation.passed is False
    problems = evaluation.metadata["problems"].value
    assert "cost unknown" in problems[VIDEO][0]


@pytest.mark.parametrize("price_key", ["openai/my-private-model", "my-private-model"])
def test_user_prices_from_config_yaml_price_an_unknown_model(data_dir, use_model, price_key):
    write_config(data_dir, f'model_prices:\n  "{price_key}": {{input: 0.4, output: 1.6}}\n')
    with LoopbackLLM(usage_shape="openai", prompt_tokens=REF_IN, completion_tokens=REF_OUT) as server:
        use_model(server, "openai/my-private-model", OPENAI_API_KEY="sk-test-cost-private-00000")
        write_transcript(data_dir, VIDEO)
        summary = run_chain([VIDEO])
    assert summary.ok, summary.failures

    expected_cents = (REF_IN * 0.4 + REF_OUT * 1.6) / 1e6 * 100
    fields, _ = front_matter(data_dir)
    assert fields["costSource"] == "user_price"
    assert fields["estimatedCostCents"] == pytest.approx(expected_cents, rel=1e-12)
    [call] = calls_of()
    assert call["cost_source"] == "user_price"
    assert call["cost_usd"] == pytest.approx(expected_cents / 100, rel=1e-12)
    [evaluation] = check_evaluations(summary.run_ids, "essay_cost_is_known_and_within_ceiling")
    assert evaluation.passed is True


def test_user_price_beats_litellm_table_for_a_known_model(data_dir, use_model):
    write_config(data_dir, 'model_prices:\n  "gpt-4o": {input: 1.0, output: 2.0}\n')
    with LoopbackLLM(usage_shape="openai", prompt_tokens=REF_IN, completion_tokens=REF_OUT) as server:
        use_model(server, "openai/gpt-4o", OPENAI_API_KEY="sk-test-cost-openai-000000")
        write_transcript(data_dir, VIDEO)
        assert run_chain([VIDEO]).ok
    fields, _ = front_matter(data_dir)
    assert fields["costSource"] == "user_price"
    assert fields["estimatedCostCents"] == pytest.approx((REF_IN * 1.0 + REF_OUT * 2.0) / 1e4, rel=1e-12)


# ---------------------------------------------------------------------------
# Reasoning and cached tokens
# ---------------------------------------------------------------------------

REASONING_MODEL = "o3-mini"


def test_reasoning_tokens_are_recorded_and_paid_at_the_output_rate(data_dir, use_model):
    prompt, completion, reasoning = 5000, 900, 600  # OpenAI: reasoning is inside completion
    with LoopbackLLM(usage_shape="reasoning", prompt_tokens=prompt, completion_tokens=completion,
                     reasoning_tokens=reasoning) as server:
        use_model(server, f"openai/{REASONING_MODEL}", OPENAI_API_KEY="sk-test-cost-reasoning-0000")
        write_transcript(data_dir, VIDEO)
        summary = run_chain([VIDEO])
    assert summary.ok, summary.failures
    assert server.call_count == 1
    # o-series reject temperature != 1: it is dropped rather than failing every call.
    assert "temperature" not in server.chat_requests[0].json

    entry = _litellm_table()[REASONING_MODEL]
    assert "output_cost_per_reasoning_token" not in entry  # so reasoning is billed as output
    expected_cents = (prompt * entry["input_cost_per_token"] + completion * entry["output_cost_per_token"]) * 100
    without_reasoning = (prompt * entry["input_cost_per_token"]
                         + (completion - reasoning) * entry["output_cost_per_token"]) * 100

    fields, _ = front_matter(data_dir)
    assert fields["reasoningTokens"] == reasoning
    assert fields["outputTokens"] == completion  # not completion + reasoning: never counted twice
    assert fields["costSource"] == "litellm_price_table"
    assert fields["estimatedCostCents"] == pytest.approx(expected_cents, rel=1e-12)
    assert fields["estimatedCostCents"] > without_reasoning
    assert fields["cachedInputTokens"] is None  # not reported -> null, not 0
    [call] = calls_of()
    assert call["reasoning_tokens"] == reasoning
    assert call["cached_input_tokens"] is None
    assert call["cost_usd"] * 100 == pytest.approx(expected_cents, rel=1e-12)


def test_cached_tokens_are_recorded_and_paid_at_the_cached_rate(data_dir, use_model):
    prompt, completion, cached = 10_000, 800, 6_000
    with LoopbackLLM(usage_shape="openai", prompt_tokens=prompt, completion_tokens=completion,
                     cached_tokens=cached) as server:
        use_model(server, "openai/gpt-4o", OPENAI_API_KEY="sk-test-cost-openai-000000")
        write_transcript(data_dir, VIDEO)
        assert run_chain([VIDEO]).ok
    entry = _litellm_table()["gpt-4o"]
    expected_cents = ((prompt - cached) * entry["input_cost_per_token"]
                      + cached * entry["cache_read_input_token_cost"]
                      + completion * entry["output_cost_per_token"]) * 100
    fields, _ = front_matter(data_dir)
    assert fields["cachedInputTokens"] == cached
    assert fields["reasoningTokens"] is None  # not reported -> null, not 0
    assert fields["estimatedCostCents"] == pytest.approx(expected_cents, rel=1e-12)
    [call] = calls_of()
    assert call["cached_input_tokens"] == cached and call["reasoning_tokens"] is None


# ---------------------------------------------------------------------------
# Map-reduce totals
# ---------------------------------------------------------------------------


def _notes_or_essay(request_json: dict) -> str:
    """Short notes for map calls (so the reduce prompt fits), a full essay for the essay call."""
    if "<transcript_part>" in last_user_text(request_json):
        return "- The speakers compare shade, roofs and night cooling.\n- Evidence comes from street surveys."
    return default_essay(request_json)


def test_map_reduce_front_matter_totals_are_the_sums_of_the_calls(data_dir, use_model, monkeypatch):
    monkeypatch.setenv("ESSAYS_CONTEXT_WINDOW", "1500")
    monkeypatch.setenv("ESSAYS_MAX_OUTPUT_TOKENS", "400")
    with LoopbackLLM(usage_shape="openai", reply_text=_notes_or_essay, delay_s=0.02) as server:
        use_model(server, "openai/gpt-4o", OPENAI_API_KEY="sk-test-cost-openai-000000")
        write_transcript(data_dir, VIDEO, words=3000)
        summary = run_chain([VIDEO])
    assert summary.ok, summary.failures

    fields, _ = front_matter(data_dir)
    assert fields["transcriptChunks"] >= 3
    calls = [c for c in calls_of() if c["status"] != "failed"]
    assert len(calls) == server.call_count == fields["llmCallCount"] == fields["transcriptChunks"] + 1
    assert {c["stage"] for c in calls} == {"chunk_notes", "essay"}
    [row] = query("SELECT response_id FROM essays WHERE video_id = ?", [VIDEO])
    assert {c["response_id"] for c in calls} == {row["response_id"]}
    # Token counts differ per call (the stub counts words), so the sums are not trivially n * x.
    assert len({c["input_tokens"] for c in calls}) > 1

    sums = query(
        "SELECT sum(input_tokens) AS i, sum(output_tokens) AS o, sum(total_tokens) AS t, sum(cost_usd) * 100 AS c, "
        "sum(response_time_ms) AS ms, count(*) AS n FROM llm_calls WHERE response_id = ? AND status <> 'failed'",
        [row["response_id"]],
    )[0]
    by_video = query(
        "SELECT sum(input_tokens) AS i, sum(output_tokens) AS o, sum(total_tokens) AS t, sum(cost_usd) * 100 AS c, "
        "sum(response_time_ms) AS ms, count(*) AS n FROM llm_calls WHERE video_id = ? AND status <> 'failed'",
        [VIDEO],
    )[0]
    for totals in (sums, by_video):
        assert fields["inputTokens"] == totals["i"]
        assert fields["outputTokens"] == totals["o"]
        assert fields["totalTokens"] == totals["t"] == totals["i"] + totals["o"]
        assert fields["estimatedCostCents"] == pytest.approx(totals["c"], rel=1e-12)
        assert fields["responseTimeMs"] == totals["ms"]
        assert fields["llmCallCount"] == totals["n"]
    assert fields["responseTimeMs"] >= 20 * len(calls)  # each call waited delay_s
    assert fields["costSource"] == "litellm_price_table"
    entry = _litellm_table()["gpt-4o"]
    expected_cents = (sums["i"] * entry["input_cost_per_token"] + sums["o"] * entry["output_cost_per_token"]) * 100
    assert fields["estimatedCostCents"] == pytest.approx(expected_cents, rel=1e-9)


# ---------------------------------------------------------------------------
# Budgets: checked before any paid call
# ---------------------------------------------------------------------------

_NUMBER = r"(\d+(?:\.\d+)?)"


def test_per_essay_ceiling_stops_the_video_before_any_request(data_dir, use_model, monkeypatch):
    monkeypatch.setenv("ESSAYS_ESSAY_COST_CEILING_CENTS", "0.05")
    with LoopbackLLM(usage_shape="openai") as server:
        use_model(server, "openai/gpt-4o", OPENAI_API_KEY="sk-test-cost-openai-000000")
        write_transcript(data_dir, VIDEO)
        summary = run_chain([VIDEO])
    assert not summary.ok
    assert server.call_count == 0 and server.chat_requests == []
    message = summary.failures[VIDEO]
    match = re.search(rf"estimated at {_NUMBER} cents", message)
    assert match, message
    assert float(match.group(1)) > 0.05
    assert "ceiling of 0.05 cents" in message and "ESSAYS_ESSAY_COST_CEILING_CENTS" in message
    assert "Nothing was spent" in message
    assert not (data_dir / "essays" / f"{VIDEO}.md").exists()
    failures = query("SELECT video_id, stage, reason FROM failures")
    assert failures == [{"video_id": VIDEO, "stage": "llm_response", "reason": "budget_exceeded"}]
    assert query("SELECT count(*) AS n FROM llm_calls")[0]["n"] == 0


def test_daily_ceiling_counts_todays_spend_plus_the_next_estimate(data_dir, use_model, monkeypatch):
    # First essay: ~5.42 cents actually spent (fixed usage); the estimate for a 400-word transcript
    # is ~1.4 cents (mostly max_output_tokens at the output rate), so 6 cents lets it through.
    monkeypatch.setenv("ESSAYS_DAILY_COST_CEILING_CENTS", "6")
    with LoopbackLLM(usage_shape="openai", prompt_tokens=REF_IN, completion_tokens=REF_OUT) as server:
        use_model(server, "openai/gpt-4o", OPENAI_API_KEY="sk-test-cost-openai-000000")
        write_transcript(data_dir, "firstvideo1")
        write_transcript(data_dir, "secondvide2", seed=1)
        first = run_chain(["firstvideo1"])
        assert first.ok, first.failures
        assert server.call_count == 1
        spent = front_matter(data_dir, "firstvideo1")[0]["estimatedCostCents"]
        assert spent == pytest.approx(REF_CENTS, rel=1e-12)

        second = run_chain(["secondvide2"])
        assert server.call_count == 1  # zero new requests
    assert not second.ok
    message = second.failures["secondvide2"]
    match = re.search(rf"spent today {_NUMBER} cents \+ estimate {_NUMBER} cents", message)
    assert match, message
    assert float(match.group(1)) == pytest.approx(spent, abs=1e-4)
    assert spent < 6 < spent + float(match.group(2))
    assert "daily ceiling of 6 cents" in message and "ESSAYS_DAILY_COST_CEILING_CENTS" in message
    assert not (data_dir / "essays" / "secondvide2.md").exists()
    rows = query("SELECT video_id, stage, reason FROM failures")
    assert rows == [{"video_id": "secondvide2", "stage": "llm_response", "reason": "budget_exceeded"}]


# ---------------------------------------------------------------------------
# Secrets never leave the environment
# ---------------------------------------------------------------------------

# Distinctive, and one of them not key-shaped: redaction must work by value, not by pattern.
SECRET_OPENAI = "plain-OPENAI-secret-7f3a9c1e5b2d4x"
SECRET_OPENROUTER = "sk-or-v1-" + "5ec7e7" * 8


def _strings_in_tabular_files(path: Path) -> str:
    """Decoded contents of compressed stores, where a raw byte scan could miss a secret."""
    if path.suffix == ".parquet":
        return json.dumps(pq.read_table(path).to_pylist(), default=str)
    if path.suffix == ".duckdb":
        with duckdb.connect(str(path), read_only=True) as con:
            tables = con.execute(
                "SELECT table_schema, table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE'"
            ).fetchall()
            return json.dumps([con.execute(f'SELECT * FROM "{s}"."{t}"').fetchall() for s, t in tables],
                              default=str)
    return ""


def _files_containing(root: Path, secrets: list[str]) -> list[str]:
    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        blob = path.read_bytes()
        decoded = _strings_in_tabular_files(path)
        for secret in secrets:
            if secret.encode() in blob or secret in decoded:
                found.append(f"{path} contains {secret[:12]}...")
    return found


def test_api_keys_appear_nowhere_after_successful_and_failed_runs(data_dir, use_model, capfd, tmp_path):
    secrets = [SECRET_OPENAI, SECRET_OPENROUTER]
    run_ids: list[str] = []
    # A provider that echoes the whole key in its 401 (worse than OpenAI's masked echo).
    echo = f"Incorrect API key provided: {SECRET_OPENAI}. You can find your API key at https://example.invalid."
    with LoopbackLLM(usage_shape="openai", failures=[(401, echo)]) as server:
        use_model(server, "openai/gpt-4o", OPENAI_API_KEY=SECRET_OPENAI, OPENROUTER_API_KEY=SECRET_OPENROUTER)
        write_transcript(data_dir, "failsvideo1")
        write_transcript(data_dir, "workvideo01", seed=1)
        failed = run_chain(["failsvideo1"])
        worked = run_chain(["workvideo01"])
        run_ids += failed.run_ids + worked.run_ids
        [auth] = {r.authorization for r in server.chat_requests}
        assert auth == f"Bearer {SECRET_OPENAI}"  # the key did reach the provider, and only there
    assert not failed.ok and "API key" in failed.failures["failsvideo1"]
    assert worked.ok, worked.failures

    with LoopbackLLM(usage_shape="openrouter_with_cost", failures=[(401, f"bad key {SECRET_OPENROUTER}")]) as server:
        use_model(server, "openrouter/openai/gpt-4o")
        write_transcript(data_dir, "orfailvid01", seed=2)
        write_transcript(data_dir, "orworkvid01", seed=3)
        or_failed = run_chain(["orfailvid01"])
        or_worked = run_chain(["orworkvid01"])
        run_ids += or_failed.run_ids + or_worked.run_ids
    assert not or_failed.ok and or_worked.ok

    # The failures are recorded (with their messages), just without the key.
    assert {r["video_id"] for r in query("SELECT video_id FROM failures")} == {"failsvideo1", "orfailvid01"}
    assert query("SELECT count(*) AS n FROM llm_calls WHERE status = 'failed'")[0]["n"] == 2

    leaks = _files_containing(data_dir, secrets)
    leaks += _files_containing(tmp_path / "dagster_home", secrets)
    for entry in event_log(run_ids):
        text = entry.to_json() + str(entry.user_message) + str(entry.error_info)
        leaks += [f"event log of run {entry.run_id}: {entry.user_message[:80]!r}" for s in secrets if s in text]
    captured = capfd.readouterr()
    leaks += [f"captured {name}" for name, out in (("stdout", captured.out), ("stderr", captured.err))
              for s in secrets if s in out]
    assert not leaks, "\n".join(leaks)
    assert any("Incorrect API key provided" in (e.user_message or "") for e in event_log(failed.run_ids))


# ---------------------------------------------------------------------------
# Transient vs permanent model errors
# ---------------------------------------------------------------------------


def test_rate_limit_is_retried_and_recorded_as_retried(data_dir, use_model):
    with LoopbackLLM(usage_shape="openai", failures=[429], prompt_tokens=1000, completion_tokens=100) as server:
        use_model(server, "openai/gpt-4o", OPENAI_API_KEY="sk-test-cost-openai-000000")
        write_transcript(data_dir, VIDEO)
        summary = run_chain([VIDEO])
    assert summary.ok, summary.failures
    assert server.call_count == 2
    refused, call = calls_of()  # every request sent has its row: the 429, then the answer
    assert (refused["status"], refused["cost_usd"]) == ("failed", None) and "RateLimitError" in refused["error"]
    assert call["status"] == "retried"
    assert call["cost_usd"] is not None and call["input_tokens"] == 1000
    fields, _ = front_matter(data_dir)
    assert fields["llmCallCount"] == 1  # the 429 cost nothing and is not an answered call
    assert query("SELECT count(*) AS n FROM failures")[0]["n"] == 0


def test_bad_api_key_fails_at_once_and_says_to_check_the_key(data_dir, use_model):
    with LoopbackLLM(usage_shape="openai", failures=[401, 401, 401, 401]) as server:
        use_model(server, "openai/gpt-4o", OPENAI_API_KEY="sk-test-cost-wrong-0000000")
        write_transcript(data_dir, VIDEO)
        summary = run_chain([VIDEO])
    assert not summary.ok
    assert server.call_count == 1  # permanent: neither litellm, call_model nor Dagster retried it
    message = summary.failures[VIDEO]
    assert "API key" in message and "OPENAI_API_KEY" in message
    assert query("SELECT video_id, stage, reason FROM failures") == [
        {"video_id": VIDEO, "stage": "llm_response", "reason": "bad_api_key"}]
    [call] = calls_of()
    assert call["status"] == "failed" and call["cost_usd"] is None
    assert not (data_dir / "essays" / f"{VIDEO}.md").exists()
