"""Dagster's own command line on the essays instance, as the README shows it: with DAGSTER_HOME
exported, `dagster asset materialize --partition <id>` finds the partition `essays add` made."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from essay_assets.settings import Settings
from essay_assets.storage.warehouse import warehouse_for
from essay_assets_tests.support.chain import write_transcript

VIDEO = "dagstercli1"


def test_dagster_asset_materialize_with_dagster_home_exported(data_dir: Path, tmp_path: Path):
    write_transcript(data_dir, VIDEO, words=300)
    env = {**os.environ}  # ESSAYS_DATA_DIR and DAGSTER_HOME, as the user exported them
    added = subprocess.run([sys.executable, "-m", "essay_assets.cli", "add", VIDEO], env=env, cwd=tmp_path,
                           capture_output=True, text=True, timeout=120)
    assert added.returncode == 0, added.stdout + added.stderr
    done = subprocess.run([sys.executable, "-m", "dagster", "asset", "materialize", "-m", "essay_assets.definitions",
                           "--select", "transcript", "--partition", VIDEO], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = warehouse_for(Settings.from_env()).query("SELECT video_id, source, word_count FROM transcripts")
    assert rows == [{"video_id": VIDEO, "source": "user_file", "word_count": 300}]
