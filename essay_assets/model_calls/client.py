"""Calling a model through litellm: endpoint resolution, retries, error classification,
usage and cost extraction.

litellm is imported inside functions: its import costs seconds of CPU, and Dagster
imports this package in every run and step process.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import threading
import time
from collections.abc import Callable
from typing import Any

from essay_assets.model_calls import costs
from essay_assets.model_calls.litellm_import import litellm_module
from essay_assets.redaction import redact
from essay_assets.settings import Settings

TRANSIENT_EXCEPTIONS = (
    "RateLimitError",
    "Timeout",
    "APIConnectionError",
    "InternalServerError",
    "ServiceUnavailableError",
    "BadGatewayError",
)


# Set when the process is stopping (Ctrl-C, SIGTERM): no request is sent after it, not even a
# retry; a call about to be sent waits for the process to exit instead (`cli/runner`).
SENDING_STOPPED = threading.Event()


class ModelCallError(Exception):
    """A model call failed. `transient` errors are worth retrying later; the rest are not."""

    def __init__(self, message: str, *, reason: str, transient: bool):
        super().__init__(message)
        self.reason = reason
        self.transient = transient


@dataclasses.dataclass(frozen=True)
class Endpoint:
    model: str  # what the user asked for; recorded as llmModel
    litellm_model: str
    api_base: str | None
    api_key: str | None  # only for the embedded server; hosted keys stay in the environment
    is_local: bool
    sampling: dict = dataclasses.field(default_factory=dict)  # extra completion arguments
    # Added for answers that must be plain prose (an essay section), where the server can
    # enforce it; hosted APIs have no such argument, so theirs is empty.
    prose_sampling: dict = dataclasses.field(default_factory=dict)

    def describe(self) -> str:
        return f"{self.model}" + (f" at {self.api_base}" if self.api_base else "")


def resolve_endpoint(settings: Settings) -> Endpoint:
    if settings.uses_local_model:
        from essay_assets.model_calls import local_model

        return Endpoint(settings.model, "openai/local-smollm2", local_model.api_base(), "local", True,
                        local_model.SAMPLING, local_model.PROSE_SAMPLING)
    return Endpoint(settings.model, settings.model, settings.api_base, None, False)


def check_credentials(endpoint: Endpoint, blank_variables: Callable[[list[str]], list[str]] | None = None) -> None:
    """Fail before any request when the provider's API key is missing or empty, or the model
    is unknown: setup errors are permanent, and the message says what to set.

    `blank_variables(names)` returns those of `names` that are set but empty (the settings
    module reads the environment; litellm counts an empty key as present)."""
    if endpoint.is_local:
        return
    litellm = litellm_module()
    try:
        provider = litellm.get_llm_provider(endpoint.litellm_model)[1]
    except Exception as exc:
        raise ModelCallError(
            f"Unknown model {endpoint.model!r}: litellm cannot tell its provider ({redact(str(exc))[:200]}). "
            "Use litellm's names, e.g. openrouter/openai/gpt-4o, openai/gpt-4o-mini, anthropic/claude-sonnet-4-5. "
            "Set ESSAYS_MODEL.",
            reason="unknown_model",
            transient=False,
        ) from None
    status = litellm.validate_environment(model=endpoint.litellm_model, api_base=endpoint.api_base)
    missing = list(status.get("missing_keys") or [])
    conventional = f"{str(provider).upper().replace('-', '_')}_API_KEY"
    blank = (blank_variables or (lambda names: []))([conventional, *missing])
    if blank:
        raise ModelCallError(
            f"Model {endpoint.model} needs {blank[0]}, which is set but empty. "
            f"Export the provider's key (`export {blank[0]}=...`){_any_value_hint(endpoint, provider)}.",
            reason="missing_api_key",
            transient=False,
        )
    if not status.get("keys_in_environment") and missing:
        # An OpenAI-compatible server behind ESSAYS_API_BASE still needs *a* key: the OpenAI
        # client refuses to send a request without one.
        raise ModelCallError(
            f"Model {endpoint.model} needs {', '.join(missing)} in the environment; it is not set. "
            f"Export it (e.g. `export {missing[0]}=...`){_any_value_hint(endpoint, provider)} "
            "or choose another model with ESSAYS_MODEL.",
            reason="missing_api_key",
            transient=False,
        )


def _any_value_hint(endpoint: Endpoint, provider: str) -> str:
    if endpoint.api_base and provider == "openai":
        return "; a local server that checks no key accepts any value, e.g. `none`"
    return ""


@dataclasses.dataclass(frozen=True)
class CallOutcome:
    content: str
    usage: costs.Usage
    cost: costs.Cost
    model_answered: str | None
    provider_request_id: str | None
    response_time_ms: int
    attempts: int
    raw_response: dict[str, Any]


async def call_model(
    endpoint: Endpoint,
    messages: list[dict[str, str]],
    *,
    settings: Settings,
    max_tokens: int,
    prose_only: bool = False,
    on_failed_attempt: Callable[[ModelCallError, int, int], None] | None = None,
) -> CallOutcome:
    """One chat completion, retried with exponential backoff and jitter on transient errors.
    `prose_only` adds the endpoint's prose sampling (no markup can be sampled), if it has any.
    `on_failed_attempt(error, elapsed_ms, attempt)` hears of every failed attempt, so each
    request sent gets its ledger row."""
    litellm = litellm_module()
    kwargs: dict[str, Any] = dict(
        model=endpoint.litellm_model,
        messages=messages,
        temperature=settings.temperature,
        max_tokens=max_tokens,
        num_retries=0,  # we retry ourselves, so we can count attempts and classify errors
        # Reasoning models (o-series, gpt-5*) reject temperature != 1 with UnsupportedParamsError;
        # let litellm drop what the model does not take instead of failing every call.
        drop_params=True,
        **(merged_sampling(endpoint.sampling, endpoint.prose_sampling) if prose_only else endpoint.sampling),
    )
    if endpoint.api_base:
        kwargs["api_base"] = endpoint.api_base
    if endpoint.api_key:
        kwargs["api_key"] = endpoint.api_key
    if endpoint.litellm_model.startswith("openrouter/"):
        kwargs["usage"] = {"include": True}  # OpenRouter's usage accounting: the billed cost

    # Attempts are bounded twice: by count, and by one deadline for the whole call, so
    # timeouts (each possibly billed) are never re-sent for longer than the user allowed.
    max_attempts = settings.llm_max_attempts
    deadline = time.monotonic() + settings.llm_call_deadline_s
    for attempt in range(1, max_attempts + 1):
        while SENDING_STOPPED.is_set():  # the process is exiting: send nothing new
            await asyncio.sleep(3600)
        started = time.monotonic()
        kwargs["timeout"] = max(0.1, min(settings.llm_timeout_s, deadline - started))
        try:
            response = await litellm.acompletion(**kwargs)
        except Exception as exc:  # classified below; nothing else is swallowed
            error = classify_error(exc, endpoint)
            elapsed_ms = int((time.monotonic() - started) * 1000)
            if on_failed_attempt is not None:
                on_failed_attempt(error, elapsed_ms, attempt)
            backoff = min(60.0, settings.llm_retry_base_s * 2 ** (attempt - 1)) * random.uniform(0.5, 1.5)
            out_of_time = time.monotonic() + backoff >= deadline
            if not error.transient or attempt == max_attempts or out_of_time:
                raise _final(error, attempt, settings, out_of_time) from None
            await asyncio.sleep(backoff)
            continue
        elapsed_ms = int((time.monotonic() - started) * 1000)
        return _outcome(response, endpoint, settings, elapsed_ms, attempt)
    raise AssertionError("unreachable")


def merged_sampling(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """`base` with `extra` on top; `extra_body` (arguments litellm sends as they are) is merged
    key by key, so the prose grammar does not drop the repeat penalty."""
    merged = {**base, **extra}
    if "extra_body" in base and "extra_body" in extra:
        merged["extra_body"] = {**base["extra_body"], **extra["extra_body"]}
    return merged


def _final(error: ModelCallError, attempts: int, settings: Settings, out_of_time: bool) -> ModelCallError:
    """The error a call ends with. A call that timed out until it ran out of attempts or time
    is not retried by the step either: every timed-out request may have been billed."""
    if not error.transient or error.reason != "timeout":
        return error
    why = "its deadline" if out_of_time else "its attempts"
    return ModelCallError(
        f"{error} Gave up after {attempts} timed-out attempt(s), having used {why} "
        f"(ESSAYS_LLM_TIMEOUT_S={settings.llm_timeout_s:g} s each, ESSAYS_LLM_CALL_DEADLINE_S="
        f"{settings.llm_call_deadline_s:g} s per call, ESSAYS_LLM_MAX_ATTEMPTS={settings.llm_max_attempts}); "
        "each may have been billed. Raise ESSAYS_LLM_TIMEOUT_S for a slow model.",
        reason="timeout", transient=False,
    )


def _outcome(response: Any, endpoint: Endpoint, settings: Settings, elapsed_ms: int, attempts: int) -> CallOutcome:
    usage = costs.Usage.from_response_usage(getattr(response, "usage", None))
    cost = costs.compute_cost(
        endpoint.model,
        usage,
        provider_reported_usd=costs.provider_cost_from_response(response),
        user_prices=settings.model_prices,
        is_local=endpoint.is_local,
    )
    content = response.choices[0].message.content or ""
    return CallOutcome(
        content=content,
        usage=usage,
        cost=cost,
        model_answered=getattr(response, "model", None),
        provider_request_id=getattr(response, "id", None),
        response_time_ms=elapsed_ms,
        attempts=attempts,
        raw_response=_jsonable(response),
    )


def _jsonable(response: Any) -> dict[str, Any]:
    try:
        return response.model_dump(mode="json")
    except Exception:  # pragma: no cover - very old litellm objects
        return {"repr": repr(response)}


def classify_error(exc: Exception, endpoint: Endpoint) -> ModelCallError:
    name = type(exc).__name__
    detail = redact(str(exc)) or name
    detail = detail if len(detail) < 400 else detail[:400] + "..."
    where = endpoint.describe()
    setup = _setup_error(detail, endpoint)
    if setup is not None:
        return setup
    if name == "Timeout" or isinstance(exc, asyncio.TimeoutError):
        return ModelCallError(
            f"Model call to {where} timed out ({name}): {detail}. The provider may have completed and billed it.",
            reason="timeout", transient=True)
    if name == "APIConnectionError" or _is_connection_error(detail) or isinstance(exc, ConnectionError):
        return ModelCallError(
            f"Could not connect to {endpoint.api_base or where} for {endpoint.model} ({name}): {detail}. "
            "Is the endpoint running and reachable? Check ESSAYS_API_BASE.",
            reason="connection_error", transient=True)
    if name in TRANSIENT_EXCEPTIONS:
        return ModelCallError(
            f"Model call to {where} failed ({name}): {detail}. The provider is rate-limiting or failing; "
            "it will be retried with backoff.",
            reason=_snake(name), transient=True)
    if name in ("AuthenticationError", "PermissionDeniedError"):
        return ModelCallError(
            f"Model {where} rejected the API key ({name}): {detail}. Check the provider key in the environment "
            "(e.g. OPENROUTER_API_KEY, OPENAI_API_KEY).",
            reason="bad_api_key",
            transient=False,
        )
    if name == "ContextWindowExceededError":
        return ModelCallError(
            f"The prompt does not fit {where}'s context window: {detail}. Set ESSAYS_CONTEXT_WINDOW to the "
            "model's real window so the transcript is split into chunks.",
            reason="context_window_exceeded",
            transient=False,
        )
    if name == "NotFoundError" or "LLM Provider NOT provided" in detail:
        return ModelCallError(
            f"Unknown model {endpoint.model!r} ({name}): {detail}. Check the name against litellm's provider list.",
            reason="unknown_model",
            transient=False,
        )
    return ModelCallError(f"Model call to {where} failed ({name}): {detail}", reason=_snake(name), transient=False)


def _is_connection_error(detail: str) -> bool:
    # litellm reports an unreachable OpenAI-compatible endpoint as InternalServerError.
    return "Connection error" in detail or "Connection refused" in detail


def _setup_error(detail: str, endpoint: Endpoint) -> ModelCallError | None:
    """Errors litellm reports as server errors that are really our setup: never retried."""
    if "Missing credentials" in detail or "api_key client option must be set" in detail:
        return ModelCallError(
            f"Model {endpoint.describe()} was called without an API key: {detail}. Set the provider's key "
            "(e.g. OPENAI_API_KEY; any value for a local server that checks none).",
            reason="missing_api_key", transient=False)
    return None


def _snake(name: str) -> str:
    out = "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")
    return out.replace("_error", "") or "error"
