"""Summing a video's model calls into the essay's totals, once, when llm_response stores the
response record (model_calls/ledger.py)."""

from __future__ import annotations

import json

import pytest

from essay_assets.model_calls.ledger import response_totals, totals_from_calls
from essay_assets.settings import Settings
from essay_assets.storage.raw_store import RawStore
from essay_assets.writing.rendering import parse_essay
from essay_assets_tests.support.chain import run_chain, write_transcript


def test_totals_sum_calls_and_keep_unknown_as_null():
    calls = [
        {"status": "ok", "input_tokens": 100, "output_tokens": 10, "total_tokens": 110, "reasoning_tokens": None,
         "cached_input_tokens": 5, "cost_usd": 0.001, "cost_source": "provider", "response_time_ms": 50},
        {"status": "retried", "input_tokens": 200, "output_tokens": 20, "total_tokens": 220, "reasoning_tokens": None,
         "cached_input_tokens": None, "cost_usd": 0.002, "cost_source": "provider", "response_time_ms": 70},
        {"status": "failed", "input_tokens": None, "cost_usd": None, "cost_source": "unknown", "response_time_ms": 9},
    ]
    totals = totals_from_calls(calls)
    assert totals["input_tokens"] == 300 and totals["total_tokens"] == 330 and totals["call_count"] == 2
    assert totals["estimated_cost_cents"] == pytest.approx(0.3)
    assert totals["reasoning_tokens"] is None  # never reported: null, not 0
    assert totals["cached_input_tokens"] == 5 and totals["cost_source"] == "provider"
    assert totals["response_time_ms"] == 120
    calls[1]["cost_usd"], calls[1]["cost_source"] = None, "unknown"
    mixed = totals_from_calls(calls)
    assert mixed["estimated_cost_cents"] is None and mixed["cost_source"] == "mixed"


CALLS = [
    {"status": "ok", "input_tokens": 100, "output_tokens": 50, "total_tokens": 150, "response_time_ms": 900,
     "cost_usd": 0.01, "cost_source": "litellm_price_table"},
    {"status": "failed", "cost_source": "unknown"},
]


def test_stored_totals_are_read_not_recomputed():
    stored = {**totals_from_calls(CALLS), "input_tokens": 7}  # differs from the calls: proves which is used
    assert response_totals({"calls": CALLS, "totals": stored}) == stored


def test_a_record_from_before_totals_were_stored_sums_its_calls():
    assert response_totals({"calls": CALLS}) == totals_from_calls(CALLS)


def test_the_response_record_stores_totals_and_an_older_record_without_them_still_makes_the_same_essay(
        llm_server, data_dir):
    write_transcript(data_dir, "abcdefghijk", words=500)
    assert run_chain(["abcdefghijk"]).ok
    store = RawStore(Settings.from_env().raw_dir)
    [response_path] = (data_dir / "raw" / "responses").glob("abcdefghijk.r*.json")
    record = store.read(response_path)
    assert record["totals"] == json.loads(json.dumps(totals_from_calls(record["calls"]), default=str))
    essay_path = data_dir / "essays" / "abcdefghijk.md"
    first = essay_path.read_text()

    del record["totals"]  # as an older version wrote it
    store.write(response_path, record)
    assert run_chain(["abcdefghijk"]).ok
    assert llm_server.call_count == 1  # the answer was reused
    assert essay_path.read_text() == first
    fields, _ = parse_essay(first)
    assert fields["inputTokens"] == record["calls"][0]["input_tokens"]
