"""The loopback OpenAI-compatible stub, exercised through REAL litellm over HTTP.

These tests also pin down how litellm 1.110 handles OpenRouter usage accounting, which
the cost accounting relies on (see essay_assets/costs.py):
- every `openrouter/...` completion sends `"usage": {"include": true}` by itself;
- the provider's `usage.cost` surfaces as `response.usage.cost`;
- `response._hidden_params["response_cost"]` is NOT a provider figure: on other routes it
  is litellm's own table price.
"""

import asyncio
import json
import re
import socket
import threading
import time
import urllib.error
import urllib.request

import pytest

import essay_assets  # noqa: F401  (sets LITELLM_LOCAL_MODEL_COST_MAP before litellm loads)
from essay_assets.model_calls.costs import (
    Usage,
    compute_cost,
    provider_cost_from_response,
)
from essay_assets.writing.quotes import (
    TranscriptIndex,
    find_quotations,
    match_quote,
)
from testkit.openai_stub import LoopbackLLM, QuotingEssay
from testkit.synthetic_transcripts import synthetic_snippets

KEY = "sk-test-not-real"
MESSAGES = [
    {"role": "system", "content": "You write essays."},
    {"role": "user", "content": "Transcript: scaling versus research in AI."},
]
REF_IN, REF_OUT = 18_343, 832


@pytest.fixture(scope="module")
def litellm():
    import litellm

    return litellm


def complete(litellm, server, model="openai/gpt-4o", messages=MESSAGES, **kwargs):
    kwargs.setdefault("max_retries", 0)
    return litellm.completion(model=model, api_base=server.base_url, api_key=KEY, messages=messages, **kwargs)


def post_json(url, body, timeout=10):
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


# ---- the plain OpenAI route ------------------------------------------------------


def test_openai_route_default_essay_usage_and_headers(litellm):
    with LoopbackLLM() as server:
        response = complete(litellm, server)
        text = response.choices[0].message.content
        assert re.match(r"^# \S", text)
        sections = re.findall(r"^## (.+)$", text, flags=re.M)
        assert len(sections) == 4 and sections[-1] == "Conclusion"
        assert 250 <= len(text.split()) <= 400
        assert "Transcript: scaling versus research in AI." in text  # digest of the user message

        (request,) = server.chat_requests
        assert request.path == "/v1/chat/completions"
        assert request.authorization == f"Bearer {KEY}"
        assert request.json["model"] == "gpt-4o"
        assert request.json["messages"] == MESSAGES
        assert "usage" not in request.json  # only the OpenRouter route asks for accounting
        assert server.call_count == 1

        # Rough token counts (words * 1.3) and no detail objects in the plain OpenAI shape.
        usage = Usage.from_response_usage(response.usage)
        assert usage.input_tokens == round(sum(len(m["content"].split()) for m in MESSAGES) * 1.3)
        assert usage.output_tokens == round(len(text.split()) * 1.3)
        assert usage.reasoning_tokens is None and usage.cached_input_tokens is None


def test_openai_route_hidden_response_cost_is_litellms_own_price_not_the_providers(litellm):
    with LoopbackLLM(prompt_tokens=REF_IN, completion_tokens=REF_OUT) as server:
        response = complete(litellm, server)
    # The server reported no cost, yet litellm fills response_cost from its table ...
    assert response._hidden_params["response_cost"] == pytest.approx(0.0541775)
    # ... so it must not be read as "provider-reported".
    assert provider_cost_from_response(response) is None
    cost = compute_cost("openai/gpt-4o", Usage.from_response_usage(response.usage))
    assert cost.source == "litellm_price_table" and cost.cents == pytest.approx(5.41775)


def test_replies_differ_per_user_message(litellm):
    with LoopbackLLM() as server:
        a = complete(litellm, server, messages=[{"role": "user", "content": "chunk one about apples"}])
        b = complete(litellm, server, messages=[{"role": "user", "content": "chunk two about pears"}])
    assert a.choices[0].message.content != b.choices[0].message.content
    assert "apples" in a.choices[0].message.content and "pears" in b.choices[0].message.content


def test_fixed_reply_and_responder_hook(litellm):
    with LoopbackLLM(reply_text="short") as server:
        assert complete(litellm, server).choices[0].message.content == "short"

    def responder(request_json):
        return {"choices": [{"index": 0, "message": {"role": "assistant", "content": "custom"}, "finish_reason": "length"}]}

    with LoopbackLLM(responder=responder) as server:
        response = complete(litellm, server)
    assert response.choices[0].message.content == "custom"
    assert response.choices[0].finish_reason == "length"


