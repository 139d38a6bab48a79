import math

import pytest

import essay_assets  # noqa: F401  (sets LITELLM_LOCAL_MODEL_COST_MAP before litellm loads)
from essay_assets.model_calls.costs import (
    Cost,
    Usage,
    compute_cost,
    estimate_cost_usd,
    provider_cost_from_response,
    strip_routing_prefixes,
)
from essay_assets.settings import LOCAL_MODEL, ModelPrice

# The reference essay: 18,343 in + 832 out on openrouter/openai/gpt-4o, recorded as 0 cents.
REF_IN, REF_OUT = 18_343, 832
GPT4O_LIST_IN, GPT4O_LIST_OUT = 2.50 / 1e6, 10.00 / 1e6  # USD per token, OpenAI list price


def usage(inp, out, *, reasoning=None, cached=None):
    return Usage(inp, out, inp + out, reasoning_tokens=reasoning, cached_input_tokens=cached)


# ---- Usage.from_response_usage -------------------------------------------------


def test_usage_from_plain_dict_without_details_is_null_not_zero():
    u = Usage.from_response_usage({"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15})
    assert u == Usage(10, 5, 15, None, None)


def test_usage_from_dict_with_details():
    u = Usage.from_response_usage(
        {
            "prompt_tokens": 100,
            "completion_tokens": 50,
            "total_tokens": 150,
            "completion_tokens_details": {"reasoning_tokens": 30},
            "prompt_tokens_details": {"cached_tokens": 0},
        }
    )
    assert u.reasoning_tokens == 30
    assert u.cached_input_tokens == 0  # provider said 0: 0, not None


def test_usage_detail_object_present_but_field_absent_is_null():
    u = Usage.from_response_usage(
        {"prompt_tokens": 1, "completion_tokens": 1, "completion_tokens_details": {"audio_tokens": 0}}
    )
    assert u.reasoning_tokens is None
    assert u.cached_input_tokens is None
    assert u.total_tokens == 2  # derived when the provider left it out


def test_usage_from_litellm_usage_object():
    import litellm

    with_details = litellm.Usage(
        prompt_tokens=100,
        completion_tokens=50,
        total_tokens=150,
        prompt_tokens_details={"cached_tokens": 40},
        completion_tokens_details={"reasoning_tokens": 20},
    )
    assert Usage.from_response_usage(with_details) == Usage(100, 50, 150, 20, 40)
    bare = litellm.Usage(prompt_tokens=100, completion_tokens=50, total_tokens=150)
    assert Usage.from_response_usage(bare) == Usage(100, 50, 150, None, None)


def test_usage_from_none():
    assert Usage.from_response_usage(None) == Usage(None, None, None, None, None)


# ---- names -------------------------------------------------------------------------


def test_strip_routing_prefixes():
    assert strip_routing_prefixes("openrouter/openai/gpt-4o") == ["openrouter/openai/gpt-4o", "openai/gpt-4o", "gpt-4o"]
    assert strip_routing_prefixes("gpt-4o") == ["gpt-4o"]
    assert strip_routing_prefixes("openrouter/meta-llama/llama-3-8b:free")[-1] == "llama-3-8b:free"
    assert strip_routing_prefixes("") == []


# ---- litellm price table -----------------------------------------------------------


def test_gpt4o_hand_computed_from_table_and_list_price(litellm_price_table):
    entry = litellm_price_table["gpt-4o"]
    # The table itself must carry OpenAI's list price, or this test is checking nothing.
    assert entry["input_cost_per_token"] == pytest.approx(GPT4O_LIST_IN)
    assert entry["output_cost_per_token"] == pytest.approx(GPT4O_LIST_OUT)

    cost = compute_cost("gpt-4o", usage(1_000_000, 100_000))
    by_table = 1_000_000 * entry["input_cost_per_token"] + 100_000 * entry["output_cost_per_token"]
    assert cost.source == "litellm_price_table"
    assert cost.usd == pytest.approx(by_table)
    assert cost.usd == pytest.approx(2.50 + 1.00)  # literal: $2.50/M in, $10/M out
    assert cost.warning is None


def test_reference_case_openrouter_gpt4o_is_about_5_42_cents_not_zero():
    cost = compute_cost("openrouter/openai/gpt-4o", usage(REF_IN, REF_OUT))
    assert cost.source == "litellm_price_table"
    assert cost.priced_as == "gpt-4o"
    assert cost.cents == pytest.approx(REF_IN * 2.5e-4 + REF_OUT * 10e-4)  # 5.41775 cents
    assert cost.cents == pytest.approx(5.41775)
    assert round(cost.cents, 2) == 5.42
    assert cost.cents != 0


def test_stripped_name_pricing_matches_plain_name():
    plain = compute_cost("gpt-4o", usage(REF_IN, REF_OUT))
    for routed in ("openai/gpt-4o", "openrouter/openai/gpt-4o"):
        assert compute_cost(routed, usage(REF_IN, REF_OUT)).usd == pytest.approx(plain.usd)


def test_reasoning_tokens_are_part_of_output_not_double_counted(litellm_price_table):
    entry = litellm_price_table["o3-mini"]
    assert entry.get("output_cost_per_reasoning_token") is None  # paid at the output rate
    with_reasoning = compute_cost("openai/o3-mini", usage(2_000, 1_500, reasoning=1_200))
    expected = 2_000 * entry["input_cost_per_token"] + 1_500 * entry["output_cost_per_token"]
    assert with_reasoning.usd == pytest.approx(expected)
    # Literal o3-mini list price: $1.10/M in, $4.40/M out.
    assert with_reasoning.usd == pytest.approx(2_000 * 1.10e-6 + 1_500 * 4.40e-6)
    # Reasoning tokens change nothing when they sit inside output_tokens ...
    assert with_reasoning.usd == pytest.approx(compute_cost("o3-mini", usage(2_000, 1_500)).usd)
    # ... and a reasoning-heavy call costs more than the visible text alone would.
    visible_only = compute_cost("o3-mini", usage(2_000, 300))
    assert with_reasoning.usd > visible_only.usd


def test_reasoning_reported_separately_is_added_with_a_warning():
    cost = compute_cost("o3-mini", usage(1_000, 100, reasoning=900))
    assert cost.usd == pytest.approx(1_000 * 1.10e-6 + (100 + 900) * 4.40e-6)
    assert "reasoning_tokens" in cost.warning


def test_cached_input_tokens_at_cached_rate(litellm_price_table):
    entry = litellm_price_table["gpt-4o"]
    assert entry["cache_read_input_token_cost"] == pytest.approx(1.25e-6)
    cost = compute_cost("openrouter/openai/gpt-4o", usage(REF_IN, REF_OUT, cached=10_000))
    expected = (
        (REF_IN - 10_000) * entry["input_cost_per_token"]
        + 10_000 * entry["cache_read_input_token_cost"]
        + REF_OUT * entry["output_cost_per_token"]
    )
    assert cost.usd == pytest.approx(expected)
    assert cost.usd < compute_cost("gpt-4o", usage(REF_IN, REF_OUT)).usd


def test_zero_token_call_is_a_known_zero():
    cost = compute_cost("gpt-4o", usage(0, 0))
    assert cost.usd == 0.0 and cost.source == "litellm_price_table"


# ---- provider-reported cost ------------------------------------------------------


def test_provider_reported_cost_wins_over_table_and_user_price():
    prices = {"openrouter/openai/gpt-4o": ModelPrice(input=1, output=1)}
    cost = compute_cost(
        "openrouter/openai/gpt-4o", usage(REF_IN, REF_OUT), provider_reported_usd=0.0612, user_prices=prices
    )
    assert cost == Cost(usd=0.0612, source="provider")
    assert cost.cents == pytest.approx(6.12)


def test_provider_reported_zero_is_trusted():
    # e.g. an OpenRouter `:free` model: the bill really was 0.
    cost = compute_cost("openrouter/meta-llama/llama-3-8b-instruct:free", usage(10, 10), provider_reported_usd=0)
    assert cost.usd == 0.0 and cost.source == "provider"


@pytest.mark.parametrize("bad", [-1.0, math.nan, math.inf, "abc"])
def test_invalid_provider_cost_falls_back_to_table_with_warning(bad):
    cost = compute_cost("gpt-4o", usage(REF_IN, REF_OUT), provider_reported_usd=bad)
    assert cost.source == "litellm_price_table"
    assert cost.cents == pytest.approx(5.41775)
    assert "provider-reported" in cost.warning


def test_provider_cost_without_usage_is_still_known():
    cost = compute_cost("openrouter/x/y", Usage(None, None, None), provider_reported_usd=0.01)
    assert cost.usd == 0.01 and cost.source == "provider"


def test_provider_cost_from_raw_dict_and_usage_dict():
    assert provider_cost_from_response({"usage": {"prompt_tokens": 1, "cost": 0.004}}) == 0.004
    assert provider_cost_from_response({"usage": {"prompt_tokens": 1}}) is None
    assert provider_cost_from_response({"prompt_tokens": 1, "cost": "0.5"}) == 0.5
    assert provider_cost_from_response({"usage": {"cost": -1}}) is None
    assert provider_cost_from_response(None) is None


def test_provider_cost_prefers_upstream_cost_when_litellm_overwrote_usage_cost():
    class Resp:
        _hidden_params = {"response_cost": 0.9, "upstream_usage_cost": 0.25}
        usage = {"cost": 0.9}

    assert provider_cost_from_response(Resp()) == 0.25


# ---- user prices -------------------------------------------------------------------


def test_user_price_for_unknown_model():
    prices = {"my-proxy/llama-70b": ModelPrice(input=0.5, output=1.5)}
    cost = compute_cost("my-proxy/llama-70b", usage(1_000_000, 200_000), user_prices=prices)
    assert cost.source == "user_price"
    assert cost.usd == pytest.approx(0.5 + 0.3)


def test_user_price_wins_over_table_and_matches_stripped_names():
    prices = {"gpt-4o": ModelPrice(input=1.0, output=2.0)}  # a negotiated contract
    cost = compute_cost("openrouter/openai/gpt-4o", usage(1_000_000, 1_000_000), user_prices=prices)
    assert cost.source == "user_price"
    assert cost.priced_as == "gpt-4o"
    assert cost.usd == pytest.approx(3.0)


def test_user_price_exact_name_beats_stripped_name():
    prices = {"gpt-4o": ModelPrice(input=1.0, output=1.0), "openrouter/openai/gpt-4o": ModelPrice(input=5.0, output=5.0)}
    cost = compute_cost("openrouter/openai/gpt-4o", usage(1_000_000, 0), user_prices=prices)
    assert cost.usd == pytest.approx(5.0) and cost.priced_as == "openrouter/openai/gpt-4o"


def test_user_price_cached_and_reasoning_rates():
    prices = {"m": ModelPrice(input=2.0, output=8.0, cached_input=0.5, reasoning=4.0)}
    cost = compute_cost("m", usage(1_000_000, 1_000_000, cached=400_000, reasoning=250_000), user_prices=prices)
    expected = 0.6 * 2.0 + 0.4 * 0.5 + 0.75 * 8.0 + 0.25 * 4.0
    assert cost.usd == pytest.approx(expected)
    # Without separate rates, cached pays input and reasoning pays output.
    plain = {"m": ModelPrice(input=2.0, output=8.0)}
    cost = compute_cost("m", usage(1_000_000, 1_000_000, cached=400_000, reasoning=250_000), user_prices=plain)
    assert cost.usd == pytest.approx(2.0 + 8.0)


def test_user_price_of_zero_declares_a_free_model():
    cost = compute_cost("ollama/llama3", usage(5_000, 500), user_prices={"ollama/llama3": ModelPrice(0, 0)})
    assert cost.usd == 0.0 and cost.source == "user_price"


# ---- unknown -----------------------------------------------------------------------


def test_unknown_model_is_null_with_warning_never_zero():
    cost = compute_cost("openrouter/acme/secret-model-9", usage(REF_IN, REF_OUT))
    assert cost.usd is None
    assert cost.cents is None
    assert cost.source == "unknown"
    assert "No price known for model openrouter/acme/secret-model-9" in cost.warning
    assert "not 0" in cost.warning and "model_prices" in cost.warning


def test_zero_priced_table_entry_is_not_taken_as_a_price(litellm_price_table):
    assert litellm_price_table["ollama/llama3"]["input_cost_per_token"] == 0
    cost = compute_cost("ollama/llama3", usage(5_000, 500))
    assert cost.usd is None and cost.source == "unknown"


def test_get_model_info_guess_is_not_used_as_a_price():
    # litellm.get_model_info synthesizes a $0 entry for this unmapped name; we must not.
    cost = compute_cost("claude-sonnet-4-20250514", usage(REF_IN, REF_OUT))
    assert cost.usd is None and cost.source == "unknown"


def test_missing_usage_is_unknown_not_zero():
    cost = compute_cost("gpt-4o", Usage(None, 832, None))
    assert cost.usd is None and cost.source == "unknown"
    assert "did not report token usage" in cost.warning


# ---- local model -------------------------------------------------------------------


def test_local_model_is_a_true_zero():
    cost = compute_cost(LOCAL_MODEL, usage(REF_IN, REF_OUT))
    assert cost == Cost(usd=0.0, source="local_model", priced_as=LOCAL_MODEL)
    assert cost.cents == 0.0


def test_is_local_flag_wins_even_over_provider_cost():
    cost = compute_cost("openai/gpt-4o", usage(10, 10), provider_reported_usd=1.0, is_local=True)
    assert cost.usd == 0.0 and cost.source == "local_model"


# ---- cents -------------------------------------------------------------------------


def test_cents_are_not_truncated():
    assert Cost(usd=0.0004, source="provider").cents == pytest.approx(0.04)
    assert Cost(usd=0.054177, source="provider").cents == pytest.approx(5.4177)
    tiny = compute_cost("gpt-4o", usage(1, 0))
    assert tiny.cents == pytest.approx(2.5e-4)
    assert tiny.cents > 0
    assert isinstance(tiny.cents, float)


def test_cost_rejects_unknown_source_and_unknown_with_value():
    with pytest.raises(ValueError):
        Cost(usd=1.0, source="guess")
    with pytest.raises(ValueError):
        Cost(usd=0.0, source="unknown")


# ---- estimates ----------------------------------------------------------------------


def test_estimate_cost_usd():
    assert estimate_cost_usd("openrouter/openai/gpt-4o", REF_IN, REF_OUT) == pytest.approx(0.0541775)
    assert estimate_cost_usd(LOCAL_MODEL, REF_IN, REF_OUT) == 0.0
    assert estimate_cost_usd("x", 10, 10, is_local=True) == 0.0
    assert estimate_cost_usd("acme/unknown", REF_IN, REF_OUT) is None
    prices = {"gpt-4o": ModelPrice(input=1.0, output=1.0)}
    assert estimate_cost_usd("openai/gpt-4o", 1_000_000, 0, user_prices=prices) == pytest.approx(1.0)
