"""Shared fixtures: a fresh data dir and Dagster home per test, and a loopback model server.
Plain helpers (writing a transcript, running the chain) live in essay_assets_tests/support/."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import essay_assets  # noqa: F401  (sets LITELLM_LOCAL_MODEL_COST_MAP before anything imports litellm)
from testkit.openai_stub import LoopbackLLM
from testkit.postgres import PostgresServer

# Read when the definitions are built: tests must not wait 10 s between step retries.
os.environ.setdefault("ESSAYS_STEP_RETRY_DELAY_S", "0.2")

FAKE_OPENAI_KEY = "sk-test-FAKEFAKEFAKEFAKEFAKE0001"
FAKE_OPENROUTER_KEY = "sk-or-v1-" + "fa" * 16


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


@pytest.fixture(scope="module")
def litellm_price_table():
    """litellm's bundled price table (the local copy: LITELLM_LOCAL_MODEL_COST_MAP is set)."""
    import litellm

    return litellm.model_cost


@pytest.fixture(scope="session")
def postgres_server():
    """One real PostgreSQL server for the whole session (started only when a test asks for it);
    each test takes its own database from it (`postgres_url`)."""
    with PostgresServer() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: PostgresServer, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh, empty database as ESSAYS_POSTGRES_URL: the Dagster instance lives there."""
    url = postgres_server.create_database("essays_test")
    monkeypatch.setenv("ESSAYS_POSTGRES_URL", url)
    return url
