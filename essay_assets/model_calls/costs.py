"""Cost math for LLM calls: what a call cost, in USD, and where that number came from.

Pure functions, no network. litellm is imported lazily (its import costs seconds) and
only for its bundled price table (`litellm.model_cost`) and its per-token cost helper
(`litellm.cost_per_token`).

Conventions
-----------
- **Unknown is null, never 0.** If no price is known the cost is `None` with
  `source="unknown"` and a warning that says how to fix it. The system this project
  replaces recorded `estimatedCostCents: 0` for a ~5.4 cent gpt-4o call; never again.
- **Priority** (first that applies wins):
  1. `local_model`: the embedded model (`settings.LOCAL_MODEL`, or `is_local=True`) costs 0.
  2. `provider`: the charge the provider itself reported (OpenRouter's `usage.cost`),
     passed in by the caller as `provider_reported_usd` (see `provider_cost_from_response`).
     It is the bill, so it beats any list price.
  3. `user_price`: `model_prices` from config.yaml. A user who configured a price knows
     their contract (discounts, a proxy's markup, a model litellm prices wrongly), so it
     wins over litellm's public table.
  4. `litellm_price_table`: litellm's bundled table, via `litellm.cost_per_token`.
  5. `unknown`: `usd=None` plus a warning.
  Steps 3 and 4 try the model name as given, then with routing prefixes stripped
  (`openrouter/openai/gpt-4o` -> `openai/gpt-4o` -> `gpt-4o`); for each step the first
  matching name wins (`Cost.priced_as` records which one).
- **Token accounting is OpenAI-style**: `cached_input_tokens` are a subset of
  `input_tokens`, `reasoning_tokens` a subset of `output_tokens`. So reasoning is paid at
  the output rate (or a separate reasoning rate if one is known) and never counted twice;
  cached input is paid at the cached rate when one is known, else at the input rate.
  If a usage breaks that rule (reasoning > output, cached > input) we say so in the
  warning: reasoning is then taken as reported *separately* and added to output (the
  higher, safer figure); cached is capped at input.
- **Zero-priced table entries are not evidence.** litellm lists some models at $0
  (ollama/*, experiments, placeholders); such an entry is skipped and, absent any other
  price, the cost is unknown. Declare a free model with `model_prices: {M: {input: 0, output: 0}}`.
- **We read the table, not `litellm.get_model_info`'s guesses**: for some unmapped names
  (e.g. `claude-sonnet-4-20250514` in 1.110.2) `get_model_info` returns a synthesized
  entry with $0 prices; taking that at face value would recreate the zero-cost bug.
- Cents are `usd_to_cents(usd)`, a float rounded to COST_SIGNIFICANT_DIGITS significant digits:
  float noise (0.03212999999999999) goes, a tiny non-zero cost (1e-9 USD) stays non-zero.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from essay_assets.model_calls.litellm_import import litellm_module
from essay_assets.settings import LOCAL_MODEL, ModelPrice

SOURCES = ("provider", "litellm_price_table", "user_price", "local_model", "unknown")


# ---------------------------------------------------------------------------
# Usage
# ---------------------------------------------------------------------------


def _field(obj: Any, name: str) -> Any:
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def as_token_count(value: Any) -> int | None:
    """A token count, or None when absent or not a number (bool is not a count)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return int(value)
    if isinstance(value, str):
        try:
            return int(float(value))
        except ValueError:
            return None
    return None


def _first(*values: Any) -> int | None:
    for value in values:
        count = as_token_count(value)
        if count is not None:
            return count
    return None


@dataclass(frozen=True)
class Usage:
    """Token counts of one call. `None` means the provider did not say; 0 means it said 0.

    OpenAI convention: `cached_input_tokens` is part of `input_tokens`, `reasoning_tokens`
    is part of `output_tokens`.
    """

    input_tokens: int | None
    output_tokens: int | None
    total_tokens: int | None
    reasoning_tokens: int | None = None
    cached_input_tokens: int | None = None

    @classmethod
    def from_response_usage(cls, usage: Any) -> "Usage":
        """From litellm's `response.usage` (a pydantic `Usage`) or a plain OpenAI-shaped dict.

        Reasoning comes from `completion_tokens_details.reasoning_tokens`, cached input from
        `prompt_tokens_details.cached_tokens` (Responses-API spellings `output_tokens_details`
        / `input_tokens_details` are accepted too). Missing detail object or field -> None.
        """
        if usage is None:
            return cls(None, None, None, None, None)
        input_tokens = _first(_field(usage, "prompt_tokens"), _field(usage, "input_tokens"))
        output_tokens = _first(_field(usage, "completion_tokens"), _field(usage, "output_tokens"))
        total = as_token_count(_field(usage, "total_tokens"))
        if total is None and input_tokens is not None and output_tokens is not None:
            total = input_tokens + output_tokens
        completion_details = _field(usage, "completion_tokens_details") or _field(usage, "output_tokens_details")
        prompt_details = _field(usage, "prompt_tokens_details") or _field(usage, "input_tokens_details")
        return cls(
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            total_tokens=total,
            reasoning_tokens=as_token_count(_field(completion_details, "reasoning_tokens")),
            cached_input_tokens=as_token_count(_field(prompt_details, "cached_tokens")),
        )


