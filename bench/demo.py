"""Benchmark of the README's first command: `essays demo` on a fresh data dir.

Reports total wall time, time inside model calls (sum of llm_calls.response_time_ms: the
embedded server takes one call at a time, so the sum is the model's busy time) and the rest
as pipeline overhead (interpreter start, imports, Dagster run, planning, writing). Then a
second run over the unchanged sample, which must reuse the stored answer.

    .venv/bin/python bench/demo.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from essay_assets.settings import Settings
from essay_assets.warehouse import Warehouse


def run_demo(data_dir: Path) -> float:
    env = {**os.environ, "ESSAYS_DATA_DIR": str(data_dir), "DAGSTER_HOME": str(data_dir / "dagster_home")}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "essay_assets.cli", "demo"], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
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
    print("| measure | value |\n|---|---|")
    print(f"| demo wall time (fresh data dir) | {first:.1f} s |")
    print(f"| time inside model calls ({calls['calls']} calls, {calls['input_tokens']} in / {calls['output_tokens']} out tokens) | {calls['model_s']:.1f} s |")
    print(f"| pipeline overhead (wall - model) | {overhead:.1f} s ({100 * overhead / first:.1f}% of total) |")
    print(f"| second demo, unchanged sample | {second:.1f} s, {calls_after - calls['calls']} new model calls |")


if __name__ == "__main__":
    main()
