"""Shared fixtures: a fresh data dir and Dagster home per test, a loopback model server,
user-supplied transcripts, and a helper that runs the real chain through a real instance."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest

import essay_assets  # noqa: F401  (sets LITELLM_LOCAL_MODEL_COST_MAP before anything imports litellm)
from essay_assets_tests.openai_stub import LoopbackLLM

# Read when the definitions are built: tests must not wait 10 s between step retries.
os.environ.setdefault("ESSAYS_STEP_RETRY_DELAY_S", "0.2")

FAKE_OPENAI_KEY = "sk-test-FAKEFAKEFAKEFAKEFAKE0001"
FAKE_OPENROUTER_KEY = "sk-or-v1-" + "fa" * 16

_WORDS = ("heat canopy shade roof city research question evidence trees night cooling people street "
          "measure policy health risk model climate budget water neighbourhood data survey").split()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """ESSAYS_DATA_DIR and DAGSTER_HOME in a temp folder; no setting leaks from the machine."""
    for name in ("ESSAYS_MODEL", "ESSAYS_API_BASE", "ESSAYS_ESSAY_COST_CEILING_CENTS",
                 "ESSAYS_DAILY_COST_CEILING_CENTS", "OPENAI_API_KEY", "OPENROUTER_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    data = tmp_path / "data"
    (data / "transcripts").mkdir(parents=True)
    monkeypatch.setenv("ESSAYS_DATA_DIR", str(data))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.setenv("DAGSTER_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("ESSAYS_OEMBED_URL", "http://127.0.0.1:9/oembed")  # refused at once: no metadata
    monkeypatch.setenv("ESSAYS_YOUTUBE_MIN_INTERVAL_S", "0")
    monkeypatch.setenv("ESSAYS_LLM_RETRY_BASE_S", "0.05")
    return data


@pytest.fixture
def llm_server(data_dir: Path, monkeypatch: pytest.MonkeyPatch):
    """A loopback OpenAI-compatible server, with the pipeline pointed at it as gpt-4o."""
    with LoopbackLLM() as server:
        monkeypatch.setenv("ESSAYS_MODEL", "openai/gpt-4o")
        monkeypatch.setenv("ESSAYS_API_BASE", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", FAKE_OPENAI_KEY)
        yield server


def synthetic_snippets(words: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    snippets, start, left = [], 0.0, words
    while left > 0:
        n = min(left, rng.randint(8, 18))
        snippets.append({"text": " ".join(rng.choice(_WORDS) for _ in range(n)), "start": round(start, 2),
                         "duration": round(n / 2.6, 2)})
        start += n / 2.6
        left -= n
    return snippets


def write_transcript(data_dir: Path, video_id: str, words: int = 400, seed: int = 0) -> Path:
    path = data_dir / "transcripts" / f"{video_id}.json"
    path.write_text(json.dumps(synthetic_snippets(words, seed)))
    return path


def run_chain(video_ids: list[str], **kwargs):
    """The real chain through the real persistent instance under DAGSTER_HOME (as `essays run`)."""
    from essay_assets.cli.runner import run_videos
    from essay_assets.settings import Settings

    return run_videos(video_ids, Settings.from_env(), **kwargs)
