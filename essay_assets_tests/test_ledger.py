"""An essay's totals: summed once, when llm_response stores the response record."""

from __future__ import annotations

import json

from essay_assets.model_calls.ledger import response_totals, totals_from_calls
from essay_assets.settings import Settings
from essay_assets.storage.raw_store import RawStore
from essay_assets.writing.rendering import parse_essay
from essay_assets_tests.conftest import run_chain, write_transcript

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
