"""Costs without float noise: cents rounded to significant digits (never a small cost to 0,
never an unknown cost to a number), in the front matter, the asset metadata and the warehouse."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from essay_assets.model_calls.costs import round_significant, usd_to_cents
from essay_assets.model_calls.ledger import response_totals, totals_from_calls
from essay_assets.settings import Settings
from essay_assets.storage.warehouse import warehouse_for
from essay_assets.writing.rendering import parse_essay
from essay_assets_tests.support.chain import run_chain, write_transcript
from testkit.openai_stub import LoopbackLLM


def test_cents_lose_float_noise():
    assert 0.0007 * 100 == 0.06999999999999999  # the noise this is about
    assert usd_to_cents(0.0007) == 0.07
    assert usd_to_cents(0.0003213) == 0.03213


def test_a_tiny_cost_stays_non_zero_and_unknown_stays_unknown():
    assert usd_to_cents(1e-9) == 1e-7
    assert usd_to_cents(1.234567891234e-12) == 1.234567891e-10
    assert usd_to_cents(0.0) == 0.0
    assert usd_to_cents(None) is None
    assert round_significant(None) is None


def test_totals_sum_without_noise():
    calls = [{"status": "ok", "cost_usd": 0.0001, "input_tokens": 1, "output_tokens": 1, "total_tokens": 2}] * 3
    assert 0.0001 * 3 * 100 != 0.03
    assert totals_from_calls(calls)["estimated_cost_cents"] == 0.03
    unknown = [*calls, {"status": "ok", "cost_usd": None, "input_tokens": 1, "output_tokens": 1, "total_tokens": 2}]
    assert totals_from_calls(unknown)["estimated_cost_cents"] is None


def test_totals_stored_by_earlier_releases_are_rounded_when_read():
    stored = {"totals": {"estimated_cost_cents": 0.06999999999999999, "call_count": 1}, "calls": []}
    assert response_totals(stored)["estimated_cost_cents"] == 0.07


def test_front_matter_and_warehouse_show_rounded_cents(data_dir: Path, monkeypatch):
    video = "costround01"
    write_transcript(data_dir, video, words=400)
    # The provider bills 0.0007 USD per call: 0.0007 * 100 is 0.06999999999999999 in floats.
    with LoopbackLLM(usage_shape="openrouter_with_cost", cost_usd=0.0007) as llm:
        monkeypatch.setenv("ESSAYS_MODEL", "openai/gpt-4o")
        monkeypatch.setenv("ESSAYS_API_BASE", llm.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-FAKEFAKEFAKEFAKEFAKE0001")
        assert run_chain([video]).ok
    front_matter, _ = parse_essay((data_dir / "essays" / f"{video}.md").read_text())
    assert front_matter["estimatedCostCents"] == 0.07
    instance = dg.DagsterInstance.get()
    for asset in ("llm_response", "essay"):
        event = instance.get_latest_materialization_event(dg.AssetKey(asset))
        assert event.asset_materialization.metadata["cost_cents"].value == 0.07, asset
    warehouse = warehouse_for(Settings.from_env())
    [row] = warehouse.query("SELECT estimated_cost_cents FROM essays WHERE video_id = ?", [video])
    assert row["estimated_cost_cents"] == 0.07
    [call] = warehouse.query("SELECT cost_usd FROM llm_calls WHERE video_id = ?", [video])
    assert call["cost_usd"] == 0.0007
