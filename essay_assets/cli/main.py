"""The `essays` command line: run, demo, add, status, ui, sql, export, delete."""

from __future__ import annotations

import argparse
import gc
import subprocess
import sys
import time
from pathlib import Path

from essay_assets.settings import Settings, SettingsError

EXAMPLES = """examples:
  essays demo                                  offline essay from the bundled sample
  essays run https://youtu.be/aR20FWCCjAs      one video, by URL or ID
  essays run "https://www.youtube.com/playlist?list=PL..."   the videos in a playlist's feed
  essays add dQw4w9WgXcQ                       register a partition without running it
  essays ui                                    Dagster UI + daemon on http://127.0.0.1:3000
  essays status                                which essays are current, stale, failed or missing
  essays sql "SELECT * FROM essay_metadata"    read-only SQL over the warehouse
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="essays", description="Essays from long-form video conversations.",
                                     epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="write essays for videos (IDs, video, playlist or channel URLs)")
    run.add_argument("videos", nargs="+")
    run.add_argument("--force-refresh", action="store_true", help="call the model again even if an answer is stored")
    run.add_argument("--verbose", action="store_true", help="print Dagster's log of the run, stack traces included")
    demo = commands.add_parser("demo", help="write an essay from the bundled sample transcript, offline")
    demo.add_argument("--verbose", action="store_true", help="print Dagster's log of the run, stack traces included")
    add = commands.add_parser("add", help="register videos as partitions without running")
    add.add_argument("videos", nargs="+")
    status = commands.add_parser("status", help="which essays are current, stale, failed or missing")
    status.add_argument("videos", nargs="*", help="videos to look at (default: every known video)")
    ui = commands.add_parser("ui", help="start the Dagster webserver and daemon")
    ui.add_argument("--port", type=int, default=3000)
    sql = commands.add_parser("sql", help="run read-only SQL over the warehouse")
    sql.add_argument("query")
    sql.add_argument("--format", choices=("table", "csv", "json"), default="table")
    export = commands.add_parser("export", help="write every table to Parquet files in DIR")
    export.add_argument("directory")
    delete = commands.add_parser("delete", help="delete videos: rows, files and partitions")
    delete.add_argument("videos", nargs="+")
    args = parser.parse_args(argv)

    from essay_assets.instance import InstanceUnavailable

    try:
        settings = Settings.from_env()
        return COMMANDS[args.command](args, settings)
    except InstanceUnavailable as exc:  # a full disk under DAGSTER_HOME, a database down
        print(f"essays {args.command}: {exc}", file=sys.stderr)
        return 2
    except (SettingsError, ValueError) as exc:
        print(f"essays: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a folder or file the user named (or the data dir) cannot be used
        where = f" {exc.filename}" if exc.filename else ""
        print(f"essays {args.command}: cannot use{where}: {exc.strerror or exc}. Check the path exists "
              f"and is writable (data dir: ESSAYS_DATA_DIR).", file=sys.stderr)
        return 2


def _parse_refs(refs: list[str], settings: Settings) -> list[str]:
    """Video IDs in the order given; a playlist or channel URL stands for the videos in its feed."""
    from essay_assets.intake.video_refs import (
        InvalidVideoReference,
        parse_feed_ref,
        parse_video_ref,
    )

    parsed: list[tuple[str, str] | str] = []  # per reference: a feed's (kind, id), or a video ID
    invalid: list[tuple[str, str]] = []
    for ref in refs:
        feed = parse_feed_ref(ref)
        try:
            parsed.append(feed if feed is not None else parse_video_ref(ref))
        except InvalidVideoReference as exc:
            invalid += exc.invalid
    if invalid:  # every bad reference at once, before any feed is fetched
        raise InvalidVideoReference(invalid)
    video_ids: list[str] = []
    for item in parsed:
        found = _videos_in_feed(*item, settings) if isinstance(item, tuple) else [item]
        video_ids += [v for v in found if v not in video_ids]
    return video_ids


def _videos_in_feed(kind: str, feed_id: str, settings: Settings) -> list[str]:
    from essay_assets.intake import feeds
    from essay_assets.intake.videos import write_video_metadata

    poll = feeds.poll_feed(feeds.FollowedFeed(kind, feed_id, feed_base=settings.youtube_feed_base))
    if not poll.ok:
        raise ValueError(f"Cannot read the {kind} {feed_id}'s feed: {poll.error}. Check the URL, or name its videos.")
    for entry in poll.entries:  # titles, channel and date for the front matter, as the feed sensor keeps them
        write_video_metadata(settings.raw_dir, entry, source="feed")
    print(f"{kind} {feed_id}: {len(poll.entries)} video(s) in its feed (YouTube lists the newest 15)", flush=True)
    return [entry.video_id for entry in poll.entries]


def cmd_run(args, settings: Settings, video_ids: list[str] | None = None) -> int:
    from essay_assets.cli.runner import run_videos_stoppable

    video_ids = video_ids or _parse_refs(args.videos, settings)
    if not video_ids:
        print("No videos to write about.", file=sys.stderr)
        return 1
    print(f"Writing {len(video_ids)} essay(s) with {settings.model}...", flush=True)
    verbose = getattr(args, "verbose", False)
    # Without --verbose Dagster's console log (every event, ~70 lines of stack per failed step)
    # stays in the run's log; the terminal gets one line per video.
    summary = run_videos_stoppable(video_ids, settings, force_refresh=getattr(args, "force_refresh", False),
                                   log_level="INFO" if verbose else "CRITICAL", dagster_events=verbose)
    for video_id, path in summary.essays.items():
        print(f"{video_id}: {path}")
    for video_id, message in summary.failures.items():
        print(f"{video_id}: FAILED at {' '.join(message.split())}", file=sys.stderr)
        if video_id in summary.not_recorded:
            print(f"{video_id}: {summary.not_recorded[video_id]}", file=sys.stderr)
    if summary.failures and not verbose:
        runs = ", ".join(summary.run_ids)
        print(f"Full log: run {runs} in the Dagster UI (essays ui, then Runs), or run again with --verbose.",
              file=sys.stderr)
    return 0 if summary.ok else 1


def cmd_demo(args, settings: Settings) -> int:
    from essay_assets.intake.sources import SAMPLE_VIDEO_ID

    code = cmd_run(args, settings, [SAMPLE_VIDEO_ID])
    if code == 0:
        print(f"Query it: essays sql \"SELECT * FROM essay_metadata WHERE \\\"youtubeVideoId\\\" = '{SAMPLE_VIDEO_ID}'\"")
    return code


def cmd_add(args, settings: Settings) -> int:
    from essay_assets.cli.runner import register_videos
    from essay_assets.instance import open_instance

    video_ids = _parse_refs(args.videos, settings)
    new = register_videos(open_instance(settings), video_ids)
    print(f"Registered {len(new)} new video(s); {len(video_ids) - len(new)} already known.")
    return 0


def cmd_status(args, settings: Settings) -> int:
    from essay_assets.cli.status import render_statuses, video_statuses
    from essay_assets.storage.warehouse import warehouse_for
    from essay_assets.writing.prompts import load_prompts

    warehouse = warehouse_for(settings)
    video_ids = _parse_refs(args.videos, settings) if args.videos else _known_videos(settings, warehouse)
    revision = load_prompts(prompts_dir=settings.prompts_dir).revision
    print(f"Current: prompt r{revision}, model {settings.model}")
    print(render_statuses(video_statuses(warehouse, video_ids, revision, settings.model)))
    return 0


def _known_videos(settings: Settings, warehouse) -> list[str]:
    """Registered partitions in their order, then videos only the warehouse remembers.

    Status only reads: when Dagster's instance cannot be opened (its disk full, say), the
    videos the warehouse remembers are still shown, after one line that says what is missing."""
    from essay_assets.defs.partitions import video_partitions
    from essay_assets.instance import InstanceUnavailable, open_instance

    try:
        registered = list(open_instance(settings).get_dynamic_partitions(video_partitions.name))
    except InstanceUnavailable as exc:
        print(f"essays status: {exc} Showing the videos the warehouse knows; videos registered but "
              "never run are not listed.", file=sys.stderr)
        registered = []
    remembered = {row["video_id"] for row in warehouse.query(
        "SELECT video_id FROM videos UNION SELECT video_id FROM essays UNION SELECT video_id FROM failures")}
    return registered + sorted(remembered - set(registered))


def cmd_ui(args, settings: Settings) -> int:
    from essay_assets.instance import (
        ensure_dagster_home,
        open_instance,
        write_workspace_file,
    )
    from essay_assets.library_warnings import python_warning_options

    home = ensure_dagster_home(settings)
    open_instance(settings).dispose()  # created and migrated under the lock before dagster dev opens it
    # A workspace file, not `-m`: it names the code location as `dagster dev -w workspace.yaml`
    # does, so both launchers share the schedule's and sensors' state (cursors included).
    command = [sys.executable, *python_warning_options(), "-m", "dagster", "dev", "-h", "127.0.0.1",
               "-p", str(args.port), "-w", str(write_workspace_file(home))]
    print(f"Dagster UI on http://127.0.0.1:{args.port} (DAGSTER_HOME={home})", flush=True)
    return _run_until_signal(command)


POLL_S = 0.2  # how often `essays ui` looks whether dagster dev has ended, or its grace period has
# dagster dev stops its webserver and then its daemon, giving each up to 60 s before killing it,
# and removes its temp files and sockets last: a shorter grace would kill it in the middle of that
# on a loaded machine (which the grace, once it really started, did) and leave them behind.
UI_STOP_GRACE_S = 130.0


def _run_until_signal(command: list[str], grace_s: float = UI_STOP_GRACE_S) -> int:
    """Run `dagster dev` in its own process group; SIGTERM/SIGINT are passed on and waited for.

    Killed with essays (the default SIGTERM action), dagster dev and its webserver, daemon and
    code server were left running and their gRPC sockets in /tmp; now dagster dev gets the
    signal, shuts its processes down and removes what it made. A group that does not end within
    the grace period is killed."""
    import os
    import signal

    child = subprocess.Popen(command, start_new_session=True)
    received: list[int] = []

    def forward(signum: int, _frame) -> None:
        received.append(signum)
        try:
            child.send_signal(signal.SIGINT if signum == signal.SIGINT else signal.SIGTERM)
        except ProcessLookupError:
            pass

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        # Poll, never block: a blocking wait() is resumed after the handler runs (PEP 475), so a
        # signal received during it never started the grace period, and a dagster dev slow to
        # stop (its own wait is 60 s per process) kept `essays ui` alive past it.
        give_up_at = None
        while True:
            try:
                code = child.wait(timeout=POLL_S)
                break
            except subprocess.TimeoutExpired:
                if received and give_up_at is None:
                    give_up_at = time.monotonic() + grace_s
                if give_up_at is not None and time.monotonic() >= give_up_at:
                    os.killpg(child.pid, signal.SIGKILL)
                    give_up_at = float("inf")  # killed: wait for the group's leader to be reaped
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        try:
            os.killpg(child.pid, signal.SIGTERM)  # anything of the group still alive
        except (ProcessLookupError, PermissionError):
            pass
    return 128 + received[0] if received else code


def cmd_sql(args, settings: Settings) -> int:
    from essay_assets.storage.sql import run_sql

    return run_sql(settings, args.query, args.format)


def cmd_export(args, settings: Settings) -> int:
    from essay_assets.storage.sql import ExportError, export_tables

    try:
        written = export_tables(settings, Path(args.directory))
    except ExportError as exc:  # a folder the user named that cannot take the files: a usage error
        print(f"essays export: {exc}", file=sys.stderr)
        return 2
    for path in written:
        print(path)
    return 0


def cmd_delete(args, settings: Settings) -> int:
    from essay_assets.cli.runner import runs_targeting
    from essay_assets.defs.partitions import video_partitions
    from essay_assets.instance import open_instance
    from essay_assets.intake.video_refs import parse_video_refs
    from essay_assets.storage.raw_store import RawStore
    from essay_assets.storage.warehouse import warehouse_for
    from essay_assets.writing.publishing import essay_files

    video_ids = parse_video_refs(args.videos)  # named videos only: never "whatever a feed lists today"
    instance = open_instance(settings)
    warehouse, store = warehouse_for(settings), RawStore(settings.raw_dir)
    # Nothing is deleted unless every named video can be: a deletion under a running run came
    # back (its ledger rows and answers written after the tombstone) and failed the whole run.
    known = set(instance.get_dynamic_partitions(video_partitions.name)) | {row["video_id"] for row in warehouse.query(
        "SELECT video_id FROM videos UNION SELECT video_id FROM essays UNION SELECT video_id FROM failures "
        "UNION SELECT video_id FROM llm_calls")}
    unknown = [v for v in video_ids if v not in known and not any(store.raw_dir.glob(f"*/{v}*.json"))
               and not (store.raw_dir / "llm_calls" / v).exists() and not essay_files(settings.essays_dir, v)]
    busy = runs_targeting(instance, video_ids)
    for video_id in unknown:
        print(f"essays: {video_id} is not a known video (no partition, rows or files); nothing deleted",
              file=sys.stderr)
    for video_id, run_id in busy.items():
        print(f"essays: {video_id} is being written by run {run_id}; wait for it to end (or stop it), "
              "then delete. Nothing deleted", file=sys.stderr)
    if unknown or busy:
        return 1
    for video_id in video_ids:
        warehouse.delete_video(video_id)
        files = store.delete_video(video_id)
        for path in essay_files(settings.essays_dir, video_id):
            path.unlink()
            files += 1
        if instance.has_dynamic_partition(video_partitions.name, video_id):
            instance.delete_dynamic_partition(video_partitions.name, video_id)
        print(f"{video_id}: deleted rows, {files} file(s) and the partition")
    return 0


COMMANDS = {"run": cmd_run, "demo": cmd_demo, "add": cmd_add, "status": cmd_status, "ui": cmd_ui, "sql": cmd_sql,
            "export": cmd_export, "delete": cmd_delete}

def console_main() -> None:
    """The `essays` executable: main(), then a quick exit.

    After a run, Python's shutdown garbage collection walks every object litellm, Dagster and
    the embedded model created: 1.2-1.7 s of the demo spent after the essay was written.
    Freezing them first skips that walk; files and connections are already closed, and the
    process's memory is returned to the OS at exit either way."""
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    gc.freeze()
    sys.exit(code)