# ---------------------------------------------------------------------------
# Cost
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Cost:
    """What a call cost and how we know. `usd is None` means unknown (never silently 0)."""

    usd: float | None
    source: str
    warning: str | None = None
    priced_as: str | None = None
    """The model name whose price was used (after prefix stripping), when a price was looked up."""

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"Cost.source must be one of {SOURCES}, got {self.source!r}")
        if self.source == "unknown" and self.usd is not None:
            raise ValueError("an unknown cost has usd=None")

    @property
    def cents(self) -> float | None:
        """US cents; None when unknown."""
        return usd_to_cents(self.usd)


# Prices are per token with a few significant digits and sums of products carry float noise
# from the 16th digit on: 10 significant digits keep every real digit and drop the noise.
COST_SIGNIFICANT_DIGITS = 10


def round_significant(value: float | None, digits: int = COST_SIGNIFICANT_DIGITS) -> float | None:
    """`value` to `digits` significant digits (not fixed decimals, which would turn a tiny
    cost into 0); None stays None."""
    if value is None or value == 0 or not math.isfinite(value):
        return value
    return float(f"{value:.{digits}g}")


def usd_to_cents(usd: float | None) -> float | None:
    """Dollars to cents: the one place this conversion happens. Fractions are kept, rounded
    to significant digits (never to 0); unknown (None) stays unknown."""
    return None if usd is None else round_significant(usd * 100.0)


def strip_routing_prefixes(model: str) -> list[str]:
    """Candidate names for a price lookup: as given, then dropping one leading segment at a time.

    `openrouter/openai/gpt-4o` -> `['openrouter/openai/gpt-4o', 'openai/gpt-4o', 'gpt-4o']`.
    Suffixes such as OpenRouter's `:free` are kept: they change the price.
    """
    name = (model or "").strip()
    candidates: list[str] = []
    while name:
        if name not in candidates:
            candidates.append(name)
        _, sep, rest = name.partition("/")
        if not sep:
            break
        name = rest.strip("/")
    return candidates


def provider_cost_from_response(response: Any) -> float | None:
    """The charge the provider itself reported for a non-streaming completion, else None.

    For litellm `ModelResponse`s: litellm keeps the raw `usage.cost` (OpenRouter sends it when
    usage accounting is on; litellm asks for it on every `openrouter/` call) as
    `response.usage.cost`. Where litellm overwrote `usage.cost` with its own bill (stream
    builders), it kept the upstream figure in `response._hidden_params["upstream_usage_cost"]`,
    which is therefore read first. `_hidden_params["response_cost"]` is NOT used: it holds
    litellm's own table price when the provider reported nothing.

    Also accepts a raw OpenAI-shaped dict (`{"usage": {"cost": ...}}`) or a usage object/dict.
    """
    if response is None:
        return None
    hidden = getattr(response, "_hidden_params", None)
    if isinstance(hidden, Mapping) and "upstream_usage_cost" in hidden:
        return _reported_usd(hidden.get("upstream_usage_cost"))
    usage = _field(response, "usage")
    if usage is None and _field(response, "cost") is not None:
        usage = response  # given the usage block itself
    return _reported_usd(_field(usage, "cost"))


def _reported_usd(value: Any) -> float | None:
    if isinstance(value, Mapping):  # some providers report a breakdown
        value = value.get("total_cost")
    if value is None or isinstance(value, bool):
        return None
    try:
        usd = float(value)
    except (TypeError, ValueError):
        return None
    return usd if math.isfinite(usd) and usd >= 0 else None


def _is_local(model: str, is_local: bool) -> bool:
    return is_local or model == LOCAL_MODEL


def _unknown_warning(model: str) -> str:
    return (
        f"No price known for model {model}: cost recorded as unknown (null), not 0. "
        f"Set model_prices in config.yaml: `model_prices: {{\"{model}\": {{input: <USD per 1M input tokens>, "
        f"output: <USD per 1M output tokens>}}}}`, or route the call through a provider that reports its "
        f"cost (OpenRouter's usage.cost)."
    )


def _billable(usage: Usage) -> tuple[int, int, int, int, list[str]]:
    """(input, cached, output, reasoning) under the OpenAI convention, plus notes on repairs."""
    notes: list[str] = []
    inp = max(0, usage.input_tokens or 0)
    out = max(0, usage.output_tokens or 0)
    cached = max(0, usage.cached_input_tokens or 0)
    reasoning = max(0, usage.reasoning_tokens or 0)
    if cached > inp:
        notes.append(f"cached_input_tokens ({cached}) exceed input_tokens ({inp}); capped at input_tokens.")
        cached = inp
    if reasoning > out:
        notes.append(
            f"reasoning_tokens ({reasoning}) exceed output_tokens ({out}); taken as reported separately "
            f"and added to output."
        )
        out += reasoning
    return inp, cached, out, reasoning, notes


