"""The warehouse with real processes and real files: concurrent writers and a compactor
while a user holds data/essays.duckdb open read-write, idempotence, crash safety,
`essays delete`, and the tables and views plain duckdb sees."""

from __future__ import annotations

import multiprocessing
import signal
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from essay_assets.storage.schema import FRONT_MATTER_COLUMNS, TABLES
from essay_assets.storage.warehouse import Warehouse
from essay_assets.writing.prompts import load_prompts
from essay_assets.writing.rendering import FRONT_MATTER_FIELDS, parse_essay
from essay_assets_tests.support.chain import run_chain, write_transcript
from testkit import warehouse_rows as wr

VIDEO_TABLES = [t.name for t in TABLES if t.name != "deletions"]


@pytest.fixture
def warehouse(tmp_path: Path) -> Warehouse:
    return Warehouse(tmp_path / "data" / "warehouse", tmp_path / "data" / "essays.duckdb")


def _segments(warehouse: Warehouse, table: str) -> list[str]:
    return sorted(p.name for p in (warehouse.root / table).glob("*.parquet") if p.name != "_schema.parquet")


# ---- concurrency -----------------------------------------------------------------------------
def test_eight_writers_and_a_compactor_while_a_user_holds_the_database_open(warehouse):
    assert warehouse.ensure_database()
    user = duckdb.connect(str(warehouse.database_path))  # read-write: the user holds the file lock
    try:
        ctx = multiprocessing.get_context("spawn")
        start, stop, results = ctx.Event(), ctx.Event(), ctx.Queue()
        writers = [ctx.Process(target=wr.writer, args=(i, str(warehouse.root), str(warehouse.database_path),
                                                        start, results)) for i in range(wr.WRITERS)]
        compactor = ctx.Process(target=wr.compactor, args=(str(warehouse.root), str(warehouse.database_path),
                                                           start, stop, results))
        for process in writers + [compactor]:
            process.start()
        start.set()

        # The user keeps querying the views the whole time.
        user_errors, samples, last = [], 0, {"essays": 0, "llm_calls": 0}
        deadline = time.monotonic() + 600
        while any(p.is_alive() for p in writers) and time.monotonic() < deadline:
            try:
                counts = {t: user.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in last}
                duplicates = user.execute(
                    "SELECT count(*) - count(DISTINCT (video_id, prompt_revision)) FROM essays").fetchone()[0]
                user.execute('SELECT "youtubeVideoId", "inputTokens" FROM essay_metadata LIMIT 5').fetchall()
                user.execute("SELECT count(*) FROM current_essays").fetchone()
            except duckdb.Error as exc:
                user_errors.append(repr(exc))
                continue
            samples += 1
            assert duplicates == 0, "a key was visible twice"
            for table, count in counts.items():
                assert count >= last[table], f"{table} went from {last[table]} to {count} rows: rows were lost"
            last = counts
        stop.set()

        outcomes = dict(results.get(timeout=120) for _ in range(wr.WRITERS + 1))
        for process in writers + [compactor]:
            process.join(60)
            assert process.exitcode == 0
        errors = {who: error for who, error in outcomes.items() if isinstance(error, str)}
        assert errors == {}, "\n".join(f"{who}:\n{error}" for who, error in errors.items())
        assert user_errors == []
        assert samples > 0
        assert outcomes["compactor"] > 0, "the compactor never ran while writers were writing"

        expected_essays = wr.WRITERS * wr.OWN_VIDEOS + wr.SHARED_VIDEOS
        for con in (user, warehouse.connect()):  # the user's session and the pipeline's own reads
            assert con.execute("SELECT count(*), count(DISTINCT (video_id, prompt_revision)) FROM essays"
                               ).fetchone() == (expected_essays, expected_essays)
            assert con.execute("SELECT count(*), count(DISTINCT call_id) FROM llm_calls"
                               ).fetchone() == (2 * expected_essays, 2 * expected_essays)
            assert con.execute("SELECT count(*) FROM essay_metadata").fetchone()[0] == expected_essays
            # Every writer's own rewritten keys carry the newer values.
            own_rewritten = [f"w{i}-{j:04d}" for i in range(wr.WRITERS) for j in range(wr.REWRITTEN)]
            assert con.execute("SELECT count(*) FROM essays WHERE essay_word_count = 999 AND list_contains(?, video_id)",
                               [own_rewritten]).fetchone()[0] == len(own_rewritten)
            # A shared key holds the row of whichever writer wrote it last, and only that one.
            assert {r[0] for r in con.execute("SELECT DISTINCT run_id FROM essays WHERE video_id LIKE 'shared-%'"
                                              ).fetchall()} <= {f"writer-{i}" for i in range(wr.WRITERS)}
        assert user.execute("SELECT sum(cost_usd) FROM llm_calls").fetchone()[0] == pytest.approx(
            2 * expected_essays * 0.01)

        # A last compaction keeps every row and leaves one file per table.
        warehouse.compact("essays")
        warehouse.compact("llm_calls")
        warehouse.sweep_retired(grace_s=0)
        assert len(_segments(warehouse, "essays")) == 1
        assert warehouse.row_count("essays") == expected_essays
        assert warehouse.row_count("llm_calls") == 2 * expected_essays
        assert user.execute("SELECT count(*) FROM essays").fetchone()[0] == expected_essays
    finally:
        user.close()


