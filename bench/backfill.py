"""Backfill benchmark: 100 videos, a loopback model answering each call after 2 s, 8 calls
at once. Ways to write the same 100 essays, measured side by side in one run:

  (a) `essays run` over the 100 (the CLI, as a subprocess; one in-process Dagster run)
  (b) a backfill launched through a real `dagster dev` over GraphQL, as the UI launches it
  (c) a plain sequential Python loop: read transcript -> litellm.completion -> write file
  (d) the same backfill again over the unchanged 100 (everything should be reused)
  (e) bench/bare_prototype.py: the same four-asset single-run design with nothing else (no
      checks, warehouse, ledger or metadata), litellm imported inside the run (e1) or with the
      code, before the run's clock starts (e2): what the design costs apart from essay_assets

The physical bound is N * delay / concurrency = 100 * 2 / 8 = 25 s.

Video titles: (a) asks oEmbed for each video's title at a refused port (each lookup fails at once),
or with `--oembed-latency S` at a loopback oEmbed answering every title after S seconds, as
YouTube's does after a round trip.

What quote verification adds to the run (issue #13): `--quotes N` makes (a) two variants, run
alternately on identical data, each with its own loopback model. (a_quoted): every essay carries
N quotations of its transcript (testkit/openai_stub.py `QuotingEssay`: half genuine runs of 8-15
words, half altered), in quotation marks; (a_plain): the same sentences without the marks, so
there is nothing to verify (and no transcript index is built). Both run with
ESSAYS_QUOTE_POLICY=unquote (--quote-policy: `repair` adds a re-write call per section holding an
altered quotation, which is model time, not verification). Besides wall and CPU, each run's step
durations (STEP_START -> STEP_SUCCESS in the run's event log) are read from its Dagster
instance: the `essay` step and the `essay_checks` step are where verification sits on the
critical path (under `unquote`, llm_response verifies nothing), and they are far less noisy
than the run's wall, which the model's latency moves by seconds.

    .venv/bin/python bench/backfill.py --only a --words 20000 --quotes 30 --repeats 3

    .venv/bin/python bench/backfill.py [--videos 100] [--delay 2] [--postgres] [--keep]
    .venv/bin/python bench/backfill.py --only bd --run-size all 25 10   # (b) and (d) per ESSAYS_RUN_SIZE

`--run-size` repeats (b) (and (d)) once per value, one after the other in the same invocation, each
with its own data dir, DAGSTER_HOME and `dagster dev` started with that ESSAYS_RUN_SIZE (Dagster reads
the backfill policy when it loads the code): `all` is one run for the backfill, 25 is runs of 25 videos.

With --postgres, (a) and (b) (each run size) also run with the Dagster instance in PostgreSQL (a
server from testkit/postgres.py, a fresh database each), alternating with the SQLite runs: (a_pg), (b_pg);
with --baseline as well, the baseline's (a) runs on PostgreSQL too (a_base_pg).

Prints a markdown table (and writes it, with the raw numbers, to --out as JSON + .md), and for
(a) and (e) where each run's wall went: every step's span, read from the run's event log.
(a), (b) and (e) use separate data dirs and DAGSTER_HOMEs so none reuses another's answers.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from testkit.dagster_dev import (  # noqa: E402
    ESSAY_ASSETS,
    DagsterDev,
    prepare_dagster_home,
)
from testkit.openai_stub import LoopbackLLM, QuotingEssay  # noqa: E402
from testkit.postgres import PostgresServer  # noqa: E402
from testkit.processes import process_group_cpu_s  # noqa: E402
from testkit.synthetic_transcripts import synthetic_snippets  # noqa: E402
from testkit.youtube_feed_server import YouTubeFeedServer  # noqa: E402

MODEL = "openai/gpt-4o"
# (e)'s two variants: LITELLM_AT_LOAD, and where that puts litellm's import
BARE_VARIANTS = {"e1": ("0", "in the run"), "e2": ("1", "with the code, before the run")}
# --quotes: (a)'s two variants, and whether their essays put the quotations in quotation marks
QUOTE_VARIANTS = {"a_plain": False, "a_quoted": True}
# Steps of an `essays run` whose durations the quote table shows: where verification happens
QUOTE_STEPS = ("llm_response", "essay", "essay_checks")
# Where a run's wall goes, for (a) and (e): each step's span, in the order the run takes them
# (the bare prototype has no checks). What no step holds is start-up, run creation and exit.
WALL_STEPS = ("transcript", "transcript_transcript_is_usable", "essay_prompt", "llm_response", "essay",
              "essay_checks")


def video_ids(n: int) -> list[str]:
    return [f"bench{i:06d}" for i in range(n)]  # 11 characters, like a YouTube ID


def make_data_dir(path: Path, ids: list[str], words: int) -> Path:
    (path / "transcripts").mkdir(parents=True, exist_ok=True)
    for seed, video_id in enumerate(ids):
        (path / "transcripts" / f"{video_id}.json").write_text(json.dumps(synthetic_snippets(words, seed)))
    return path


def pipeline_env(data: Path, home: Path, api_base: str, concurrency: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ESSAYS_", "DAGSTER_"))}
    env.pop("OPENROUTER_API_KEY", None)
    return {**env, "ESSAYS_DATA_DIR": str(data), "DAGSTER_HOME": str(home), "ESSAYS_MODEL": MODEL,
            "ESSAYS_API_BASE": api_base, "OPENAI_API_KEY": "fake", "ESSAYS_OEMBED_URL": "http://127.0.0.1:9/oembed",
            "ESSAYS_LLM_CONCURRENCY": str(concurrency), "ESSAYS_YOUTUBE_MIN_INTERVAL_S": "0",
            "DAGSTER_DISABLE_TELEMETRY": "1", "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "PYTHONPATH": str(ROOT)}


def run_child(command: list[str], env: dict[str, str], cwd: Path, log: Path) -> dict:
    """Run a child to completion; its own wall time, CPU (with its children) and peak RSS."""
    started = time.monotonic()
    with open(log, "wb") as out:
        proc = subprocess.Popen(command, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - started
    if proc.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
        raise SystemExit(f"{' '.join(command[:4])}... exited {proc.returncode}:\n{tail}")
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "user_s": usage.ru_utime,
            "sys_s": usage.ru_stime, "maxrss_mb": usage.ru_maxrss / 1024}


def step_durations(home: Path) -> dict[str, float]:
    """Seconds from each step's first STEP_START to its last STEP_SUCCESS, in the one run of
    this DAGSTER_HOME, read from the run's event log through Dagster's public instance API."""
    import dagster as dg

    # The instance's event log (essay_assets/instance/event_log.py) finds its files by DAGSTER_HOME.
    previous_home, os.environ["DAGSTER_HOME"] = os.environ.get("DAGSTER_HOME"), str(home)
    instance = dg.DagsterInstance.from_config(str(home))
    try:
        runs = instance.get_runs()
        if len(runs) != 1:
            raise SystemExit(f"{home}: expected one run, found {len(runs)}")
        starts: dict[str, float] = {}
        ends: dict[str, float] = {}
        for entry in instance.all_logs(runs[0].run_id, of_type={dg.DagsterEventType.STEP_START,
                                                                  dg.DagsterEventType.STEP_SUCCESS}):
            if entry.dagster_event.event_type == dg.DagsterEventType.STEP_START:
                starts.setdefault(entry.step_key, entry.timestamp)
            else:
                ends[entry.step_key] = entry.timestamp
        return {step: ends[step] - started for step, started in starts.items() if step in ends}
    finally:
        instance.dispose()
        if previous_home is None:
            os.environ.pop("DAGSTER_HOME", None)
        else:
            os.environ["DAGSTER_HOME"] = previous_home


def essays_written(essays_dir: Path, ids: list[str]) -> int:
    return sum(1 for v in ids if (essays_dir / f"{v}.md").exists())


# ---- (c) the plain loop, run as a child: `backfill.py --sequential DATA API_BASE` ----------
def sequential_worker(data: Path, api_base: str) -> None:
    import litellm  # part of what the simple script pays for

    out = data / "essays"
    out.mkdir(parents=True, exist_ok=True)
    for path in sorted((data / "transcripts").glob("*.json")):
        text = " ".join(s["text"] for s in json.loads(path.read_text()))
        started = time.monotonic()
        response = litellm.completion(model=MODEL, api_base=api_base, api_key="fake", max_tokens=1200, messages=[
            {"role": "system", "content": "You are the third guest of this conversation. Write an essay."},
            {"role": "user", "content": f"<transcript>\n{text}\n</transcript>"}])
        usage = response.usage
        (out / f"{path.stem}.md").write_text(
            f"---\nyoutubeVideoId: {path.stem}\nllmModel: {MODEL}\n"
            f"responseTimeMs: {int((time.monotonic() - started) * 1000)}\n"
            f"inputTokens: {usage.prompt_tokens}\noutputTokens: {usage.completion_tokens}\n---\n"
            + response.choices[0].message.content)


# ---- (b) and (d): backfills through dagster dev ---------------------------------------------
def run_size_arg(value: str) -> str:
    """One --run-size value: `all` or a whole number from 1 (what ESSAYS_RUN_SIZE accepts)."""
    if value.strip().lower() == "all":
        return "all"
    if not value.strip().isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"a run size is `all` or a whole number from 1, got {value!r}")
    return str(int(value))


def scenario_key(scenario: str, run_size: str) -> str:
    """`b` / `d` for one run per backfill (the default, as before), `b@25` for runs of 25 videos."""
    return scenario if run_size == "all" else f"{scenario}@{run_size}"


def timed_backfill(dev: DagsterDev, ids: list[str], essays_dir: Path | None, timeout_s: float,
                   also_count: set[int] = frozenset()) -> dict:
    """Launch a backfill over GraphQL and time it; the CPU is that of every process of the
    deployment (webserver, daemon, code server, run workers, and `also_count`'s process groups:
    the PostgreSQL server), from launch to the backfill's end."""
    groups = dev.process_groups | set(also_count)
    cpu_before = process_group_cpu_s(groups)
    started = time.monotonic()
    backfill_id = dev.launch_backfill(ids, ESSAY_ASSETS)
    last_essay = None
    status = None
    next_status_poll = 0.0
    deadline = started + timeout_s
    while time.monotonic() < deadline:
        now = time.monotonic()
        if essays_dir is not None and last_essay is None and essays_written(essays_dir, ids) == len(ids):
            last_essay = now - started
        if now >= next_status_poll:
            status = dev.backfill(backfill_id)["status"]
            next_status_poll = now + 1.0
            if status in ("COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED", "COMPLETED"):
                break
        time.sleep(0.2)
    complete = time.monotonic() - started
    cpu_s = process_group_cpu_s(groups) - cpu_before
    runs = dev.backfill_runs(backfill_id)
    if status != "COMPLETED_SUCCESS":
        print(dev.describe_backfill_runs(backfill_id)[-8000:], file=sys.stderr)
        print(dev.log_tail(60), file=sys.stderr)
        raise SystemExit(f"backfill {backfill_id} ended {status} after {complete:.0f} s")
    timed = [r for r in runs if r.get("startTime") and r.get("endTime")]
    durations = [r["endTime"] - r["startTime"] for r in timed]
    queued = [r["startTime"] - r["creationTime"] for r in runs if r.get("startTime") and r.get("creationTime")]
    # Runs of a multi-run backfill overlap: their summed durations are not a wall time, the span is.
    span = max(r["endTime"] for r in timed) - min(r["startTime"] for r in timed) if timed else None
    return {"backfill_id": backfill_id, "status": status, "launch_to_last_essay_s": last_essay,
            "launch_to_complete_s": complete, "runs": len(runs), "run_duration_s": sum(durations),
            "runs_span_s": span, "cpu_s": cpu_s,
            "run_created_to_started_s": max(queued) if queued else None, "run_ids": [r["runId"] for r in runs]}


