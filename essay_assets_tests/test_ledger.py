"""Summing a video's model calls into the essay's totals (model_calls/ledger.py)."""

from __future__ import annotations

import pytest

from essay_assets.model_calls.ledger import totals_from_calls


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