def test_models_endpoint():
    with LoopbackLLM(model_ids=["a", "b"]) as server:
        with urllib.request.urlopen(server.base_url + "/models", timeout=5) as resp:
            body = json.loads(resp.read())
        assert body["object"] == "list"
        assert [m["id"] for m in body["data"]] == ["a", "b"]
        assert server.requests[-1].method == "GET"
        assert server.call_count == 0  # only chat completions count as calls


# ---- OpenRouter usage accounting -------------------------------------------------


def test_openrouter_route_requests_usage_and_surfaces_provider_cost(litellm):
    with LoopbackLLM(
        usage_shape="openrouter_with_cost", prompt_tokens=REF_IN, completion_tokens=REF_OUT, cost_usd=0.0612
    ) as server:
        response = complete(litellm, server, model="openrouter/openai/gpt-4o")
        (request,) = server.chat_requests
    # litellm strips its routing prefix and asks OpenRouter for usage accounting by itself.
    assert request.json["model"] == "openai/gpt-4o"
    assert request.json["usage"] == {"include": True}
    assert request.authorization == f"Bearer {KEY}"
    # Where the provider's cost ends up:
    assert response.usage.cost == 0.0612
    assert response._hidden_params["additional_headers"]["llm_provider-x-litellm-response-cost"] == 0.0612
    assert response._hidden_params["response_cost"] == 0.0612
    assert provider_cost_from_response(response) == 0.0612

    usage = Usage.from_response_usage(response.usage)
    assert usage == Usage(REF_IN, REF_OUT, REF_IN + REF_OUT, reasoning_tokens=0, cached_input_tokens=0)
    cost = compute_cost("openrouter/openai/gpt-4o", usage, provider_reported_usd=provider_cost_from_response(response))
    assert cost.source == "provider" and cost.cents == pytest.approx(6.12)


@pytest.mark.parametrize(
    "kwargs",
    [{"usage": {"include": True}}, {"extra_body": {"usage": {"include": True}}}],
    ids=["usage_kwarg", "extra_body"],
)
def test_openrouter_usage_can_also_be_requested_explicitly(litellm, kwargs):
    with LoopbackLLM(usage_shape="openrouter_with_cost", cost_usd=0.001) as server:
        response = complete(litellm, server, model="openrouter/openai/gpt-4o", **kwargs)
        assert server.chat_requests[0].json["usage"] == {"include": True}
    assert provider_cost_from_response(response) == 0.001


def test_openrouter_without_cost_falls_back_to_stripped_table_price(litellm):
    with LoopbackLLM(usage_shape="openrouter_without_cost", prompt_tokens=REF_IN, completion_tokens=REF_OUT) as server:
        response = complete(litellm, server, model="openrouter/openai/gpt-4o")
    assert getattr(response.usage, "cost", None) is None
    assert provider_cost_from_response(response) is None
    # litellm's table has no openrouter/ entries: its own figure is None, not a price.
    assert response._hidden_params.get("response_cost") is None
    cost = compute_cost("openrouter/openai/gpt-4o", Usage.from_response_usage(response.usage))
    assert cost.source == "litellm_price_table"
    assert cost.cents == pytest.approx(5.41775)


def test_reasoning_and_cached_usage_paths(litellm):
    with LoopbackLLM(
        usage_shape="reasoning", prompt_tokens=2_000, completion_tokens=1_500, reasoning_tokens=1_200, cached_tokens=500
    ) as server:
        response = complete(litellm, server, model="openai/o3-mini")
    assert response.usage.completion_tokens_details.reasoning_tokens == 1_200
    assert response.usage.prompt_tokens_details.cached_tokens == 500
    assert Usage.from_response_usage(response.usage) == Usage(2_000, 1_500, 3_500, 1_200, 500)


def test_async_openrouter_cost(litellm):
    async def run():
        with LoopbackLLM(usage_shape="openrouter_with_cost", cost_usd=0.02) as server:
            return await litellm.acompletion(
                model="openrouter/openai/gpt-4o", api_base=server.base_url, api_key=KEY, messages=MESSAGES, max_retries=0
            )

    response = asyncio.run(run())
    assert provider_cost_from_response(response) == 0.02


# ---- failures ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "status, error_name",
    [(429, "RateLimitError"), (500, "InternalServerError"), (401, "AuthenticationError")],
)
def test_scripted_failures_map_to_litellm_errors(litellm, status, error_name):
    with LoopbackLLM(failures=[status]) as server:
        with pytest.raises(getattr(litellm, error_name)):
            complete(litellm, server, num_retries=0)
        assert server.call_count == 1
        ok = complete(litellm, server)  # the script is used up: the next call succeeds
        assert ok.choices[0].message.content
        assert server.call_count == 2


