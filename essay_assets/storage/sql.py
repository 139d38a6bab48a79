"""SQL for users: read-only queries and Parquet export, through an in-memory DuckDB over
the warehouse files, so neither ever waits on (or blocks) anyone's lock."""

from __future__ import annotations

import contextlib
import csv
import json
import re
import sys
from pathlib import Path

import duckdb

from essay_assets.settings import Settings
from essay_assets.storage.schema import TABLES
from essay_assets.storage.warehouse import warehouse_for

READ_ONLY_HINT = "essays sql runs read-only queries (SELECT, WITH, DESCRIBE, SHOW, SUMMARIZE, EXPLAIN)."


def run_sql(settings: Settings, query: str, output_format: str = "table", out=None) -> int:
    out = sys.stdout if out is None else out  # looked up per call, not bound at import
    try:
        refused = _not_read_only(query)
    except duckdb.Error as exc:  # a syntax error: DuckDB's own message
        print(f"essays sql: {exc}", file=sys.stderr)
        return 1
    if refused:
        print(f"essays sql: not a read-only query ({refused}). {READ_ONLY_HINT}", file=sys.stderr)
        return 2
    warehouse = warehouse_for(settings)
    with contextlib.closing(warehouse.connect()) as con:
        confine(con, warehouse.root)
        try:
            relation = con.sql(query)
            if relation is None:
                return 0
            columns, rows = relation.columns, relation.fetchall()
        except duckdb.PermissionException as exc:
            print(f"essays sql: {str(exc).splitlines()[0]}. {CONFINED_HINT}", file=sys.stderr)
            return 2
        except duckdb.Error as exc:
            print(f"essays sql: {exc}", file=sys.stderr)
            return 1
    if output_format == "json":
        json.dump([dict(zip(columns, row)) for row in rows], out, default=str, indent=1)
        out.write("\n")
    elif output_format == "csv":
        writer = csv.writer(out)
        writer.writerow(columns)
        writer.writerows(rows)
    else:
        out.write(format_table(columns, rows))
    return 0


CONFINED_HINT = ("essays sql reads the warehouse's tables and views only: other files, URLs and "
                 "DuckDB extensions are off.")


def confine(con: duckdb.DuckDBPyConnection, warehouse_root: Path) -> None:
    """After the views are made: no file outside the warehouse folder (the views read its Parquet
    files when queried), no URL, no extension loaded or installed, and the settings locked so a
    query cannot turn them back on. `read_blob('/etc/shadow')` and `read_csv('http://…')` are refused."""
    folders = sorted({str(Path(warehouse_root)) + "/", str(Path(warehouse_root).resolve()) + "/"})
    con.execute("SET allowed_directories = ?", [folders])
    for statement in ("SET enable_external_access = false", "SET autoload_known_extensions = false",
                      "SET autoinstall_known_extensions = false", "SET allow_community_extensions = false",
                      "SET lock_configuration = true"):
        con.execute(statement)


def _not_read_only(query: str) -> str | None:
    """What makes `query` not read-only (None when it is). Every statement is checked as
    DuckDB parses it: a first-word check would let `SELECT 1; COPY ... TO 'file'` through."""
    statements = duckdb.extract_statements(query)
    if not statements:
        return "empty"
    for statement in statements:
        kind = statement.type
        if kind == duckdb.StatementType.EXPLAIN:  # EXPLAIN ANALYZE runs the statement it explains
            inner = _EXPLAIN_PREFIX.sub("", statement.query, count=1)
            refused = _not_read_only(inner) if inner.strip() else None
            if refused:
                return f"explain {refused}"
        elif kind not in (duckdb.StatementType.SELECT, duckdb.StatementType.MULTI):  # MULTI: PIVOT
            return kind.name.lower()
    return None


_EXPLAIN_PREFIX = re.compile(r"^(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*explain(?:\s+analy[sz]e)?\b", re.I | re.S)


def format_table(columns: list[str], rows: list[tuple]) -> str:
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    line = lambda values: " | ".join(v.ljust(w) for v, w in zip(values, widths)).rstrip()  # noqa: E731
    out = [line(columns), "-+-".join("-" * w for w in widths)] + [line(r) for r in cells]
    out.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(out) + "\n"


def _cell(value) -> str:
    if value is None:
        return "NULL"
    text = str(value).replace("\n", " ")
    return text if len(text) <= 60 else text[:57] + "..."


class ExportError(Exception):
    """The export folder cannot be made or written; the message names it and what to do."""


def export_tables(settings: Settings, directory: Path) -> list[Path]:
    hint = "Name a folder you can write to (it is created if missing)."
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise ExportError(f"cannot export to {directory}: it is a file, not a folder. {hint}") from None
    except OSError as exc:
        raise ExportError(f"cannot export to {directory}: {exc.strerror or exc}. {hint}") from None
    written = []
    with contextlib.closing(warehouse_for(settings).connect()) as con:
        for name in [t.name for t in TABLES] + ["essay_metadata"]:
            path = directory / f"{name}.parquet"
            escaped = str(path).replace("'", "''")
            try:
                con.execute(f"COPY (SELECT * FROM {name}) TO '{escaped}' (FORMAT parquet)")
            except (duckdb.IOException, duckdb.PermissionException) as exc:
                first = str(exc).splitlines()[0]
                raise ExportError(f"cannot write {path}: {first}. {hint}") from None
            written.append(path)
    return written