def test_compacted_away_files_stay_for_running_queries_until_the_grace_period_ends(warehouse):
    created = datetime(2026, 1, 1, tzinfo=timezone.utc)
    for i in range(5):
        warehouse.write("essays", [wr.synthetic_video(f"v{i:010d}", created_at=created)["essays"][0]])
    warehouse.write("essays", [wr.synthetic_video("v0000000000", created_at=created, essay_words=5)["essays"][0]])
    segments = _segments(warehouse, "essays")
    assert warehouse.segment_count("essays") == 6
    with duckdb.connect(str(warehouse.database_path) if warehouse.ensure_database() else ":memory:") as user:
        # A query that listed the segments just before the compaction...
        listed = user.execute("SELECT count(*) FROM essays").fetchone()[0]
        assert warehouse.compact("essays")
        # ...finds every one of them still there afterwards, and nothing counts twice.
        assert all((warehouse.root / "essays" / name).exists() for name in segments)
        assert user.execute("SELECT count(*) FROM essays").fetchone()[0] == listed == 5
        assert warehouse.segment_count("essays") == 0  # retired files do not call for another compaction
        assert warehouse.maybe_compact(threshold=1) == []
        assert warehouse.sweep_retired() == 0  # within the grace period: nothing deleted
        assert warehouse.sweep_retired(grace_s=0) == 6
        assert len(_segments(warehouse, "essays")) == 1
        assert user.execute("SELECT count(*), min(essay_word_count) FROM essays").fetchone() == (5, 5)
    assert not list((warehouse.root / "essays").glob(".retired-*"))


# ---- idempotence ------------------------------------------------------------------------------
def test_writing_a_key_twice_leaves_one_row_with_the_newest_values(warehouse):
    created = datetime(2026, 1, 1, tzinfo=timezone.utc)
    first = wr.synthetic_video("abcdefghijk", created_at=created, essay_words=100)
    for table, rows in first.items():
        warehouse.write(table, rows)
    for table, rows in first.items():  # the same batch again: still one row per key
        warehouse.write(table, rows)
    assert {t: warehouse.row_count(t) for t in first} == {"videos": 1, "transcripts": 1, "llm_calls": 2, "essays": 1}
    warehouse.write("essays", wr.synthetic_video("abcdefghijk", created_at=created, essay_words=222)["essays"])
    rows = warehouse.query("SELECT essay_word_count FROM essays")
    assert rows == [{"essay_word_count": 222}]
    warehouse.compact("essays")
    assert warehouse.query("SELECT essay_word_count FROM essays") == [{"essay_word_count": 222}]
    warehouse.write("essays", wr.synthetic_video("abcdefghijk", created_at=created, essay_words=333)["essays"])
    assert warehouse.query("SELECT essay_word_count FROM essays") == [{"essay_word_count": 333}]


def test_unknown_columns_are_refused_and_write_nothing(warehouse):
    with pytest.raises(ValueError, match="no columns"):
        warehouse.write("essays", [{"video_id": "abcdefghijk", "prompt_revision": 1, "colour": "blue"}])
    assert _segments(warehouse, "essays") == []


# ---- crash safety -----------------------------------------------------------------------------
_HANGING_WRITER = textwrap.dedent("""
    import sys, time
    from datetime import datetime, timezone
    from pathlib import Path
    import pyarrow.parquet as pq
    from essay_assets.storage.warehouse import Warehouse
    from testkit.warehouse_rows import synthetic_video

    def half_a_file(table, where, **kwargs):  # write the first rows, then hang mid-file
        writer = pq.ParquetWriter(where, table.schema)
        writer.write_table(table.slice(0, 100))
        print("WRITING", where, flush=True)
        time.sleep(600)

    pq.write_table = half_a_file
    warehouse = Warehouse(Path(sys.argv[1]), Path(sys.argv[2]))
    created = datetime(2026, 1, 2, tzinfo=timezone.utc)
    rows = [synthetic_video(f"v{i:010d}", created_at=created, essay_words=777)["essays"][0] for i in range(20000)]
    warehouse.write("essays", rows)
""")