def _user_price_usd(price: ModelPrice, usage: Usage) -> tuple[float, list[str]]:
    inp, cached, out, reasoning, notes = _billable(usage)
    cached_rate = price.cached_input if price.cached_input is not None else price.input
    reasoning_rate = price.reasoning if price.reasoning is not None else price.output
    usd = ((inp - cached) * price.input + cached * cached_rate + (out - reasoning) * price.output + reasoning * reasoning_rate) / 1e6
    return usd, notes


def _table_entry(model_cost: Mapping[str, Any], name: str) -> tuple[str, Mapping[str, Any]] | None:
    """The table entry for exactly this name (or its lowercase), if it prices tokens at all."""
    for key in (name, name.lower()):
        entry = model_cost.get(key)
        if not isinstance(entry, Mapping):
            continue
        inp, out = entry.get("input_cost_per_token"), entry.get("output_cost_per_token")
        if inp is None or out is None:
            continue
        if float(inp) == 0.0 and float(out) == 0.0:
            continue  # a $0 listing is a placeholder, not a price (see module docstring)
        return key, entry
    return None


def _table_price_usd(key: str, entry: Mapping[str, Any], usage: Usage) -> tuple[float, list[str]]:
    litellm = litellm_module()
    inp, cached, out, reasoning, notes = _billable(usage)
    lusage = litellm.Usage(
        prompt_tokens=inp,
        completion_tokens=out,
        total_tokens=inp + out,
        prompt_tokens_details={"cached_tokens": cached} if cached else None,
        completion_tokens_details={"reasoning_tokens": reasoning} if reasoning else None,
    )
    prompt_usd, completion_usd = litellm.cost_per_token(
        model=key, custom_llm_provider=entry.get("litellm_provider"), usage_object=lusage
    )
    return float(prompt_usd) + float(completion_usd), notes


def _join(*parts: str | None) -> str | None:
    text = " ".join(p for p in parts if p)
    return text or None


def compute_cost(
    model: str,
    usage: Usage,
    *,
    provider_reported_usd: float | None = None,
    user_prices: Mapping[str, ModelPrice] | None = None,
    is_local: bool = False,
) -> Cost:
    """The cost of one call; see the module docstring for the priority and conventions."""
    if _is_local(model, is_local):
        return Cost(usd=0.0, source="local_model", priced_as=model)

    notes: list[str] = []
    if provider_reported_usd is not None:
        reported = _reported_usd(provider_reported_usd)
        if reported is not None:
            return Cost(usd=reported, source="provider")
        notes.append(f"Ignored an invalid provider-reported cost ({provider_reported_usd!r}).")

    if usage.input_tokens is None or usage.output_tokens is None:
        return Cost(
            usd=None,
            source="unknown",
            warning=_join(
                f"The provider did not report token usage for model {model} "
                f"(input={usage.input_tokens}, output={usage.output_tokens}) nor a cost: "
                f"cost recorded as unknown (null), not 0.",
                *notes,
            ),
        )

    candidates = strip_routing_prefixes(model)
    user_prices = user_prices or {}
    for name in candidates:
        if name in user_prices:
            usd, repair = _user_price_usd(user_prices[name], usage)
            return Cost(usd=usd, source="user_price", warning=_join(*notes, *repair), priced_as=name)

    model_cost = litellm_module().model_cost
    for name in candidates:
        found = _table_entry(model_cost, name)
        if found is None:
            continue
        key, entry = found
        try:
            usd, repair = _table_price_usd(key, entry, usage)
        except Exception as exc:  # litellm could not price a listed entry: try the next name
            notes.append(f"litellm could not price {key} ({type(exc).__name__}: {exc}).")
            continue
        return Cost(usd=usd, source="litellm_price_table", warning=_join(*notes, *repair), priced_as=key)

    return Cost(usd=None, source="unknown", warning=_join(_unknown_warning(model), *notes))


def estimate_cost_usd(
    model: str,
    prompt_tokens: int,
    expected_output_tokens: int,
    *,
    user_prices: Mapping[str, ModelPrice] | None = None,
    is_local: bool = False,
) -> float | None:
    """Price a planned call for budget checks: same lookup as `compute_cost`, no provider cost.

    None means no price is known (a budget check should treat that as "cannot tell", not free).
    """
    usage = Usage(
        input_tokens=prompt_tokens,
        output_tokens=expected_output_tokens,
        total_tokens=prompt_tokens + expected_output_tokens,
    )
    return compute_cost(model, usage, user_prices=user_prices, is_local=is_local).usd
