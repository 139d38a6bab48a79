"""What a model can read: its context window and a token counter for planning.

The embedded model answers both itself (its window is fixed; its server has a /tokenize
endpoint); for any other model litellm's tables and counter are used.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from essay_assets.model_calls import local_model
from essay_assets.model_calls.costs import as_token_count, strip_routing_prefixes
from essay_assets.model_calls.litellm_import import litellm_module
from essay_assets.settings import LOCAL_MODEL


def context_window(model: str, override: int | None = None) -> int | None:
    """Max input tokens: the override if given, 8192 for the local model, else litellm's table.

    Tries the name as given, then with routing prefixes stripped. None when unknown.
    """
    if override is not None:
        return int(override)
    if model == LOCAL_MODEL:
        return local_model.CONTEXT_WINDOW
    model_cost = litellm_module().model_cost
    for name in strip_routing_prefixes(model):
        for key in (name, name.lower()):
            entry = model_cost.get(key)
            if isinstance(entry, Mapping) and as_token_count(entry.get("max_input_tokens")):
                return as_token_count(entry["max_input_tokens"])
    return None


def count_tokens_fn(model: str, *, is_local: bool) -> Callable[[str], int]:
    """A text -> token count function for planning: the embedded model's own tokenizer, or
    litellm's counter (which falls back to a GPT tokenizer for models it does not know)."""
    if is_local:
        return local_model.count_tokens
    litellm = litellm_module()
    counter = _litellm_count_function(litellm, model)

    def count(text: str) -> int:
        if not text:
            return 0
        if counter is None or litellm.disable_token_counter:
            return int(litellm.token_counter(model=model, text=text)) + 1
        return int(counter(text)) + 1

    return count


def _litellm_count_function(litellm, model: str) -> Callable[[str], int] | None:
    """The function `litellm.token_counter(model=model, text=...)` chooses and calls, chosen
    once: choosing it (the tokenizer for the model, its encoding through litellm's runtime)
    cost ten times the counting itself, on every call (~1 ms per plan). A litellm without it
    (the helper is internal) gets `token_counter` itself; model_info's tests hold both to the
    same counts."""
    try:
        from litellm.litellm_core_utils.token_counter import _get_count_function
    except ImportError:  # pragma: no cover - a litellm that moved it
        return None
    try:
        return _get_count_function(model, None)
    except Exception:  # pragma: no cover - let token_counter raise (or cope) as it always did
        return None
