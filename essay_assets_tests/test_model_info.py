"""What litellm knows about a model besides its price: its context window (model_calls/model_info.py)."""

from __future__ import annotations

import pytest

import essay_assets  # noqa: F401  (sets LITELLM_LOCAL_MODEL_COST_MAP before litellm loads)
from essay_assets.model_calls.model_info import context_window, count_tokens_fn
from essay_assets.settings import LOCAL_MODEL


def test_context_window(litellm_price_table):
    assert context_window(LOCAL_MODEL) == 8192
    assert context_window("gpt-4o") == litellm_price_table["gpt-4o"]["max_input_tokens"] == 128_000
    assert context_window("openrouter/openai/gpt-4o") == 128_000
    assert context_window("acme/unknown") is None
    assert context_window("acme/unknown", override=32_000) == 32_000
    assert context_window("gpt-4o", override=4_096) == 4_096


# Models whose tokenizer litellm has without the network: OpenAI encodings, and its GPT fallback.
@pytest.mark.parametrize("model", ["openai/gpt-4o", "gpt-4o", "openrouter/openai/gpt-4o", "gpt-3.5-turbo",
                                   "acme/unknown"])
def test_plans_count_tokens_as_litellms_token_counter_does(model: str):
    """The counter picks litellm's count function once per plan step, not per text: the counts
    stay litellm's own (plus one), for short, unicode and long texts."""
    import litellm

    count = count_tokens_fn(model, is_local=False)
    texts = ["a", "Hello, world — naïve café 東京 🎉", "heat canopy shade roof " * 2000]
    assert [count(text) for text in texts] == [int(litellm.token_counter(model=model, text=text)) + 1
                                                for text in texts]
    assert count("") == 0
