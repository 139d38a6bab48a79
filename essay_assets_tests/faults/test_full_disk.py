"""A full disk: `essays status` still answers, and a failure that cannot be recorded is still told.

Real full file systems (a small tmpfs, filled to the last byte), real `essays` processes, the
real Dagster instance and warehouse; no mocks."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from essay_assets.settings import Settings
from essay_assets.storage.warehouse import warehouse_for
from essay_assets_tests.support.full_disk import files_on, fill_disk, small_tmpfs
from testkit.warehouse_rows import synthetic_video

ROOT = Path(__file__).resolve().parents[2]
SQLITE_SIDE_FILES = ("-shm", "-wal", "-journal")  # SQLite's own shared memory and journals


def essays(*args: str, timeout: float = 180) -> tuple[int, str, str]:
    done = subprocess.run([sys.executable, "-m", "essay_assets.cli", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])})
    return done.returncode, done.stdout, done.stderr


@pytest.mark.slow
def test_status_answers_read_only_when_the_disk_of_the_data_dir_and_dagster_home_is_full(data_dir, monkeypatch):
    home = data_dir / "dagster_home"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with small_tmpfs(data_dir, "64m"):
        code, out, err = essays("add", "regvideo001")  # registered, never run: known to Dagster only
        assert code == 0, err
        rows = synthetic_video("donevideo01", created_at=datetime.now(timezone.utc))  # an essay in the warehouse
        warehouse = warehouse_for(Settings.from_env())
        for table, table_rows in rows.items():
            warehouse.write(table, table_rows)
        code, out, err = essays("status")
        assert code == 0 and "regvideo001" in out and "donevideo01" in out, err

        fill_disk(data_dir)
        before = files_on(data_dir, ignore_suffixes=SQLITE_SIDE_FILES)
        code, out, err = essays("status")
        after = files_on(data_dir, ignore_suffixes=SQLITE_SIDE_FILES)

    assert code == 0, err[-3000:]
    assert "Traceback" not in err and "sqlalchemy" not in err, err[-3000:]
    assert "donevideo01" in out and "Conversation donevideo01" in out  # what the warehouse knows
    notes = [line for line in err.splitlines() if line.strip()]
    assert len(notes) == 1, err
    assert str(home) in notes[0] and "disk is full" in notes[0] and "registered but never run" in notes[0]
    assert after == before  # nothing written: no instance migration, no warehouse file, no lock file


@pytest.mark.slow
def test_a_failure_the_full_warehouse_disk_cannot_take_is_still_told_and_nothing_paid_is_lost(
        llm_server, data_dir, monkeypatch):
    """The warehouse's disk fills during llm_response (at the first model call), and the second
    video's call is then refused (a permanent failure). Its `failures` row cannot be written:
    the user sees the video's own failure and one line naming where it could not be recorded,
    no traceback; the first video's paid answer is kept, and a re-run after space is freed pays
    only for the call that failed."""
    from essay_assets_tests.support.chain import write_transcript

    monkeypatch.setenv("ESSAYS_LLM_CONCURRENCY", "1")  # one call after the other: the first answered, the next refused
    monkeypatch.setenv("ESSAYS_QUOTE_POLICY", "unquote")  # no repair calls: one call per video
    videos = ["fullwhouse1", "fullwhouse2"]
    for seed, video_id in enumerate(videos):
        write_transcript(data_dir, video_id, seed=seed)
    settings = Settings.from_env()
    filled: list[bool] = []

    def fill_then_refuse_the_next_call(request_json: dict) -> dict:
        if not filled:
            filled.append(True)
            fill_disk(settings.warehouse_dir)
            llm_server.fail_next((404, "The model `gpt-4o` does not exist"))  # permanent: recorded at once
        return {}

    with small_tmpfs(settings.warehouse_dir, "8m") as warehouse_dir:
        warehouse_for(settings).ensure_tables()
        llm_server.responder = fill_then_refuse_the_next_call
        code, out, err = essays("run", *videos)
        stored = sorted(p.parent.name for p in (settings.raw_dir / "llm_calls").glob("*/*.json"))
        (warehouse_dir / "filler").unlink()
        llm_server.responder = None
        sent = llm_server.call_count
        rerun_code, rerun_out, rerun_err = essays("run", *videos)
        rerun_calls = llm_server.call_count - sent

    assert code != 0
    assert "Traceback" not in err and "OSError" not in err, err[-3000:]
    assert len(stored) == 1, stored  # the first video's paid answer, kept
    (refused,) = [v for v in videos if v not in stored]
    lines = err.splitlines()
    failed = [i for i, line in enumerate(lines) if line.startswith(f"{refused}: FAILED at llm_response")]
    assert len(failed) == 1 and "Unknown model" in lines[failed[0]], err[-3000:]
    not_recorded = [line for line in lines if "could not be recorded" in line]
    assert not_recorded == [lines[failed[0] + 1]], err[-3000:]  # one line, right after the failure
    assert str(warehouse_dir / "failures") in not_recorded[0] and "No space left" in not_recorded[0]

    assert rerun_code == 0, rerun_err[-3000:]
    assert rerun_calls == 1  # only the refused call: the paid answer was reused
    assert all((settings.essays_dir / f"{video_id}.md").exists() for video_id in videos)
