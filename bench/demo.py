"""Benchmark of the README's first command: `essays demo` on a fresh data dir.

Reports total wall time, time inside model calls (sum of llm_calls.response_time_ms: the
embedded server takes one call at a time, so the sum is the model's busy time) and the rest
as pipeline overhead (interpreter start, imports, Dagster run, planning, writing). Then a
second run over the unchanged sample, which must reuse the stored answer.

    .venv/bin/python bench/demo.py [--runs 3]

Prints one column per fresh demo and the median (the run with the median value of that row).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from essay_assets.settings import Settings
from essay_assets.storage.warehouse import Warehouse


def run_demo(data_dir: Path) -> float:
    env = {**os.environ, "ESSAYS_DATA_DIR": str(data_dir), "DAGSTER_HOME": str(data_dir / "dagster_home")}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "essay_assets.cli", "demo"], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def measure_once() -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        first = run_demo(data_dir)
        settings = Settings.from_env({"ESSAYS_DATA_DIR": str(data_dir)})
        warehouse = Warehouse(settings.warehouse_dir, settings.database_path)
        calls = warehouse.query(
            "SELECT count(*) AS calls, sum(response_time_ms) / 1000.0 AS model_s, sum(input_tokens) AS input_tokens,"
            " sum(output_tokens) AS output_tokens FROM llm_calls")[0]
        second = run_demo(data_dir)
        calls_after = warehouse.query("SELECT count(*) AS calls FROM llm_calls")[0]["calls"]
    overhead = first - calls["model_s"]
    return {"wall_s": first, "model_s": calls["model_s"], "calls": calls["calls"],
            "input_tokens": calls["input_tokens"], "output_tokens": calls["output_tokens"],
            "overhead_s": overhead, "overhead_pct": 100 * overhead / first,
            "second_s": second, "second_new_calls": calls_after - calls["calls"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3,
                        help="fresh demos to run (the model's time varies by ±10 s between runs)")
    runs = [measure_once() for _ in range(parser.parse_args().runs)]
    print("| measure | " + " | ".join(f"run {i + 1}" for i in range(len(runs))) + " | median |")
    print("|---|" + "---|" * (len(runs) + 1))

    def row(label, cell, key):
        print(f"| {label} | " + " | ".join(cell(r) for r in runs) + f" | {cell(_median_run(runs, key))} |")

    row("demo wall time, fresh data dir", lambda r: f"{r['wall_s']:.1f} s", "wall_s")
    row("time inside model calls", lambda r: f"{r['model_s']:.1f} s ({r['calls']} calls, "
        f"{r['input_tokens']} in / {r['output_tokens']} out tokens)", "model_s")
    row("pipeline overhead (wall - model)", lambda r: f"{r['overhead_s']:.1f} s ({r['overhead_pct']:.1f} %)", "overhead_pct")
    row("second demo, unchanged sample", lambda r: f"{r['second_s']:.1f} s, {r['second_new_calls']} new calls", "second_s")


def _median_run(runs: list[dict], key: str) -> dict:
    return sorted(runs, key=lambda r: r[key])[len(runs) // 2]


if __name__ == "__main__":
    main()
