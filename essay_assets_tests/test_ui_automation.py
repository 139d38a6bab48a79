"""Declarative automation in a real `dagster dev`: the `essay_chain_automation` sensor runs by
default, and a refreshed transcript brings essay_prompt, llm_response and essay up to date by
itself, with one new model call (the new transcript's) and none for the unchanged chain."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from essay_assets.writing.rendering import parse_essay
from essay_assets_tests.support.chain import write_transcript
from testkit.dagster_dev import DagsterDev
from testkit.openai_stub import LoopbackLLM

VIDEO = "automation1"


def _env(data: Path, api_base: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ESSAYS_", "DAGSTER_"))}
    return {**env, "ESSAYS_DATA_DIR": str(data), "ESSAYS_MODEL": "openai/gpt-4o", "ESSAYS_API_BASE": api_base,
            "OPENAI_API_KEY": "fake", "ESSAYS_OEMBED_URL": "http://127.0.0.1:9/oembed",
            "ESSAYS_STEP_RETRY_DELAY_S": "0.2", "DAGSTER_DISABLE_TELEMETRY": "1"}


def _sensor_status(dev: DagsterDev, name: str) -> str:
    data = dev.graphql("""
        query Sensor($selector: SensorSelector!) { sensorOrError(sensorSelector: $selector) { __typename
          ... on Sensor { sensorState { status } } ... on PythonError { message } } }""",
                       {"selector": {**dev.repository_selector(), "sensorName": name}})
    return data["sensorOrError"]["sensorState"]["status"]


def _word_count(data: Path) -> int:
    return parse_essay((data / "essays" / f"{VIDEO}.md").read_text())[0]["transcriptWordCount"]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_refreshed_transcript_brings_the_chain_up_to_date(tmp_path: Path):
    data = tmp_path / "data"
    (data / "transcripts").mkdir(parents=True)
    write_transcript(data, VIDEO, words=300)
    with LoopbackLLM() as llm:
        env = _env(data, llm.base_url)
        dev = DagsterDev(home=tmp_path / "dagster_home", cwd=tmp_path / "cwd", env=env,
                         log_path=tmp_path / "dagster_dev.log")
        # The whole chain once, as `essays run` does, in the same instance.
        done = subprocess.run([sys.executable, "-m", "essay_assets.cli", "run", VIDEO], env=dev.env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, done.stdout + done.stderr
        assert _word_count(data) == 300
        calls_before = llm.call_count
        try:
            dev.start(timeout_s=180)
            assert _sensor_status(dev, "essay_chain_automation") == "RUNNING"
            write_transcript(data, VIDEO, words=420, seed=7)  # the user's file changed
            dev.wait_backfill(dev.launch_backfill([VIDEO], ("transcript",)), timeout_s=240)
            deadline = time.monotonic() + 240
            while _word_count(data) != 420:
                if time.monotonic() > deadline:
                    pytest.fail(f"the chain was not brought up to date\n{dev.log_tail()}")
                time.sleep(2)
            time.sleep(40)  # one more automation tick: nothing else may be requested
        except BaseException:
            print(f"--- dagster dev log (tail) ---\n{dev.log_tail()}")
            raise
        finally:
            dev.stop()
        assert llm.call_count == calls_before + 1  # the new transcript's essay, nothing else
