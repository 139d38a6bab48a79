"""The DuckDB warehouse: Parquet segments written by the pipeline, DuckDB views read by users.

Why not write to the DuckDB file directly: DuckDB allows one read-write process per file,
so parallel backfill runs fail with "Could not set lock on file" and a user's open SQL
session blocks the pipeline. Instead:

- Every write is a new Parquet *segment* file under `data/warehouse/<table>/`, written to a
  temp folder and renamed into place. Writers never lock anything, a crash mid-write leaves
  no partial file, and any number of runs can write at once.
- Rows carry a key (see warehouse_schema); the views keep the newest row per key, so
  re-materializing a partition replaces its rows and a repeated write never duplicates one.
- `data/essays.duckdb` holds only views over those files. The pipeline itself never opens
  it (it reads through an in-memory DuckDB with the same views), so a user's session on the
  file, read-write or not, can never block a run.
- Segments are compacted into one file per table when they pile up, so queries stay fast.
  The compacted-away files are deleted a grace period later (sweep_retired), never while
  a running query may still open them.
- All of this relies on a filesystem with working flock, atomic rename and fsync; a folder
  where locks cannot work is refused when the warehouse is opened (storage/file_locks.py).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from essay_assets.settings import Settings
from essay_assets.storage.file_locks import require_working_locks
from essay_assets.storage.files import atomic_write_text
from essay_assets.storage.schema import (
    DELETIONS,
    FRONT_MATTER_COLUMNS,
    TABLES,
    TABLES_BY_NAME,
    WRITTEN_AT,
    Table,
)

VIEWS_VERSION = "5"  # bump when the view SQL or the file format changes, so existing databases are re-created
# The storage format data/essays.duckdb is written in: the oldest one every DuckDB client we support
# (1.1 on, pyproject's range) can open. Left to itself, the Python duckdb writes its own newest format,
# which older CLIs refuse ("database file with version number 69 ... created with a newer version").
# The file holds only views, so it loses nothing by being written in the old format.
DATABASE_STORAGE_VERSION = "v1.1.0"
COMPACT_AFTER_SEGMENTS = 48
RETIRED_GRACE_S = 300.0  # how long compacted-away files stay for queries that already listed them
_SCHEMA_FILE = "_schema.parquet"  # zero rows: keeps every glob non-empty and every column typed


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def warehouse_for(settings: Settings) -> Warehouse:
    """The warehouse of a data dir: Parquet under `warehouse_dir`, views in `database_path`."""
    return Warehouse(settings.warehouse_dir, settings.database_path)


class Warehouse:
    def __init__(self, root: Path, database_path: Path):
        self.root = Path(root)
        self.database_path = Path(database_path)
        # Compaction's lock (and the ledger's lease beside it in the data dir) must really exclude
        # other processes and machines: a folder where flock cannot is refused before any write
        # (DataDirLocksUnusable, a SettingsError). Probed once per folder and process.
        require_working_locks(self.root)

    # ---- writing -------------------------------------------------------------------
    def write(self, table_name: str, rows: Sequence[Mapping[str, Any]]) -> None:
        """Append rows as one new segment; newer rows replace older ones with the same key."""
        if not rows:
            return
        table = TABLES_BY_NAME[table_name]
        self._ensure_table_dir(table)
        stamp = time.time_ns()
        records = [{**{c.name: row.get(c.name) for c in table.columns}, WRITTEN_AT: stamp} for row in rows]
        unknown = set().union(*(row.keys() for row in rows)) - {c.name for c in table.columns}
        if unknown:
            raise ValueError(f"{table_name} has no columns {sorted(unknown)}")
        arrow = pa.Table.from_pylist(records, schema=table.arrow_schema)
        self._write_atomically(arrow, self.root / table.name / f"seg-{stamp}-{uuid.uuid4().hex[:8]}.parquet")

    def delete_video(self, video_id: str) -> None:
        """Hide every row of the video written before now (compaction later drops them)."""
        self.write(DELETIONS.name, [{"video_id": video_id, "deleted_at": utc_now()}])

    # ---- reading -------------------------------------------------------------------
    def connect(self) -> duckdb.DuckDBPyConnection:
        """An in-memory DuckDB with every view: takes no lock on any file."""
        self.ensure_tables()
        con = duckdb.connect(":memory:")
        for statement in view_statements(self.root):
            con.execute(statement)
        return con

    def query(self, sql: str, params: Sequence[Any] | None = None) -> list[dict[str, Any]]:
        with contextlib.closing(self.connect()) as con:
            cursor = con.execute(sql, params or [])
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row)) for row in cursor.fetchall()]

    def row_count(self, table_name: str) -> int:
        return self.query(f"SELECT count(*) AS n FROM {table_name}")[0]["n"]

    # ---- the user's database file --------------------------------------------------
    def ensure_database(self) -> bool:
        """Create or refresh the views in data/essays.duckdb; skip when already current.

        The file is built next to the old one in DATABASE_STORAGE_VERSION's format and renamed
        over it, so no client ever sees half a database, and an old file written in a newer
        format is replaced. Returns False when the file is locked by someone else's session:
        it is left alone (the views from the last refresh read whatever Parquet files exist)
        and the refresh is tried again after the next run.
        """
        self.ensure_tables()
        marker = self.root / ".views"
        wanted = f"{VIEWS_VERSION} {self.root.resolve()} {self.database_path.resolve()}"
        if self.database_path.exists() and marker.exists() and marker.read_text() == wanted:
            return True
        self.database_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # Holding the old file's lock while replacing it: a session that opens it meanwhile
            # waits for the new file instead of reading the one being replaced.
            guard = duckdb.connect(str(self.database_path)) if self.database_path.exists() else None
        except duckdb.IOException:
            return False
        tmp = self.database_path.with_name(f".{self.database_path.name}.{uuid.uuid4().hex}.tmp")
        try:
            with contextlib.closing(duckdb.connect(":memory:")) as con:
                con.execute(f"ATTACH {_sql_str(tmp)} AS fresh (STORAGE_VERSION '{DATABASE_STORAGE_VERSION}')")
                con.execute("USE fresh")
                for statement in view_statements(self.root):
                    con.execute(statement)
                con.execute("USE memory")
                con.execute("DETACH fresh")
            os.replace(tmp, self.database_path)
        finally:
            if guard is not None:
                guard.close()
            tmp.unlink(missing_ok=True)
            Path(f"{tmp}.wal").unlink(missing_ok=True)
        atomic_write_text(marker, wanted)
        return True

    def ensure_tables(self) -> None:
        for table in TABLES:
            self._ensure_table_dir(table)

    # ---- housekeeping --------------------------------------------------------------
    def segment_count(self, table_name: str) -> int:
        retired = _retired_files(self.root / table_name)
        return sum(1 for p in (self.root / table_name).glob("seg-*.parquet") if p.name not in retired)

    def maybe_compact(self, threshold: int = COMPACT_AFTER_SEGMENTS) -> list[str]:
        self.sweep_retired()
        return [t.name for t in TABLES if self.segment_count(t.name) >= threshold and self.compact(t.name)]

    def sweep_retired(self, grace_s: float = RETIRED_GRACE_S) -> int:
        """Delete the files compactions retired more than `grace_s` ago; returns how many.

        A query lists a table's files when it starts and opens them as it goes, so a file
        must not vanish right after a compaction: a query that listed it would fail with
        "Cannot open file". Until deleted, a retired file only duplicates rows of the
        compacted file (same key, same _written_at), which the views count once.
        """
        removed, cutoff = 0, time.time_ns() - int(grace_s * 1e9)
        for table in TABLES:
            for manifest in (self.root / table.name).glob(".retired-*.txt"):
                if int(manifest.name.split("-")[1]) > cutoff:
                    continue
                for name in manifest.read_text().split():
                    (manifest.parent / name).unlink(missing_ok=True)
                    removed += 1
                manifest.unlink(missing_ok=True)
        return removed

    def compact(self, table_name: str) -> bool:
        """Rewrite a table's files as one file holding only its live rows.

        One compactor per table at a time (an flock); writers are never blocked. Files that
        appear while compacting are simply not part of this round.
        """
        table = TABLES_BY_NAME[table_name]
        folder = self.root / table.name
        with _try_flock(folder / ".compact.lock") as locked:
            if not locked:
                return False
            retired = _retired_files(folder)  # already merged into an earlier compacted file
            inputs = sorted(p for p in folder.glob("*.parquet") if p.name != _SCHEMA_FILE and p.name not in retired)
            if not inputs:  # one file is still rewritten: it may hold rows deleted since
                return False
            with contextlib.closing(duckdb.connect(":memory:")) as con:
                files = ", ".join(_sql_str(p) for p in inputs)
                live = _live_rows_sql(table, f"read_parquet([{files}], union_by_name=true)", self.root)
                arrow = con.sql(f"SELECT * FROM ({live})").to_arrow_table()
            arrow = arrow.select(table.arrow_schema.names).cast(table.arrow_schema)
            self._write_atomically(arrow, folder / f"compact-{time.time_ns()}-{uuid.uuid4().hex[:8]}.parquet")
            # Not deleted yet: running queries may still open them (see sweep_retired).
            atomic_write_text(folder / f".retired-{time.time_ns()}-{uuid.uuid4().hex[:8]}.txt",
                         "\n".join(p.name for p in inputs) + "\n")
            return True

    # ---- internals -----------------------------------------------------------------
    def _ensure_table_dir(self, table: Table) -> None:
        folder = self.root / table.name
        schema_file = folder / _SCHEMA_FILE
        if not schema_file.exists():
            folder.mkdir(parents=True, exist_ok=True)
            self._write_atomically(table.arrow_schema.empty_table(), schema_file)

    def _write_atomically(self, arrow: pa.Table, destination: Path) -> None:
        tmp_dir = self.root / ".tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        tmp = tmp_dir / f"{destination.name}.{uuid.uuid4().hex}"
        try:
            pq.write_table(arrow, tmp)
            os.replace(tmp, destination)
        finally:
            tmp.unlink(missing_ok=True)  # only left when writing failed: never a partial file


def view_statements(root: Path) -> Iterator[str]:
    """SQL that defines every view over the Parquet files under `root`."""
    for table in TABLES:
        source = f"read_parquet({_sql_str(Path(root) / table.name / '*.parquet')}, union_by_name=true)"
        yield f"CREATE OR REPLACE VIEW {table.name} AS {_live_rows_sql(table, source, root)}"
    yield (
        "CREATE OR REPLACE VIEW current_essays AS SELECT * FROM essays e WHERE NOT EXISTS ("
        " SELECT 1 FROM essays newer WHERE newer.video_id = e.video_id AND newer.created_at > e.created_at)"
    )
    columns = ", ".join(f'{column} AS "{field}"' for field, column in FRONT_MATTER_COLUMNS)
    yield f"CREATE OR REPLACE VIEW essay_metadata AS SELECT {columns}, path FROM current_essays"


def _live_rows_sql(table: Table, source: str, root: Path) -> str:
    """Newest row per key, minus rows of videos deleted after the row was written."""
    names = ", ".join(c.name for c in table.columns)
    key = ", ".join(table.key)
    deleted = ""
    if table is not DELETIONS and any(c.name == "video_id" for c in table.columns):
        deletions = f"read_parquet({_sql_str(Path(root) / DELETIONS.name / '*.parquet')}, union_by_name=true)"
        deleted = (
            f" AND NOT EXISTS (SELECT 1 FROM {deletions} d"
            f" WHERE d.video_id = ranked.video_id AND d.{WRITTEN_AT} > ranked.{WRITTEN_AT})"
        )
    return (
        f"SELECT {names}, {WRITTEN_AT} FROM ("
        f"SELECT *, row_number() OVER (PARTITION BY {key} ORDER BY {WRITTEN_AT} DESC) AS _rank FROM {source}"
        f") ranked WHERE _rank = 1{deleted}"
    )


def _retired_files(folder: Path) -> set[str]:
    names: set[str] = set()
    for manifest in folder.glob(".retired-*.txt"):
        with contextlib.suppress(FileNotFoundError):
            names.update(manifest.read_text().split())
    return names


def _sql_str(value: Any) -> str:
    return "'" + str(value).replace("'", "''") + "'"


@contextlib.contextmanager
def _try_flock(path: Path) -> Iterator[bool]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
