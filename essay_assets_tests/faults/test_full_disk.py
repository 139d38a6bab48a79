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
