"""Essay sections are sampled as prose where the server can enforce it (the embedded model's
grammar, model_calls/local_model.py), and only sections: a whole essay needs its headings."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import urllib.request

import pytest

from essay_assets.model_calls.client import (
    Endpoint,
    call_model,
    merged_sampling,
    resolve_endpoint,
)
from essay_assets.model_calls.ledger import CallLedger
from essay_assets.settings import Settings
from essay_assets.storage.warehouse import warehouse_for
from essay_assets.writing.drafting import write_draft
from essay_assets.writing.planning import PromptPlan
from essay_assets.writing.prompts import (
    VideoContext,
    essay_messages,
    essay_sections,
    load_prompts,
)
from testkit.openai_stub import last_user_text

GRAMMAR = 'root ::= [a-z ]+'
PROSE = ("I came away thinking that shade is infrastructure, not decoration: the speakers kept returning to "
         "night temperatures on streets without trees, and to who pays for the water that keeps trees alive.")


def test_prose_sampling_is_merged_over_the_endpoints_own_extra_body():
    base = {"frequency_penalty": 0.4, "extra_body": {"repeat_penalty": 1.1}}
    merged = merged_sampling(base, {"extra_body": {"grammar": GRAMMAR}})
    assert merged == {"frequency_penalty": 0.4, "extra_body": {"repeat_penalty": 1.1, "grammar": GRAMMAR}}
    assert base == {"frequency_penalty": 0.4, "extra_body": {"repeat_penalty": 1.1}}  # not changed in place
    assert merged_sampling(base, {}) == base


@pytest.mark.parametrize("essay_style, grammar_per_call", [("sectioned", [GRAMMAR] * 4), ("whole", [None])])
def test_only_section_calls_carry_the_prose_grammar(llm_server, data_dir, essay_style, grammar_per_call):
    # Each section's prose differs (a repeated paragraph is no prose).
    sections = "\n\n".join(f"## {heading}\n\n{PROSE} ({heading}.)" for heading, _ in essay_sections(load_prompts()))

    def one_section(request: dict) -> str:
        heading = last_user_text(request).split('Write only the section "')[1].split('"')[0]
        return f"{PROSE} ({heading}.)"

    llm_server.reply_text = one_section if essay_style == "sectioned" else f"# Shade\n\n{sections}"
    settings = Settings.from_env()
    endpoint = Endpoint("openai/gpt-4o", "openai/gpt-4o", llm_server.base_url, None, False,
                        sampling={"extra_body": {"repeat_penalty": 1.1}},
                        prose_sampling={"extra_body": {"grammar": GRAMMAR}})
    prompts, video = load_prompts(), VideoContext("abcdefghijk", "Shade")
    plan = PromptPlan(mode="single", prompt_revision=prompts.revision, context_window=None, prompt_tokens=0,
                      fits_context=True, essay_max_tokens=800, notes_max_tokens=400, essay_style=essay_style,
                      calls=({"stage": "essay", "chunk_index": None,
                              "messages": essay_messages(prompts, video, "[0:01] We talked about shade.")},))

    async def draft():
        ledger = CallLedger(settings, endpoint, warehouse_for(settings), None, asyncio.Semaphore(1))
        return await write_draft(video=video, plan=plan, prompts=prompts, ledger=ledger, response_id="r1",
                                 count_tokens=len)

    result = asyncio.run(draft())
    assert result.new_calls == len(grammar_per_call)
    sent = [request.json for request in llm_server.chat_requests]
    assert [body.get("grammar") for body in sent] == grammar_per_call
    assert all(body["repeat_penalty"] == 1.1 for body in sent)  # the endpoint's own sampling stays


def _token_ids(endpoint: Endpoint, text: str) -> list[int]:
    request = urllib.request.Request(endpoint.api_base.removesuffix("/v1") + "/tokenize",
                                     json.dumps({"content": text}).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)["tokens"]


@pytest.mark.slow
@pytest.mark.parametrize("pushed", ["<", "#", "`", "["])
def test_the_embedded_models_grammar_rules_out_markup_and_keeps_time_markers(data_dir, monkeypatch, pushed):
    """Each character is pushed as hard as logit_bias can push: unconstrained the model then
    writes nothing else; as prose it cannot write it at all, except a `[` that opens a time marker."""
    monkeypatch.setenv("ESSAYS_TEMPERATURE", "0")
    settings = Settings.from_env()
    endpoint = resolve_endpoint(settings)
    assert endpoint.is_local and endpoint.prose_sampling
    pushed_hard = dataclasses.replace(endpoint, sampling={
        **endpoint.sampling, "logit_bias": {str(token): 100 for token in _token_ids(endpoint, pushed)}})
    messages = [{"role": "user", "content": "Say hello."}]

    def answer(prose_only: bool) -> str:
        return asyncio.run(call_model(pushed_hard, messages, settings=settings, max_tokens=16,
                                      prose_only=prose_only)).content

    assert answer(prose_only=False).count(pushed) >= 10
    prose = answer(prose_only=True)
    if pushed == "[":
        marker = r"\[\d{1,2}:\d{2}(?::\d{2})?\]"
        assert re.search(marker, prose), prose
        # Brackets only as markers; the last may be cut off by max_tokens.
        assert re.fullmatch(rf"(?:[^\[\]]|{marker})*(?:\[[\d:]*)?", prose), prose
    else:
        assert pushed not in prose and prose.strip(), prose
