"""What a new user sees in the terminal: `essays` subcommands run as subprocesses in a fresh
data dir print no library warnings and no tracebacks, and each error names the video (or the
path) and what to do."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from essay_assets_tests.support.chain import write_transcript
from testkit.dagster_dev import free_port
from testkit.openai_stub import LoopbackLLM

NOISE = re.compile(r"Warning\b|Traceback|Stack Trace|^\s+File \"", re.MULTILINE)
VIDEO = "cliquiet001"


def _essays(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "essay_assets.cli", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=240)
    output = done.stdout + done.stderr
    assert not NOISE.search(output), f"essays {' '.join(args)} printed noise:\n{output}"
    return done


@pytest.fixture
def fresh_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ESSAYS_", "DAGSTER_", "PYTHONWARNINGS")) and not k.endswith("_API_KEY")}
    env.update({"ESSAYS_DATA_DIR": str(tmp_path / "data"), "ESSAYS_OEMBED_URL": "http://127.0.0.1:9/oembed",
                "ESSAYS_STEP_RETRY_DELAY_S": "0.2", "ESSAYS_LLM_RETRY_BASE_S": "0.05"})
    (tmp_path / "data" / "transcripts").mkdir(parents=True)
    write_transcript(tmp_path / "data", VIDEO, words=300)
    return env


def test_first_commands_and_their_errors_are_quiet_and_say_what_to_do(fresh_env: dict[str, str], tmp_path: Path):
    assert "0 video(s)" in _essays(fresh_env, tmp_path, "status").stdout
    bad_sql = _essays(fresh_env, tmp_path, "sql", "SELECT * FROM no_such_table")
    assert bad_sql.returncode != 0 and "no_such_table" in bad_sql.stderr
    unwritable = _essays(fresh_env, tmp_path, "export", "/proc/essays-export")
    assert unwritable.returncode == 2 and "/proc/essays-export" in unwritable.stderr
    assert "Name a folder you can write to" in unwritable.stderr  # what to do
    bad_ref = _essays(fresh_env, tmp_path, "delete", "notavideo")
    assert bad_ref.returncode == 2 and "'notavideo'" in bad_ref.stderr and "Accepted:" in bad_ref.stderr


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_runs_that_fail_and_succeed_are_quiet(fresh_env: dict[str, str], tmp_path: Path):
    assert _essays(fresh_env, tmp_path, "add", VIDEO).returncode == 0
    no_key = _essays({**fresh_env, "ESSAYS_MODEL": "openai/gpt-4o"}, tmp_path, "run", VIDEO)
    assert no_key.returncode != 0
    assert f"{VIDEO}: FAILED at llm_response" in no_key.stderr and "export OPENAI_API_KEY" in no_key.stderr

    with LoopbackLLM() as llm:
        hosted = {**fresh_env, "ESSAYS_MODEL": "openai/gpt-4o", "ESSAYS_API_BASE": llm.base_url,
                  "OPENAI_API_KEY": "sk-test-FAKEFAKEFAKEFAKEFAKE0001"}
        written = _essays(hosted, tmp_path, "run", VIDEO)
        assert written.returncode == 0 and f"{VIDEO}.md" in written.stdout
    assert "current" in _essays(hosted, tmp_path, "status", VIDEO).stdout
    assert _essays(fresh_env, tmp_path, "sql", "SELECT count(*) AS n FROM essays").stdout.splitlines()[2] == "1"


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_essays_ui_starts_without_warnings(fresh_env: dict[str, str], tmp_path: Path):
    log_path = tmp_path / "ui.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "essay_assets.cli", "ui", "--port", str(free_port())],
                                env=fresh_env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            deadline = time.monotonic() + 240
            while "Serving dagster-webserver" not in log_path.read_text(errors="replace"):
                assert proc.poll() is None and time.monotonic() < deadline, log_path.read_text(errors="replace")
                time.sleep(1)
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=180)  # dagster dev may take up to 2 × 60 s to stop (cli/main.py)
    output = log_path.read_text(errors="replace")
    assert not NOISE.search(output), output
