"""Where the CPU of one `essays run` goes, per category, sampled with py-spy.

Same setup as bench/backfill.py's (a) (synthetic transcripts, a LoopbackLLM answering after
--delay seconds, 8 calls at once), run under `py-spy record --gil`, so each sample is a moment
a thread held the interpreter lock: the CPU the run spends in Python and everything it calls
with the lock held. `--bare` profiles bench/bare_prototype.py (scenario e1) instead.

    pip install py-spy   # a profiler, not a dependency of the package
    .venv/bin/python bench/profile_run.py [--videos 1000] [--delay 0.1] [--bare] [--raw out.txt]
    .venv/bin/python bench/profile_run.py --summarize out.txt other.txt   # tables of saved profiles

Prints each category's share of the samples (first matching rule wins, in the order below).
Shares, not seconds: on a loaded box a thread holding the lock may wait for a core, which
inflates every category alike. Multiply by the CPU seconds bench/backfill.py measures.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from bench.backfill import make_data_dir, pipeline_env, video_ids  # noqa: E402
from testkit.dagster_dev import prepare_dagster_home  # noqa: E402
from testkit.openai_stub import LoopbackLLM  # noqa: E402

# (category, pattern over the whole stack), in priority order.
CATEGORIES = [
    ("litellm: import", r"litellm-import|<module> \(litellm"),
    ("Dagster: run creation (planned events)", r"_log_asset_planned_events"),
    ("Dagster: partition-key check in add_asset_metadata", r"get_partition_keys_in_range|get_dynamic_partitions|"
                                                           r"has_dynamic_partition"),
    ("Dagster: materialization events (build, serialize, store)", r"_log_materialization_or_observation|store_event|"
                                                                  r"DagsterEvent\.|log_dagster_event"),
    ("checks (essay checks, transcript check)", r"essay_checks|transcript_is_usable"),
    ("tokenizing (plans' token counts)", r"count_tokens|tiktoken|token_counter"),
    ("litellm: calls (request, response, its own cost)", r"litellm/|litellm_logging|openai/|httpx|aiohttp|_WorkItem"),
    ("raw store: JSON files", r"raw_store\.py|atomic_write_text"),
    ("oEmbed lookups", r"OEmbedLookups|oembed\.py"),
    ("quotes: index, verify, repair requests", r"quotes\.py|repair\.py"),
    ("essay: clean, render, write files", r"publish_essay|rendering\.py|cleanup\.py|publishing\.py"),
    ("warehouse", r"warehouse\.py"),
    ("ledger, metadata, other per-video code", r"essay_assets/(defs|model_calls|writing|intake|storage)"),
    ("start-up: imports, definitions, instance", r"importlib|build_definitions|open_instance"),
    ("Dagster: other run and step machinery", r"dagster"),
]


def summarize(raw: Path) -> tuple[int, collections.Counter]:
    counts: collections.Counter = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        total += int(n)
        name = next((name for name, pattern in CATEGORIES if re.search(pattern, stack)), "other")
        counts[name] += int(n)
    return total, counts


def table(raws: list[Path]) -> str:
    results = [summarize(raw) for raw in raws]
    rows = ["| category | " + " | ".join(raw.name for raw in raws) + " |", "|---|" + "---:|" * len(raws)]
    for name in [name for name, _ in CATEGORIES] + ["other"]:
        rows.append(f"| {name} | " + " | ".join(f"{100 * counts[name] / total:.1f} %" for total, counts in results)
                    + " |")
    rows.append("| samples | " + " | ".join(str(total) for total, _ in results) + " |")
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=1000)
    parser.add_argument("--delay", type=float, default=0.1)
    parser.add_argument("--bare", action="store_true", help="profile bench/bare_prototype.py (e1) instead")
    parser.add_argument("--raw", type=Path, help="keep py-spy's raw samples here")
    parser.add_argument("--summarize", nargs="+", type=Path, metavar="RAW", help="only print tables of saved samples")
    args = parser.parse_args()
    if args.summarize:
        print(table(args.summarize))
        return 0
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists():
        raise SystemExit("py-spy is not installed: pip install py-spy")
    tmp = Path(tempfile.mkdtemp(prefix="essays-profile-"))
    raw = args.raw or tmp / "profile.txt"
    ids = video_ids(args.videos)
    data = make_data_dir(tmp / "data", ids, 600)
    with LoopbackLLM(delay_s=args.delay) as llm:
        env = pipeline_env(data, tmp / "dagster_home", llm.base_url, 8)
        if args.bare:
            env |= {"DAGSTER_HOME": str(prepare_dagster_home(tmp / "dagster_home")), "LITELLM_AT_LOAD": "0"}
            target = [str(ROOT / "bench" / "bare_prototype.py"), str(data), llm.base_url, "8", str(tmp / "r.json")]
        else:
            target = ["-m", "essay_assets.cli", "run", *ids]
        command = [py_spy, "record", "--gil", "-r", "100", "-t", "--format", "raw", "-o", str(raw), "--",
                   sys.executable, *target]
        with open(tmp / "run.log", "wb") as log:
            subprocess.run(command, env=env, cwd=tmp, stdout=log, stderr=subprocess.STDOUT, check=True)
    print(table([raw]))
    if not args.raw:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