def test_a_writer_killed_mid_write_leaves_the_previous_rows_and_no_partial_segment(warehouse):
    created = datetime(2026, 1, 1, tzinfo=timezone.utc)
    old = [wr.synthetic_video(f"v{i:010d}", created_at=created, essay_words=100)["essays"][0] for i in range(50)]
    warehouse.write("essays", old)
    before = _segments(warehouse, "essays")
    child = subprocess.Popen([sys.executable, "-c", _HANGING_WRITER, str(warehouse.root), str(warehouse.database_path)],
                             stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[1])
    try:
        line = child.stdout.readline()
        assert line.startswith("WRITING"), line
        partial = Path(line.split(None, 1)[1].strip())
        assert partial.exists() and partial.stat().st_size > 0  # a half-written file exists right now...
        assert _segments(warehouse, "essays") == before  # ...but not where any reader looks
        assert warehouse.query("SELECT count(*) AS n, min(essay_word_count) AS w FROM essays") == [{"n": 50, "w": 100}]
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(30)
        child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    assert _segments(warehouse, "essays") == before
    assert warehouse.query("SELECT count(*) AS n, max(essay_word_count) AS w FROM essays") == [{"n": 50, "w": 100}]
    assert warehouse.ensure_database()
    with duckdb.connect(str(warehouse.database_path), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM essays").fetchone()[0] == 50
    # The warehouse carries on: the next write and a compaction work and ignore the debris.
    warehouse.write("essays", old[:1])
    assert warehouse.compact("essays")
    assert warehouse.row_count("essays") == 50


def test_a_failing_write_raises_and_leaves_no_trace(warehouse, monkeypatch):
    created = datetime(2026, 1, 1, tzinfo=timezone.utc)
    warehouse.write("essays", [wr.synthetic_video("abcdefghijk", created_at=created, essay_words=100)["essays"][0]])
    before = _segments(warehouse, "essays")
    real_write_table = pq.write_table

    def disk_full(table, where, **kwargs):
        real_write_table(table.slice(0, 0), where)  # some bytes are on disk...
        raise OSError(28, "No space left on device")  # ...then the disk fills up

    monkeypatch.setattr(pq, "write_table", disk_full)
    with pytest.raises(OSError, match="No space left"):
        warehouse.write("essays", [wr.synthetic_video("abcdefghijk", created_at=created, essay_words=555)["essays"][0]])
    monkeypatch.undo()
    assert _segments(warehouse, "essays") == before
    assert list((warehouse.root / ".tmp").iterdir()) == []  # the temp file was cleaned up
    assert warehouse.query("SELECT essay_word_count FROM essays") == [{"essay_word_count": 100}]


# ---- deletion ---------------------------------------------------------------------------------
def test_essays_delete_removes_rows_files_and_partition(llm_server, data_dir):
    import dagster as dg

    from essay_assets.cli.main import main
    from essay_assets.defs.partitions import video_partitions
    from essay_assets.settings import Settings
    from essay_assets.storage.warehouse import warehouse_for

    gone, kept = "abcdefghijk", "keepvideo01"
    write_transcript(data_dir, gone, words=500)
    write_transcript(data_dir, kept, words=450, seed=1)
    assert run_chain([gone, kept]).ok
    settings = Settings.from_env()
    warehouse = warehouse_for(settings)
    warehouse.write("failures", [{"failure_id": "f1", "video_id": gone, "stage": "essay", "reason": "too_short",
                                  "message": "an earlier attempt failed", "run_id": None,
                                  "failed_at": datetime.now(timezone.utc)}])

    # The essay_metadata row mirrors the essay's front matter.
    fields, _ = parse_essay((data_dir / "essays" / f"{gone}.md").read_text())
    row = warehouse.query(f"SELECT * FROM essay_metadata WHERE \"youtubeVideoId\" = '{gone}'")[0]
    timestamps = ("createdAt", "date")  # the view keeps the exact moment, the file shows milliseconds
    for field, _column in FRONT_MATTER_COLUMNS:
        if field not in timestamps:
            assert row[field] == fields[field], field
    for field in timestamps:
        assert row[field].astimezone(timezone.utc).isoformat()[:23] == fields[field][:23].replace("Z", ""), field

    def counts(video_id: str) -> dict[str, int]:
        return {view: warehouse.query(f"SELECT count(*) AS n FROM {view} WHERE video_id = ?", [video_id])[0]["n"]
                for view in VIDEO_TABLES + ["current_essays"]}

    assert all(counts(gone)[t] > 0 for t in ("videos", "transcripts", "llm_calls", "essays", "failures"))
    raw_files = lambda video_id: [p for p in (data_dir / "raw").rglob("*") if video_id in str(p)]  # noqa: E731
    assert raw_files(gone)
    revision = load_prompts().revision  # the current prompt's essay file, whatever its number
    essay_files = lambda video_id: sorted(  # noqa: E731
        p.relative_to(data_dir / "essays").as_posix() for p in (data_dir / "essays").rglob(f"{video_id}*"))
    assert essay_files(gone) == [f"{gone}.md", f"revisions/{gone}.r{revision}.md"]
    kept_before = counts(kept)

    assert main(["delete", gone]) == 0

    assert counts(gone) == {view: 0 for view in VIDEO_TABLES + ["current_essays"]}
    assert warehouse.query(f"SELECT count(*) AS n FROM essay_metadata WHERE \"youtubeVideoId\" = '{gone}'") == [{"n": 0}]
    assert counts(kept) == kept_before
    assert essay_files(gone) == []
    assert (data_dir / "essays" / f"{kept}.md").exists()
    assert raw_files(gone) == []
    assert raw_files(kept)
    instance = dg.DagsterInstance.get()
    assert gone not in instance.get_dynamic_partitions(video_partitions.name)
    assert kept in instance.get_dynamic_partitions(video_partitions.name)
    # The user's database file agrees, and compaction drops the rows for good.
    assert warehouse.ensure_database()
    with duckdb.connect(str(settings.database_path), read_only=True) as con:
        for view in VIDEO_TABLES + ["current_essays"]:
            assert con.execute(f"SELECT count(*) FROM {view} WHERE video_id = ?", [gone]).fetchone()[0] == 0, view
        assert con.execute("SELECT video_id FROM deletions").fetchall() == [(gone,)]
    for table in VIDEO_TABLES:
        warehouse.compact(table)
    with duckdb.connect() as con:
        files = [str(p) for t in VIDEO_TABLES for p in (warehouse.root / t).glob("compact-*.parquet")]
        assert con.execute("SELECT count(*) FROM read_parquet(?, union_by_name=true) WHERE video_id = ?",
                           [files, gone]).fetchone()[0] == 0
    assert counts(kept) == kept_before
    # Running the video again brings it back: the deletion only hides rows written before it.
    write_transcript(data_dir, gone, words=500)
    assert run_chain([gone]).ok
    assert counts(gone)["essays"] == 1


# ---- what plain duckdb sees -------------------------------------------------------------------
def test_plain_duckdb_sees_the_tables_and_views(warehouse):
    for table, rows in wr.synthetic_video("abcdefghijk", created_at=datetime(2026, 1, 1, tzinfo=timezone.utc)).items():
        warehouse.write(table, rows)
    assert warehouse.ensure_database()
    with duckdb.connect(str(warehouse.database_path), read_only=True) as con:
        names = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        assert {"videos", "transcripts", "llm_calls", "essays", "failures", "deletions",
                "current_essays", "essay_metadata"} <= names
        for table in TABLES:
            columns = [r[0] for r in con.execute(f"DESCRIBE {table.name}").fetchall()]
            assert columns == [c.name for c in table.columns] + ["_written_at"], table.name
        metadata_columns = [r[0] for r in con.execute("DESCRIBE essay_metadata").fetchall()]
        assert metadata_columns == list(FRONT_MATTER_FIELDS) + ["path"]  # one-to-one with the front matter
        assert con.execute('SELECT "youtubeVideoId", "transcriptWordCount" FROM essay_metadata').fetchall() == [
            ("abcdefghijk", 1000)]


_USER_SESSION = textwrap.dedent("""
    import sys, duckdb
    con = duckdb.connect(sys.argv[1])  # read-write: holds the file lock
    print("OPEN", flush=True)
    for line in sys.stdin:
        print(con.execute(line).fetchone()[0], flush=True)
""")


def test_ensure_database_never_fails_on_a_users_lock(warehouse):
    assert warehouse.ensure_database()
    (warehouse.root / ".views").unlink()  # the views need a refresh...
    user = subprocess.Popen([sys.executable, "-c", _USER_SESSION, str(warehouse.database_path)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert user.stdout.readline().strip() == "OPEN"  # ...but another process holds the lock
        with pytest.raises(duckdb.IOException, match="lock"):
            duckdb.connect(str(warehouse.database_path))
        assert warehouse.ensure_database() is False  # no error: the existing views stay valid
        warehouse.write("essays", [wr.synthetic_video("abcdefghijk", created_at=datetime(2026, 1, 1,
                                   tzinfo=timezone.utc))["essays"][0]])
        assert warehouse.row_count("essays") == 1
        user.stdin.write("SELECT count(*) FROM essays\n")
        user.stdin.flush()
        assert user.stdout.readline().strip() == "1"  # the user's session sees the new row
    finally:
        user.stdin.close()
        user.wait(30)
        user.stdout.close()
    assert warehouse.ensure_database() is True
