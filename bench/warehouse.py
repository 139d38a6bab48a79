"""Warehouse benchmark: the example queries over 10,000 essays and 50,000 model calls.

    .venv/bin/python bench/warehouse.py [--essays 10000] [--repeat 5] [--no-docs]

Loads synthetic rows into a temp warehouse through the real `Warehouse.write` path, one
segment per table per 100-video "run" (as a backfill writes them), then times every query
in essay_assets/sql/examples.sql (median of --repeat runs) three ways:

- segments: the pipeline's in-memory DuckDB (`Warehouse.connect`) over the many segments;
- compacted: the same after `compact()` (and the retired files swept);
- essays.duckdb: plain `duckdb.connect("data/essays.duckdb", read_only=True)` on the views.

Prints a markdown table and appends it to docs/benchmarks.md under "## Warehouse".
"""

from __future__ import annotations

import argparse
import contextlib
import platform
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from essay_assets.storage.sql_examples import load_examples  # noqa: E402
from essay_assets.storage.warehouse import Warehouse  # noqa: E402
from testkit.warehouse_rows import MODELS, merge, synthetic_video  # noqa: E402

DOCS = REPO / "docs" / "benchmarks.md"
HEADING = "## Warehouse"
RUN_SIZE = 100


def load(warehouse: Warehouse, essays: int) -> dict[str, int]:
    start = datetime.now(timezone.utc) - timedelta(days=120)
    written = {}
    for run in range(0, essays, RUN_SIZE):
        parts = []
        for i in range(run, min(run + RUN_SIZE, essays)):
            model = MODELS[i % len(MODELS)]
            parts.append(synthetic_video(
                f"{i:011d}", created_at=start + timedelta(minutes=17 * i), model=model, calls=5,
                cost_usd_per_call=None if model.startswith("local/") else 0.001 * (1 + i % 7),
                words=2000 + (i * 37) % 9000, run_id=f"run-{run // RUN_SIZE}", revision=1 + (i % 10 == 0)))
        for table, rows in merge(parts).items():
            warehouse.write(table, rows)
            written[table] = written.get(table, 0) + len(rows)
        warehouse.write("failures", [{"failure_id": f"f{run}", "video_id": f"x{run:010d}", "stage": "transcript",
                                      "reason": "transcripts_disabled", "message": "...", "run_id": f"run-{run}",
                                      "failed_at": start + timedelta(minutes=17 * run)}])
    return written


def time_queries(connect, examples: dict[str, str], repeat: int) -> dict[str, float]:
    """Median wall time in ms of each query, each run on a fresh connection (as a CLI call is)."""
    timings = {}
    for name, sql in examples.items():
        samples = []
        for _ in range(repeat):
            started = time.perf_counter()
            with contextlib.closing(connect()) as con:
                con.execute(sql).fetchall()
            samples.append((time.perf_counter() - started) * 1000)
        timings[name] = statistics.median(samples)
    return timings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--essays", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-docs", action="store_true", help="print only; do not touch docs/benchmarks.md")
    args = parser.parse_args(argv)
    examples = load_examples()
    with tempfile.TemporaryDirectory() as tmp:
        warehouse = Warehouse(Path(tmp) / "warehouse", Path(tmp) / "essays.duckdb")
        started = time.perf_counter()
        written = load(warehouse, args.essays)
        load_s = time.perf_counter() - started
        segments = sum(warehouse.segment_count(t) for t in written)
        warehouse.ensure_database()
        database = str(warehouse.database_path)
        open_file = lambda: duckdb.connect(database, read_only=True)  # noqa: E731
        before = time_queries(warehouse.connect, examples, args.repeat)
        before_file = time_queries(open_file, examples, args.repeat)
        started = time.perf_counter()
        for table in list(written) + ["failures"]:
            warehouse.compact(table)
        compact_s = time.perf_counter() - started
        warehouse.sweep_retired(grace_s=0)
        after = time_queries(warehouse.connect, examples, args.repeat)
        after_file = time_queries(open_file, examples, args.repeat)
        check = warehouse.query("SELECT (SELECT count(*) FROM essays) AS essays, (SELECT count(*) FROM llm_calls) AS calls")

    lines = [
        f"{written['essays']:,} essay rows ({args.essays:,} videos, every 10th at prompt revision 2), "
        f"{written['llm_calls']:,} llm_calls, {written['videos']:,} videos and transcripts, written as "
        f"{segments:,} segments (one per table per {RUN_SIZE}-video run) in {load_s:.1f} s; compacting them took "
        f"{compact_s:.1f} s. Median of {args.repeat} runs, each on a fresh connection; "
        f"DuckDB {duckdb.__version__}, Python {platform.python_version()}, {platform.machine()}.",
        "",
        "| Query | Segments, in-memory (ms) | Segments, essays.duckdb (ms) | Compacted, in-memory (ms) "
        "| Compacted, essays.duckdb (ms) |",
        "|---|---:|---:|---:|---:|",
    ]
    lines += [f"| `{name}` | {before[name]:.0f} | {before_file[name]:.0f} | {after[name]:.0f} | {after_file[name]:.0f} |"
              for name in examples]
    table = "\n".join(lines)
    print(table)
    assert check == [{"essays": written["essays"], "calls": written["llm_calls"]}], check
    if not args.no_docs:
        write_docs(table)
    return 0


def write_docs(table: str) -> None:
    section = "\n".join([
        HEADING, "",
        "`.venv/bin/python bench/warehouse.py` loads synthetic rows through the real `Warehouse.write` path "
        "and times every query in `essay_assets/sql/examples.sql`.", "",
        table, "",
        "*Segments* is the state in the middle of a backfill: every run added one Parquet file per table, and each "
        "query (and each in-memory connection's view definitions) opens every file. *Compacted* is after "
        "`Warehouse.compact()` rewrote each table as one file, which the pipeline does by itself at the end of an "
        "`essay` step once a table has 48 segments. *In-memory* is the pipeline's and `essays sql`'s path "
        "(`Warehouse.connect()`: a fresh in-memory DuckDB that defines the views, then the query); *essays.duckdb* "
        "opens the user's database file read-only with plain duckdb and runs the same query through its stored "
        "views. Both times include opening the connection.", "",
    ])
    text = DOCS.read_text() if DOCS.exists() else "# Benchmarks\n\n"
    if HEADING in text:  # replace our own section, keep every other one (e.g. "Backfill")
        start = text.index(HEADING)
        following = text.find("\n## ", start + len(HEADING))
        text = text[:start] + section + (text[following + 1:] if following != -1 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    DOCS.parent.mkdir(parents=True, exist_ok=True)
    DOCS.write_text(text)
    print(f"\nwrote the {HEADING!r} section of {DOCS}")


if __name__ == "__main__":
    sys.exit(main())
