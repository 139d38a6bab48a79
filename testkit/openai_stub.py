"""A loopback OpenAI-compatible HTTP server: the network edge the tests cannot reach.

`LoopbackLLM` serves `POST /v1/chat/completions` (non-streaming) and `GET /v1/models`
on 127.0.0.1 with the same JSON shapes as OpenAI / OpenRouter, so the real litellm
client (and everything above it) runs its real HTTP path in tests::

    with LoopbackLLM(usage_shape="openrouter_with_cost") as llm:
        litellm.completion(model="openrouter/openai/gpt-4o", api_base=llm.base_url,
                           api_key="sk-test-not-real", messages=[...])
        assert llm.requests[0].json["usage"] == {"include": True}

Knobs (all per server, all optional):

- `responder(request_json) -> dict`: full control; its return value is merged over the
  default completion body (return a whole body, or just `{"usage": ...}` to override parts).
- `reply_text`: a fixed reply, or a callable `(request_json) -> str`. Default: a
  well-formed markdown essay (`# Title`, three `## ` sections, `## Conclusion`, ~300
  words) that quotes a digest of the last user message so tests can tell calls apart.
  `QuotingEssay(n)` is such a callable: the same essay carrying n quotations of the
  transcript in the prompt, half of them altered (benchmarks of quote verification).
- `usage_shape`: `"openai"` (plain OpenAI usage), `"openrouter_with_cost"` (adds
  `usage.cost` and `cost_details`, as OpenRouter does when usage accounting is on),
  `"openrouter_without_cost"` (OpenRouter-style details, no `cost`), `"reasoning"`
  (adds `completion_tokens_details.reasoning_tokens`, counted inside completion_tokens).
- `prompt_tokens` / `completion_tokens` / `reasoning_tokens` / `cached_tokens` / `cost_usd`:
  fixed numbers; otherwise tokens are estimated as words * 1.3.
- `delay_s`: sleep per call (concurrency and timeout tests).
- `failures`: a script consumed one per call before any success, e.g. `[429, 429]`,
  `[500]`, `[401]`; each item is a status code or `(status, message)`. Error bodies are
  OpenAI-shaped `{"error": {"message", "type", "param", "code"}}`.

Every request is recorded (thread-safe) in `.requests` as `RecordedRequest(method, path,
headers, json)`; `.call_count` counts chat-completion calls (including failed ones).
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

USAGE_SHAPES = ("openai", "openrouter_with_cost", "openrouter_without_cost", "reasoning")

# Price the stub uses to invent `usage.cost` when no `cost_usd` is fixed: gpt-4o list price.
_STUB_INPUT_USD_PER_TOKEN = 2.5e-6
_STUB_OUTPUT_USD_PER_TOKEN = 10e-6

_ERROR_TYPES = {
    400: ("invalid_request_error", "invalid_request"),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("permission_error", "forbidden"),
    404: ("invalid_request_error", "model_not_found"),
    408: ("timeout", "timeout"),
    429: ("rate_limit_error", "rate_limit_exceeded"),
    500: ("server_error", "internal_error"),
    502: ("server_error", "bad_gateway"),
    503: ("server_error", "overloaded"),
}


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a hung client never blocks shutdown
    request_queue_size = 256  # listen() backlog: the default 5 resets bursts of concurrent connects
    block_on_close = False


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    json: Any

    @property
    def authorization(self) -> str | None:
        for key, value in self.headers.items():
            if key.lower() == "authorization":
                return value
        return None


def estimate_tokens(text: str) -> int:
    """Rough token count the way the stub bills: words * 1.3, at least 1 for non-empty text."""
    words = len(text.split())
    return max(1, round(words * 1.3)) if words else 0


def message_text(messages: Iterable[dict[str, Any]]) -> str:
    """All message content as plain text (string content or OpenAI content parts)."""
    parts: list[str] = []
    for message in messages or []:
        content = message.get("content")
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return "\n".join(parts)


def last_user_text(request_json: dict[str, Any]) -> str:
    users = [m for m in request_json.get("messages") or [] if m.get("role") == "user"]
    return message_text(users[-1:]) if users else ""


def digest(text: str) -> str:
    """Short, stable fingerprint of a text (first words + hash) to tell calls apart."""
    words = re.sub(r"\s+", " ", text).strip().split(" ")
    head = " ".join(words[:12])
    return f"{head} [sha1:{hashlib.sha1(text.encode()).hexdigest()[:10]}]"


def default_essay(request_json: dict[str, Any]) -> str:
    """A well-formed ~300-word markdown essay quoting a digest of the last user message."""
    d = digest(last_user_text(request_json))
    filler = (
        "The conversation moves between concrete examples and general claims, and the "
        "useful work for a reader is to separate the two. Where a speaker offers evidence, "
        "the essay notes it; where a speaker offers intuition, the essay says so plainly "
        "and asks what would change the speaker's mind."
    )
    return (
        "# What the Conversation Was Really About\n\n"
        f"> Source digest: {d}\n\n"
        "## The Central Claim\n\n"
        f"{filler} The central claim is simple to state and hard to test: progress comes "
        "less from scale alone and more from better ideas about learning. That claim frames "
        "everything that follows in the discussion.\n\n"
        "## Where the Argument Is Strong\n\n"
        f"{filler} The strongest parts are the ones tied to observable behaviour, such as "
        "the gap between benchmark scores and everyday usefulness, which anyone can check.\n\n"
        "## Where the Argument Is Weak\n\n"
        f"{filler} The weaker parts lean on analogies to human learning that are suggestive "
        "but not established, and they deserve experiments rather than agreement.\n\n"
        "## Conclusion\n\n"
        "Read as a whole, the conversation is an invitation to research rather than a "
        "forecast. Its best questions are worth keeping even if its answers turn out wrong, "
        "and a careful reader leaves with a short list of claims to watch.\n"
    )


# The prompt's own `[mm:ss]` / `[h:mm:ss]` markers (writing/chunking.py): not the speakers' words.
_PROMPT_MARKER_RE = re.compile(r"\[\d{1,2}:\d{2}(?::\d{2})?\]")
_PROMPT_TRANSCRIPT_RE = re.compile(r"<transcript>\n(.*?)\n</transcript>", re.S)
_REPAIR_SECTION_RE = re.compile(r"<section>\n(.*?)\n</section>", re.S)
_REPAIR_PROBLEM_RE = re.compile(r'^\d+\. "(.*)": ', re.M)
_CHANGED_WORDS = ("never", "fewer", "seven")  # none is a word of testkit/synthetic_transcripts.py
_INVENTED_TAIL = "and that is exactly why nothing will ever change"


def prompt_transcript_words(request_json: dict[str, Any]) -> list[str]:
    """The words of the transcript in a whole-essay prompt, without its time markers ([] when the
    prompt holds no whole transcript: a chunk's notes, the reduce call)."""
    found = _PROMPT_TRANSCRIPT_RE.search(last_user_text(request_json))
    return _PROMPT_MARKER_RE.sub(" ", found.group(1)).split() if found else []


class QuotingEssay:
    """A reply function: `default_essay`'s essay carrying `quotes` quotations of the transcript in
    the prompt, spread over its four sections. Even-numbered ones are genuine (an exact run of
    8-15 of the transcript's words); odd ones are altered, alternately one word changed and a
    genuine run with an invented tail. Seeded by `seed` and the transcript, so the same request
    gets the same essay.

    `quoted=False` writes the same sentences without the quotation marks: nothing to verify, so
    the two variants measure what verification costs. A quote re-write call (the repair policy's
    `<section>` request) is answered with the section, its listed quotations unquoted."""

    SECTIONS = ("The Central Claim", "Where the Argument Is Strong", "Where the Argument Is Weak", "Conclusion")

    def __init__(self, quotes: int, *, quoted: bool = True, seed: int = 0) -> None:
        self.quotes, self.quoted, self.seed = quotes, quoted, seed

    def quotations(self, words: list[str]) -> list[str]:
        """The quotations' words, as drafted (without marks)."""
        if len(words) < 16:
            return []
        rng = random.Random(f"{self.seed}:{hashlib.sha1(' '.join(words).encode()).hexdigest()}")
        found = []
        for number in range(self.quotes):
            length = rng.randint(8, 15)
            start = rng.randrange(len(words) - length + 1)
            run = words[start:start + length]
            if number % 4 == 1:  # a changed word
                middle = len(run) // 2
                run[middle] = next(w for w in _CHANGED_WORDS if w != run[middle].lower())
            elif number % 4 == 3:  # an invented tail
                run = run[:max(4, length - 6)] + _INVENTED_TAIL.split()
            found.append(" ".join(run))
        return found

    def __call__(self, request_json: dict[str, Any]) -> str:
        asked = last_user_text(request_json)
        section = _REPAIR_SECTION_RE.search(asked)
        if section is not None:
            text = section.group(1)
            for quoted in _REPAIR_PROBLEM_RE.findall(asked):
                text = text.replace(f'"{quoted}"', quoted)
            return text
        essay = default_essay(request_json)
        quotations = self.quotations(prompt_transcript_words(request_json))
        if not quotations:
            return essay
        mark = '"' if self.quoted else ""
        for number, heading in enumerate(self.SECTIONS):  # consecutive ones per section: each gets both kinds
            mine = [q for k, q in enumerate(quotations) if k * len(self.SECTIONS) // len(quotations) == number]
            sentences = " ".join(f"As one of them put it, {mark}{quoted}{mark}, and the essay comes back to that."
                                 for quoted in mine)
            heading_line = f"## {heading}\n\n"
            essay = essay.replace(heading_line, f"{heading_line}{sentences}\n\n" if sentences else heading_line)
        return essay


@dataclass
class _Script:
    failures: list[Any] = field(default_factory=list)

    def next_failure(self) -> tuple[int, str] | None:
        if not self.failures:
            return None
        item = self.failures.pop(0)
        if isinstance(item, tuple):
            return int(item[0]), str(item[1])
        return int(item), f"Scripted failure {int(item)} from the loopback LLM stub."


class LoopbackLLM:
    """OpenAI-compatible loopback server. Use as a context manager or call start()/stop()."""

    def __init__(
        self,
        *,
        responder: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        reply_text: str | Callable[[dict[str, Any]], str] | None = None,
        usage_shape: str = "openai",
        prompt_tokens: int | None = None,
        completion_tokens: int | None = None,
        reasoning_tokens: int | None = None,
        cached_tokens: int | None = None,
        cost_usd: float | None = None,
        delay_s: float = 0.0,
        failures: Iterable[int | tuple[int, str]] = (),
        model_ids: Iterable[str] = ("gpt-4o", "stub-model"),
        retry_after_s: float | None = 0,
    ) -> None:
        if usage_shape not in USAGE_SHAPES:
            raise ValueError(f"usage_shape must be one of {USAGE_SHAPES}, got {usage_shape!r}")
        self.responder = responder
        self.reply_text = reply_text
        self.usage_shape = usage_shape
        self.prompt_tokens = prompt_tokens
        self.completion_tokens = completion_tokens
        self.reasoning_tokens = reasoning_tokens
        self.cached_tokens = cached_tokens
        self.cost_usd = cost_usd
        self.delay_s = delay_s
        self.model_ids = tuple(model_ids)
        self.retry_after_s = retry_after_s
        self._script = _Script(list(failures))
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._call_count = 0
        self._in_flight = 0
        self.max_in_flight = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle -------------------------------------------------------
    def start(self) -> "LoopbackLLM":
        if self._server is not None:
            return self
        handler = _make_handler(self)
        server = _Server(("127.0.0.1", 0), handler)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="loopback-llm", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> "LoopbackLLM":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- what tests read -------------------------------------------------
    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("LoopbackLLM is not running; call start() or use it as a context manager.")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.rstrip("/").endswith("/chat/completions")]

    @property
    def call_count(self) -> int:
        with self._lock:
            return self._call_count

    def fail_next(self, *statuses: int | tuple[int, str]) -> None:
        """Append scripted failures at runtime (consumed by the next calls)."""
        with self._lock:
            self._script.failures.extend(statuses)

    # ---- building responses ---------------------------------------------
    def _record(self, req: RecordedRequest, *, is_call: bool) -> tuple[int, tuple[int, str] | None]:
        with self._lock:
            self._requests.append(req)
            failure = None
            if is_call:
                self._call_count += 1
                failure = self._script.next_failure()
            return self._call_count, failure

    def _enter_call(self) -> None:
        with self._lock:
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)

    def _leave_call(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def completion_body(self, request_json: dict[str, Any], call_number: int) -> dict[str, Any]:
        if callable(self.reply_text):
            text = self.reply_text(request_json)
        elif self.reply_text is not None:
            text = self.reply_text
        else:
            text = default_essay(request_json)
        body: dict[str, Any] = {
            "id": f"chatcmpl-loopback-{call_number}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": str(request_json.get("model") or "stub-model"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": self.usage_for(request_json, text),
        }
        if self.usage_shape.startswith("openrouter"):
            body["provider"] = "OpenAI"
        if self.responder is not None:
            body.update(self.responder(request_json) or {})
        return body

    def usage_for(self, request_json: dict[str, Any], reply: str) -> dict[str, Any]:
        prompt = (
            self.prompt_tokens
            if self.prompt_tokens is not None
            else estimate_tokens(message_text(request_json.get("messages") or []))
        )
        completion = self.completion_tokens if self.completion_tokens is not None else estimate_tokens(reply)
        usage: dict[str, Any] = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }
        shape = self.usage_shape
        if shape == "reasoning" or self.reasoning_tokens is not None:
            reasoning = self.reasoning_tokens if self.reasoning_tokens is not None else completion // 2
            # OpenAI convention: reasoning tokens are a subset of completion_tokens.
            usage["completion_tokens_details"] = {"reasoning_tokens": reasoning}
        if self.cached_tokens is not None:
            usage["prompt_tokens_details"] = {"cached_tokens": self.cached_tokens}
        if shape.startswith("openrouter"):
            usage.setdefault("prompt_tokens_details", {"cached_tokens": 0})
            usage.setdefault("completion_tokens_details", {"reasoning_tokens": 0})
        if shape == "openrouter_with_cost":
            cost = (
                self.cost_usd
                if self.cost_usd is not None
                else prompt * _STUB_INPUT_USD_PER_TOKEN + completion * _STUB_OUTPUT_USD_PER_TOKEN
            )
            usage["cost"] = cost
            usage["is_byok"] = False
            usage["cost_details"] = {"upstream_inference_cost": None}
        elif self.cost_usd is not None:
            usage["cost"] = self.cost_usd
        return usage


def error_body(status: int, message: str) -> dict[str, Any]:
    err_type, code = _ERROR_TYPES.get(status, ("server_error" if status >= 500 else "invalid_request_error", None))
    return {"error": {"message": message, "type": err_type, "param": None, "code": code}}


def _make_handler(owner: LoopbackLLM) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in separate writes; with Nagle on, a kept-alive client's
        # delayed ACK stalls every answer by ~40 ms, which a real provider does not add.
        disable_nagle_algorithm = True
        server_version = "LoopbackLLM/1.0"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - keep tests quiet
            return

        def _send_json(self, status: int, body: Any, extra_headers: dict[str, str] | None = None) -> None:
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for key, value in (extra_headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(payload)

        def _read_json(self) -> Any:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if not raw:
                return None
            try:
                return json.loads(raw)
            except json.JSONDecodeError:
                return {"_unparsed": raw.decode("utf-8", "replace")}

        def do_GET(self) -> None:  # noqa: N802
            owner._record(RecordedRequest("GET", self.path, dict(self.headers.items()), None), is_call=False)
            if self.path.rstrip("/").endswith("/models"):
                data = [
                    {"id": mid, "object": "model", "created": 0, "owned_by": "loopback"} for mid in owner.model_ids
                ]
                self._send_json(200, {"object": "list", "data": data})
            else:
                self._send_json(404, error_body(404, f"No route for GET {self.path}"))

        def do_POST(self) -> None:  # noqa: N802
            body = self._read_json()
            is_chat = self.path.split("?")[0].rstrip("/").endswith("/chat/completions")
            call_number, failure = owner._record(
                RecordedRequest("POST", self.path, dict(self.headers.items()), body), is_call=is_chat
            )
            if not is_chat:
                self._send_json(404, error_body(404, f"No route for POST {self.path}"))
                return
            owner._enter_call()
            try:
                if owner.delay_s:
                    time.sleep(owner.delay_s)
                if failure is not None:
                    status, message = failure
                    headers = {}
                    if status == 429 and owner.retry_after_s is not None:
                        headers["Retry-After"] = str(owner.retry_after_s)
                    self._send_json(status, error_body(status, message), headers)
                    return
                if not isinstance(body, dict) or not body.get("messages"):
                    self._send_json(400, error_body(400, "'messages' is a required property"))
                    return
                if body.get("stream"):
                    self._send_json(400, error_body(400, "The loopback stub does not stream."))
                    return
                try:
                    response = owner.completion_body(body, call_number)
                except Exception as exc:  # a broken responder becomes a 500 the client can see
                    self._send_json(500, error_body(500, f"responder failed: {exc!r}"))
                    return
                self._send_json(200, response)
            finally:
                owner._leave_call()

    return Handler