def test_failure_body_is_openai_shaped():
    with LoopbackLLM(failures=[(429, "slow down")]) as server:
        status, body = post_json(server.base_url + "/chat/completions", {"model": "m", "messages": MESSAGES})
        assert status == 429
        assert body == {"error": {"message": "slow down", "type": "rate_limit_error", "param": None, "code": "rate_limit_exceeded"}}
        status, body = post_json(server.base_url + "/chat/completions", {"model": "m", "messages": MESSAGES})
        assert status == 200 and body["object"] == "chat.completion"


def test_litellm_retries_through_scripted_429s(litellm):
    with LoopbackLLM(failures=[429, 429]) as server:
        response = complete(litellm, server, num_retries=3)
        assert response.choices[0].message.content
        assert server.call_count == 3


# ---- concurrency and shutdown -------------------------------------------------------


def test_many_concurrent_requests_overlap():
    n, delay = 48, 0.3
    with LoopbackLLM(delay_s=delay) as server:
        results: list[int] = []
        lock = threading.Lock()

        def call(i):
            status, body = post_json(
                server.base_url + "/chat/completions",
                {"model": "m", "messages": [{"role": "user", "content": f"call {i}"}]},
                timeout=30,
            )
            with lock:
                results.append(status)

        started = time.monotonic()
        threads = [threading.Thread(target=call, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - started
        assert results == [200] * n
        assert server.call_count == n == len(server.chat_requests)
        assert server.max_in_flight > 4
        assert elapsed < n * delay / 3  # served in parallel, not one after another


def test_async_litellm_calls_run_concurrently(litellm):
    async def run(server):
        return await asyncio.gather(
            *(
                litellm.acompletion(
                    model="openai/gpt-4o",
                    api_base=server.base_url,
                    api_key=KEY,
                    messages=[{"role": "user", "content": f"part {i}"}],
                    max_retries=0,
                )
                for i in range(8)
            )
        )

    with LoopbackLLM(delay_s=0.5) as server:
        started = time.monotonic()
        responses = asyncio.run(run(server))
        elapsed = time.monotonic() - started
        assert len({r.choices[0].message.content for r in responses}) == 8
        assert server.max_in_flight >= 4
        assert elapsed < 8 * 0.5


def test_stops_cleanly_and_frees_the_port():
    server = LoopbackLLM().start()
    port = server.port
    status, _ = post_json(server.base_url + "/chat/completions", {"model": "m", "messages": MESSAGES})
    assert status == 200
    server.stop()
    server.stop()  # idempotent
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    with pytest.raises(RuntimeError):
        server.base_url


def test_quoting_essay_quotes_the_prompts_transcript_half_genuine_and_deterministic():
    snippets = synthetic_snippets(3000, seed=4)
    text = " ".join(f"[{k // 60:02d}:{k % 60:02d}] {s['text']}" if k % 3 == 0 else s["text"]
                    for k, s in enumerate(snippets))  # markers, as the essay prompt has them
    request = {"messages": [{"role": "user", "content": f"Here it is.\n\n<transcript>\n{text}\n</transcript>\n\nGo."}]}
    quoted, plain = QuotingEssay(12, seed=3)(request), QuotingEssay(12, quoted=False, seed=3)(request)
    assert QuotingEssay(12, seed=3)(request) == quoted and QuotingEssay(12, seed=4)(request) != quoted
    assert plain == quoted.replace('"', "") and find_quotations(plain) == []
    found = find_quotations(quoted)
    index = TranscriptIndex.from_snippets(snippets)
    assert [match_quote(index, q.text).verified for q in found] == [True, False] * 6
    assert all(8 <= len(q.text.split()) <= 15 and "[" not in q.text for q in found[::2])
    sections = quoted.split("\n## ")[1:]
    assert len(sections) == 4 and all(section.count('"') == 6 for section in sections)  # 3 quotations each
    # a chunk's notes or the reduce call: no whole transcript, the plain default essay
    assert QuotingEssay(12)({"messages": [{"role": "user", "content": "notes"}]}).count('"') == 0
    # a re-write call: the section, its listed quotations unquoted
    section = f'## A\n\nShe said "{found[1].text}" and "{found[0].text}".'
    repair = {"messages": [{"role": "user", "content": f'<section>\n{section}\n</section>\n\n'
                                                       f'These quotations...:\n1. "{found[1].text}": not in it.\n'}]}
    assert QuotingEssay(12)(repair) == f'## A\n\nShe said {found[1].text} and "{found[0].text}".'
