"""data/essays.duckdb opened by the real DuckDB CLI (the `duckdb-cli` package, a test
dependency), which may be older than the Python duckdb that wrote the file: the file must be in
a storage format every supported client reads (warehouse.DATABASE_STORAGE_VERSION)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from essay_assets.settings import Settings
from essay_assets.storage import warehouse as warehouse_module
from essay_assets.storage.warehouse import warehouse_for
from essay_assets_tests.support.chain import run_chain, write_transcript

DUCKDB_CLI = Path(sys.executable).parent / "duckdb"
VIDEO = "duckdbcli01"


def _cli(database: Path, sql: str, *, cwd: Path, read_only: bool) -> str:
    command = [str(DUCKDB_CLI), *(["-readonly"] if read_only else []), "-csv", str(database), "-c", sql]
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and not done.stderr, f"{command} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture
def essay_written(data_dir: Path, llm_server):
    write_transcript(data_dir, VIDEO, words=400)
    assert run_chain([VIDEO]).ok
    return warehouse_for(Settings.from_env())


def test_the_duckdb_cli_reads_the_database_read_only_and_read_write(essay_written, tmp_path: Path):
    assert DUCKDB_CLI.exists(), "the duckdb-cli package (pyproject's test extra) is not installed"
    elsewhere = tmp_path / "elsewhere"  # the views hold absolute paths: any working directory works
    elsewhere.mkdir()
    for read_only in (True, False):
        essays = _cli(essay_written.database_path, 'SELECT "youtubeVideoId", "llmModel" FROM essay_metadata',
                      cwd=elsewhere, read_only=read_only)
        assert essays.splitlines()[1:] == [f"{VIDEO},openai/gpt-4o"]
        calls = _cli(essay_written.database_path, "SELECT count(*) AS n, bool_and(video_id = 'duckdbcli01') AS ours"
                     " FROM llm_calls", cwd=elsewhere, read_only=read_only)
        assert calls.splitlines()[1:] == ["1,true"]


def test_a_database_in_a_newer_format_is_rewritten(data_dir: Path, tmp_path: Path):
    warehouse = warehouse_for(Settings.from_env())
    warehouse.ensure_tables()
    # As older releases left it: written by the Python duckdb in its own newest format.
    with duckdb.connect(str(warehouse.database_path)) as con:
        for statement in warehouse_module.view_statements(warehouse.root):
            con.execute(statement)
    (warehouse.root / ".views").write_text("4 old marker")
    assert warehouse.ensure_database()
    out = _cli(warehouse.database_path, "SELECT count(*) FROM essay_metadata", cwd=tmp_path, read_only=True)
    assert out.splitlines()[1:] == ["0"]


def test_a_locked_database_is_left_alone_and_rewritten_later(data_dir: Path, tmp_path: Path):
    warehouse = warehouse_for(Settings.from_env())
    assert warehouse.ensure_database()
    (warehouse.root / ".views").write_text("4 old marker")
    # A user's read-write session in another process holds the file's lock.
    user = subprocess.Popen([str(DUCKDB_CLI), str(warehouse.database_path)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        user.stdin.write("SELECT 42;\n")
        user.stdin.flush()
        assert "42" in user.stdout.readline() + user.stdout.readline() + user.stdout.readline()
        assert warehouse.ensure_database() is False
    finally:
        user.communicate("", timeout=30)
    assert warehouse.ensure_database()
    assert _cli(warehouse.database_path, "SELECT count(*) FROM essays", cwd=tmp_path, read_only=False).splitlines()[1:] == ["0"]
