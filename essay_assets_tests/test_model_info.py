"""What litellm knows about a model besides its price: its context window (model_calls/model_info.py)."""

from __future__ import annotations

import essay_assets  # noqa: F401  (sets LITELLM_LOCAL_MODEL_COST_MAP before litellm loads)
from essay_assets.model_calls.model_info import context_window
from essay_assets.settings import LOCAL_MODEL


def test_context_window(litellm_price_table):
    assert context_window(LOCAL_MODEL) == 8192
    assert context_window("gpt-4o") == litellm_price_table["gpt-4o"]["max_input_tokens"] == 128_000
    assert context_window("openrouter/openai/gpt-4o") == 128_000
    assert context_window("acme/unknown") is None
    assert context_window("acme/unknown", override=32_000) == 32_000
    assert context_window("gpt-4o", override=4_096) == 4_096