def knows_postgres(checkout: Path) -> bool:
    """Whether a checkout's settings read ESSAYS_POSTGRES_URL (it came with issue #15)."""
    return "ESSAYS_POSTGRES_URL" in (checkout / "essay_assets" / "settings.py").read_text()


def code_stamp() -> float:
    """Newest mtime of the package's code: each Dagster run loads the code afresh, so an edit
    between (b) and (d) changes plans and fingerprints, and (d) would rightly call the model again."""
    return max(path.stat().st_mtime for path in (ROOT / "essay_assets").rglob("*") if path.suffix in (".py", ".md"))


def load() -> str:
    """1/5/15-minute load average: other work on the machine inflates every wall time."""
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


def fmt(value, digits=1):
    return "—" if value is None else f"{value:.{digits}f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=100)
    parser.add_argument("--delay", type=float, default=2.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--words", type=int, default=600, help="words per synthetic transcript")
    parser.add_argument("--only", default="abcde", help="which scenarios to run, e.g. 'bd'")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "backfill")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder (logs, data)")
    parser.add_argument("--baseline", type=Path, metavar="CHECKOUT",
                        help="also run (a) with another checkout's essay_assets (e.g. a worktree of an older "
                             "commit), alternating with this one, so a change is judged side by side in one run")
    parser.add_argument("--repeats", type=int, default=1, help="how many times to run (a) (and its baseline)")
    parser.add_argument("--run-size", nargs="+", type=run_size_arg, default=["all"], metavar="SIZE",
                        help="ESSAYS_RUN_SIZE values for (b) and (d): `all` (one run) and/or videos per run, "
                             "e.g. --run-size all 25 10")
    parser.add_argument("--postgres", action="store_true",
                        help="also run (a) and (b) with the instance in PostgreSQL, side by side with SQLite")
    parser.add_argument("--quotes", type=int, default=0, metavar="N",
                        help="(a) as two variants, alternating: essays with N quotations of the transcript "
                             "(a_quoted) and the same sentences unquoted (a_plain)")
    parser.add_argument("--quote-policy", default="unquote", choices=("unquote", "repair", "fail"),
                        help="ESSAYS_QUOTE_POLICY of both --quotes variants (default: unquote)")
    parser.add_argument("--quote-seed", type=int, default=0, help="seed of the --quotes quotations")
    parser.add_argument("--oembed-latency", type=float, default=None, metavar="S",
                        help="(a) looks titles up from a loopback oEmbed that answers each after S seconds (a "
                             "round trip to YouTube), instead of a refused port")
    parser.add_argument("--sequential", nargs=2, metavar=("DATA", "API_BASE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sequential:
        sequential_worker(Path(args.sequential[0]), args.sequential[1])
        return 0

    n, ids = args.videos, video_ids(args.videos)
    bound = n * args.delay / args.concurrency
    tmp = Path(tempfile.mkdtemp(prefix="essays-bench-"))
    print(f"bench: {n} videos, model delay {args.delay} s, concurrency {args.concurrency}, bound {bound:.1f} s; "
          f"work in {tmp}", flush=True)
    results: dict[str, dict] = {}
    llm = LoopbackLLM(delay_s=args.delay).start()
    # --quotes: one model per variant; both write the same essays, with or without the marks
    quoting = {label: LoopbackLLM(delay_s=args.delay, reply_text=QuotingEssay(args.quotes, quoted=quoted,
                                                                              seed=args.quote_seed)).start()
               for label, quoted in QUOTE_VARIANTS.items()} if args.quotes else {}
    postgres = PostgresServer().start() if args.postgres else None
    oembed = None
    if args.oembed_latency is not None:  # titles for every video, each after a round trip
        oembed = YouTubeFeedServer().start()
        oembed.oembed.update({v: {"title": f"Title of {v}", "author_name": "A channel"} for v in ids})
        oembed.oembed_delay_s = args.oembed_latency

    def storage_env(label: str) -> dict[str, str]:
        """The instance in a fresh PostgreSQL database for the *_pg scenarios; SQLite otherwise."""
        return {"ESSAYS_POSTGRES_URL": postgres.create_database(label)} if label.endswith("_pg") else {}

    def database_groups(label: str) -> set[int]:
        """The PostgreSQL server's process group, whose CPU the *_pg scenarios also cost."""
        return {postgres.proc.pid} if postgres is not None and label.split("@")[0].endswith("_pg") else set()

    try:
        if "a" in args.only:
            baseline = [("a_base", args.baseline.resolve())] if args.baseline else []
            # With --postgres, the baseline runs on PostgreSQL too, if it knows the setting at all
            # (an older checkout would silently run on SQLite under a PostgreSQL label).
            on_postgres = [(f"{label}_pg", checkout) for label, checkout in baseline + [("a", ROOT)]
                           if knows_postgres(checkout)] if postgres else []
            checkouts = baseline + [("a", ROOT)] + on_postgres
            if quoting:  # each checkout's plain and quoted runs side by side: (a_plain, a_quoted[, *_base])
                checkouts = [(label + suffix, checkout) for suffix, checkout in
                             [("", ROOT)] + ([("_base", args.baseline.resolve())] if args.baseline else [])
                             for label in QUOTE_VARIANTS]
            for repeat in range(args.repeats):
                # --quotes: each variant goes first in every other repeat, so drift hits both alike
                order = checkouts[::-1] if quoting and repeat % 2 else checkouts
                for label, checkout in order:
                    work = tmp / f"{label}{repeat}"
                    data = make_data_dir(work / "data", ids, args.words)
                    home = work / "dagster_home"  # the CLI writes its own checkout's dagster.yaml there
                    model = quoting.get(label.removesuffix("_base"), llm)
                    before = model.call_count
                    env = {**pipeline_env(data, home, model.base_url, args.concurrency), "PYTHONPATH": str(checkout),
                           **storage_env(label),
                           **({"ESSAYS_QUOTE_POLICY": args.quote_policy} if quoting else {}),
                           **({"ESSAYS_OEMBED_URL": oembed.oembed_url} if oembed else {})}
                    db_before = process_group_cpu_s(database_groups(label))
                    r = run_child([sys.executable, "-m", "essay_assets.cli", "run", *ids], env, work, work / "cli.log")
                    if database_groups(label):  # what the run cost the database server too
                        r["db_cpu_s"] = process_group_cpu_s(database_groups(label)) - db_before
                    r.update(calls=model.call_count - before, essays=essays_written(data / "essays", ids), load=load(),
                             checkout=str(checkout))
                    if not label.endswith("_pg"):  # (the bench cannot open a PostgreSQL instance's log)
                        r["steps"] = step_durations(home)
                    if quoting:
                        r.update(quotes=args.quotes, quote_policy=args.quote_policy,
                                 published_quotations=published_quotations(data / "essays", ids))
                    results[label if args.repeats == 1 else f"{label}#{repeat + 1}"] = r
                    print(f"({label}) essays run, {checkout}: {r}", flush=True)
        if "c" in args.only:
            data = make_data_dir(tmp / "c" / "data", ids, args.words)
            before = llm.call_count
            env = pipeline_env(data, tmp / "c" / "unused_home", llm.base_url, args.concurrency)
            r = run_child([sys.executable, str(Path(__file__).resolve()), "--sequential", str(data), llm.base_url],
                          env, tmp / "c", tmp / "c" / "loop.log")
            r.update(calls=llm.call_count - before, essays=essays_written(data / "essays", ids), load=load())
            results["c"] = r
            print(f"(c) sequential loop: {r}", flush=True)
        if "e" in args.only:
            for variant, (at_load, where) in BARE_VARIANTS.items():
                data = make_data_dir(tmp / variant / "data", ids, args.words)
                env = {**pipeline_env(data, prepare_dagster_home(tmp / variant / "dagster_home"), llm.base_url,
                                      args.concurrency), "LITELLM_AT_LOAD": at_load}
                result_path = tmp / variant / "result.json"
                before = llm.call_count
                r = run_child([sys.executable, str(ROOT / "bench" / "bare_prototype.py"), str(data), llm.base_url,
                               str(args.concurrency), str(result_path)], env, tmp / variant, tmp / variant / "run.log")
                r.update(json.loads(result_path.read_text()), calls=llm.call_count - before,
                         essays=essays_written(data / "essays", ids), load=load(),
                         steps=step_durations(tmp / variant / "dagster_home"))
                results[variant] = r
                print(f"({variant}) bare prototype, litellm imported {where}: {r}", flush=True)
        backfills = [(run_size, storage) for run_size in dict.fromkeys(args.run_size)
                     for storage in ([""] + (["_pg"] if postgres else []))]
        for run_size, storage in backfills if ("b" in args.only or "d" in args.only) else ():
            b_key, d_key = scenario_key("b" + storage, run_size), scenario_key("d" + storage, run_size)
            work = tmp / b_key.replace("@", "_")
            data = make_data_dir(work / "data", ids, args.words)
            env = {**pipeline_env(data, work / "dagster_home", llm.base_url, args.concurrency),
                   "ESSAYS_RUN_SIZE": run_size, **storage_env(b_key.split("@")[0])}
            with DagsterDev(home=work / "dagster_home", cwd=work, env=env, log_path=work / "dagster_dev.log") as dev:
                t = time.monotonic()
                dev.add_partitions(ids)
                print(f"added {n} partitions over GraphQL in {time.monotonic() - t:.1f} s", flush=True)
                code_before = code_stamp()
                before = llm.call_count
                r = timed_backfill(dev, ids, data / "essays", timeout_s=900, also_count=database_groups(b_key))
                r.update(calls=llm.call_count - before, essays=essays_written(data / "essays", ids), load=load(),
                         run_size=run_size)
                results[b_key] = r
                print(f"({b_key}) backfill: {r}", flush=True)
                if "d" in args.only:
                    before = llm.call_count
                    r = timed_backfill(dev, ids, None, timeout_s=900, also_count=database_groups(b_key))
                    r.update(calls=llm.call_count - before, load=load(), code_changed=code_stamp() != code_before,
                             run_size=run_size)
                    if r["code_changed"]:
                        print("WARNING: essay_assets changed during (d): its model calls are not a reuse failure",
                              flush=True)
                    results[d_key] = r
                    print(f"({d_key}) second backfill: {r}", flush=True)
    finally:
        llm.stop()
        for model in quoting.values():
            model.stop()
        if postgres is not None:
            postgres.stop()
        if oembed is not None:
            oembed.stop()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)

    table = render_table(results, n, bound) + "\n\n" + render_steps_table(results)
    for suffix in ("", "_base") if quoting else ():
        table += "\n\n" + render_quote_table(results, n, args.quotes, args.quote_policy, suffix)
    print("\n" + table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().isoformat(timespec="seconds")
    args.out.with_suffix(".json").write_text(json.dumps(
        {"when": stamp, "videos": n, "delay_s": args.delay, "concurrency": args.concurrency, "bound_s": bound,
         "cpus": os.cpu_count(), "words": args.words, "quotes": args.quotes, "results": results}, indent=1))
    args.out.with_suffix(".md").write_text(table + "\n")
    return 0


def render_table(results: dict[str, dict], n: int, bound: float) -> str:
    rows = ["| scenario | measure | wall (s) | per essay (s) | × bound | CPU s / essay | peak RSS (MB) | model calls "
            "| load avg after (1/5/15 min) |",
            "|---|---|---|---|---|---|---|---|---|"]

    def row(label, measure, wall, cpu=None, rss=None, calls=None, per=True, load=""):
        per_essay = fmt(wall / n, 2) if per and wall is not None else "—"
        ratio = f"{wall / bound:.2f}×" if wall is not None else "—"
        rows.append(f"| {label} | {measure} | {fmt(wall)} | {per_essay} | {ratio} | "
                    f"{fmt(None if cpu is None else cpu / n, 3)} | {fmt(rss, 0)} | {'—' if calls is None else calls} | {load} |")

    def child_row(label, r):  # (a), (c) and (e): a child process timed with its own CPU and memory
        if "db_cpu_s" in r:  # on PostgreSQL the database server's work is part of the cost
            row(label, "process start → exit (CPU: the process + the PostgreSQL server)", r["wall_s"],
                r["cpu_s"] + r["db_cpu_s"], r["maxrss_mb"], r["calls"], load=r["load"])
        else:
            row(label, "process start → exit", r["wall_s"], r["cpu_s"], r["maxrss_mb"], r["calls"], load=r["load"])

    for key, r in results.items():
        scenario = key.split("#")[0]
        if "quotes" in r:
            quoted = ("quotations in quotation marks" if QUOTE_VARIANTS[scenario.removesuffix("_base")]
                      else "quotations' sentences, unquoted")
            repeat = f" #{key.split('#')[1]}" if "#" in key else ""
            child_row(f"({scenario}{repeat}) `essays run` (CLI), {r['quotes']} {quoted}, "
                      f"{Path(r['checkout']).name}", r)
        elif scenario in ("a", "a_base", "a_pg", "a_base_pg"):
            repeat = f" #{key.split('#')[1]}" if "#" in key else ""
            which = ("baseline " + Path(r["checkout"]).name if scenario.startswith("a_base") else "this checkout")
            pg = scenario.endswith("_pg")
            child_row(f"(a{'_pg' if pg else ''}{repeat}) `essays run` (CLI), {which}"
                      f"{', instance in PostgreSQL' if pg else ''}", r)
    def runs_rows(r):
        if r["runs"] == 1:
            row("", "the run itself (1 run)", r["run_duration_s"])
        else:  # overlapping runs: the span is the wall time, the sum what the runs took together
            row("", f"first run start → last run end ({r['runs']} runs)", r.get("runs_span_s"))
            row("", f"the runs' durations summed ({r['runs']} runs)", r["run_duration_s"], per=False)

    def variant_label(key):
        """`b_pg@25` -> ", instance in PostgreSQL, ESSAYS_RUN_SIZE=25"."""
        scenario, _, run_size = key.partition("@")
        return ((", instance in PostgreSQL" if scenario.endswith("_pg") else "")
                + (f", ESSAYS_RUN_SIZE={run_size}" if run_size else ""))

    for key, b in results.items():
        if key.split("@")[0] in ("b", "b_pg"):
            row(f"({key}) UI backfill (`dagster dev`){variant_label(key)}", "launch → last essay file",
                b["launch_to_last_essay_s"], calls=b["calls"], load=b["load"])
            # CPU: every process of the deployment (and the PostgreSQL server) from launch to the end.
            row("", "launch → COMPLETED_SUCCESS (CPU: all processes)", b["launch_to_complete_s"], b.get("cpu_s"))
            runs_rows(b)
    if "c" in results:
        child_row("(c) sequential Python loop", results["c"])
    for key, d in results.items():
        if key.split("@")[0] in ("d", "d_pg"):
            row(f"({key}) second backfill, unchanged{variant_label(key)}", "launch → COMPLETED_SUCCESS",
                d["launch_to_complete_s"], d.get("cpu_s"), calls=d["calls"], load=d["load"])
            runs_rows(d)
    for variant, (_, where) in BARE_VARIANTS.items():
        if variant in results:
            child_row(f"({variant}) bare prototype, litellm imported {where}", results[variant])
            row("", "the run itself (1 run)", results[variant]["run_duration_s"])
    return "\n".join(rows) + f"\n\nBound: {n} × delay / concurrency = {bound:.0f} s."


def render_steps_table(results: dict[str, dict]) -> str:
    """Where each (a) and (e) run's wall went: every step's span (first start to last success, from
    the run's event log), and what no step holds (process start-up, run creation, exit)."""
    rows = ["| scenario | wall (s) | " + " | ".join(f"`{step}`" for step in WALL_STEPS) + " | outside the steps |",
            "|---|---:|" + "---:|" * (len(WALL_STEPS) + 1)]
    for key, r in results.items():
        if "steps" in r:
            outside = r["wall_s"] - sum(r["steps"].values())
            rows.append(f"| ({key}) | {fmt(r['wall_s'])} | "
                        + " | ".join(fmt(r["steps"].get(step)) for step in WALL_STEPS) + f" | {fmt(outside)} |")
    return "Where the wall goes, in seconds per step:\n\n" + "\n".join(rows)


def published_quotations(essays_dir: Path, ids: list[str]) -> int:
    """Quotations the published essays carry in all (the quoted variant's verified ones)."""
    total = 0
    for video_id in ids:
        path = essays_dir / f"{video_id}.md"
        if path.exists():
            front = path.read_text().split("\n---", 1)[0]
            found = re.search(r"^quotesVerified: (\d+)", front, re.M)
            total += int(found.group(1)) if found else 0
    return total


def render_quote_table(results: dict[str, dict], n: int, quotes: int, policy: str, suffix: str = "") -> str:
    """Per --quotes variant of one checkout (`suffix` "_base": the --baseline one): each run, the
    mean and the minimum; then quoted - plain of both, and the critical path's added seconds (the
    llm_response, essay and essay_checks steps) as a share of the plain run's wall."""
    header = ("| variant | run | wall (s) | CPU s / essay | model calls / essay | " +
              " | ".join(f"{step} (s)" for step in QUOTE_STEPS) + " | quotations published |")
    rows = [header, "|" + "---|" * (6 + len(QUOTE_STEPS))]
    summary: dict[str, dict[str, dict[str, float]]] = {}
    measures = ("wall_s", "cpu_s", *QUOTE_STEPS)
    checkout = ""
    for variant in QUOTE_VARIANTS:
        label = variant + suffix
        runs = [r for key, r in results.items() if key.split("#")[0] == label]
        if not runs:
            return ""
        checkout = Path(runs[0]["checkout"]).name
        for number, r in enumerate(runs, 1):
            rows.append(f"| {label} | {number} | {r['wall_s']:.1f} | {r['cpu_s'] / n:.3f} | {r['calls'] / n:.2f} | "
                        + " | ".join(fmt(r["steps"].get(step), 2) for step in QUOTE_STEPS)
                        + f" | {r['published_quotations']} |")
        values = {m: [r[m] if m in r else r["steps"].get(m, float("nan")) for r in runs] for m in measures}
        summary[variant] = {"mean": {m: statistics.mean(v) for m, v in values.items()},
                            "min": {m: min(v) for m, v in values.items()}}
        for stat in ("mean", "min"):
            m = summary[variant][stat]
            rows.append(f"| **{label}** | {stat} of {len(runs)} | {m['wall_s']:.1f} | {m['cpu_s'] / n:.3f} | | "
                        + " | ".join(fmt(m[step], 2) for step in QUOTE_STEPS) + " | |")
    lines = []
    for stat in ("mean", "min"):
        q, p = summary["a_quoted"][stat], summary["a_plain"][stat]
        diff = {m: q[m] - p[m] for m in measures}
        rows.append(f"| **quoted − plain** | by the {stat} | {diff['wall_s']:+.1f} | {diff['cpu_s'] / n:+.3f} | | "
                    + " | ".join(f"{diff[step]:+.2f}" for step in QUOTE_STEPS) + " | |")
        critical = sum(diff[step] for step in QUOTE_STEPS)
        lines.append(f"by the {stat}: the steps {critical:+.2f} s = {critical / p['wall_s']:+.2%} of the plain run's "
                     f"wall ({p['wall_s']:.1f} s), of which essay + essay_checks "
                     f"{diff['essay'] + diff['essay_checks']:+.2f} s; the wall itself {diff['wall_s']:+.1f} s = "
                     f"{diff['wall_s'] / p['wall_s']:+.1%}; CPU {diff['cpu_s']:+.1f} s = {diff['cpu_s'] / p['cpu_s']:+.1%}")
    return ("\n".join(rows) + f"\n\n{checkout}: {n} essays, {quotes} quotations each, "
            f"ESSAYS_QUOTE_POLICY={policy}. Added by the quotations (quoted − plain, llm_response + essay + "
            "essay_checks): " + "; ".join(lines) + ". Target: under 1 %.")

if __name__ == "__main__":
    sys.exit(main())
