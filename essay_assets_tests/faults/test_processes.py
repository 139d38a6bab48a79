"""Faults of processes: parallel first use, kill -9, Ctrl-C / SIGTERM, delete during a run, `essays ui` leftovers.

Real `essays` processes, real signals, a real Dagster instance and the loopback model, which
counts every request it receives."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

ROOT = Path(__file__).resolve().parents[2]


def essays(*args: str) -> list[str]:
    return [sys.executable, "-m", "essay_assets.cli", *args]


def start(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(essays(*args), cwd=os.environ["ESSAYS_DATA_DIR"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            **kwargs)


def finish(process: subprocess.Popen, timeout: float = 120) -> tuple[int, str, str]:
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate(timeout=10)
        pytest.fail(f"{process.args} did not finish within {timeout} s:\n{out}\n{err}")
    return process.returncode, out, err


def run_essays(*args: str, timeout: float = 180) -> tuple[int, str, str]:
    return finish(start(*args), timeout)


@pytest.mark.slow
def test_parallel_first_use_creates_one_working_instance(tmp_path: Path, data_dir: Path, monkeypatch):
    """8 `essays add` at once on a new data dir, 3 rounds: all exit 0, and later commands work."""
    for round_ in range(3):
        home = tmp_path / f"home{round_}"
        monkeypatch.setenv("DAGSTER_HOME", str(home))
        ids = [f"r{round_}parallel{i}" for i in range(8)]  # 11 characters each
        processes = [start("add", video_id) for video_id in ids]
        results = [finish(p) for p in processes]
        for code, out, err in results:
            assert code == 0, err
        code, out, err = run_essays("status")
        assert code == 0, err
        assert all(video_id in out for video_id in ids), out
        assert "more than one head" not in err


def wait_until(predicate, timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


def instance_runs():
    import dagster as dg

    with dg.DagsterInstance.get() as instance:
        return {run.run_id: run.status for run in instance.get_runs()}


def write_transcripts(data_dir: Path, ids: list[str]) -> None:
    from essay_assets_tests.support.chain import write_transcript

    for seed, video_id in enumerate(ids):
        write_transcript(data_dir, video_id, words=300, seed=seed)


SIGNAL_VIDEOS = [f"sigvideo{i:03d}" for i in range(4)]


@pytest.mark.slow
@pytest.mark.parametrize(("signum", "expected_code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_during_calls_stops_at_once_and_sends_nothing_new(data_dir: Path, llm_server, monkeypatch, signum,
                                                                 expected_code):
    """Ctrl-C / SIGTERM while the model answers: exit 130/143 within seconds, no request after the
    signal, the run CANCELED or FAILURE, and a re-run pays only for what was not answered."""
    write_transcripts(data_dir, SIGNAL_VIDEOS)
    monkeypatch.setenv("ESSAYS_LLM_CONCURRENCY", "1")  # one call at a time: some answered, one in flight, some not sent
    llm_server.delay_s = 3.0
    process = start("run", *SIGNAL_VIDEOS)
    try:
        wait_until(lambda: llm_server.call_count >= 1, 120, "the first model call")
        time.sleep(4)  # the first answers have come back, others are in flight
        sent_before = llm_server.call_count
        process.send_signal(signum)
        signalled = time.monotonic()
        code, out, err = finish(process, timeout=30)
        took = time.monotonic() - signalled
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    assert code == expected_code, (code, out, err[-3000:])
    assert took < 10, took
    time.sleep(8)  # the re-send used to come 6-8 s after the signal
    assert llm_server.call_count == sent_before, "a request went out after the signal"
    statuses = set(instance_runs().values())
    assert statuses <= {dg.DagsterRunStatus.CANCELED, dg.DagsterRunStatus.FAILURE}, statuses

    stored_before = stored_answers(data_dir)
    assert stored_before >= 1, "the answers received before the signal were not kept"
    llm_server.delay_s = 0
    sent_first = llm_server.call_count
    code, out, err = run_essays("run", *SIGNAL_VIDEOS)
    assert code == 0, err
    # The re-run sends exactly the requests whose answers were not stored: none is paid twice.
    assert llm_server.call_count - sent_first == stored_answers(data_dir) - stored_before


def stored_answers(data_dir: Path) -> int:
    """Paid answers the ledger keeps (RawStore.call_path), one per distinct request."""
    return len(list((data_dir / "raw" / "llm_calls").glob("*/*.json")))


@pytest.mark.slow
def test_runs_killed_during_llm_response_are_failed_and_free_their_pool_slots(data_dir: Path, llm_server):
    """kill -9 twice while the model answers (the `llm` pool has 2 slots): the next `essays run`
    is not blocked, makes its calls and completes; the killed runs show as FAILURE."""
    ids = ["killvideo01", "killvideo02", "killvideo03"]
    write_transcripts(data_dir, ids)
    llm_server.delay_s = 600  # never answers while the run lives
    for video_id in ids[:2]:
        sent = llm_server.call_count
        process = start("run", video_id)
        try:
            wait_until(lambda: llm_server.call_count > sent, 120, f"{video_id}'s model call")
        finally:
            process.kill()
            process.communicate(timeout=30)
    llm_server.delay_s = 0
    sent = llm_server.call_count
    code, out, err = run_essays("run", *ids, timeout=240)
    assert code == 0, err[-3000:]
    assert llm_server.call_count - sent >= 3  # the killed runs' calls were never answered: made now
    statuses = list(instance_runs().values())
    assert statuses.count(dg.DagsterRunStatus.FAILURE) == 2, statuses
    assert statuses.count(dg.DagsterRunStatus.SUCCESS) == 1, statuses


def deletions(data_dir: Path) -> int:
    from essay_assets.settings import Settings
    from essay_assets.storage.warehouse import warehouse_for

    return warehouse_for(Settings.from_env()).row_count("deletions")


def test_delete_of_an_unknown_video_fails_and_writes_no_tombstone(data_dir: Path):
    code, out, err = run_essays("delete", "neverseen01")
    assert code != 0
    assert "neverseen01 is not a known video" in err
    assert deletions(data_dir) == 0


@pytest.mark.slow
def test_delete_during_a_run_is_refused_naming_the_run_and_later_stays_deleted(data_dir: Path, llm_server):
    ids = ["delvideo001", "delvideo002"]
    write_transcripts(data_dir, ids)
    llm_server.delay_s = 600  # the run stays in llm_response until it is stopped
    process = start("run", *ids)
    try:
        wait_until(lambda: llm_server.call_count >= 1, 120, "the run's model calls")
        code, out, err = run_essays("delete", ids[0])
        assert code != 0
        run_id = next(iter(instance_runs()))
        assert f"{ids[0]} is being written by run {run_id}" in err, err
        assert deletions(data_dir) == 0
        assert (data_dir / "transcripts" / f"{ids[0]}.json").exists()
    finally:
        process.send_signal(signal.SIGTERM)
        finish(process, timeout=30)
    code, out, err = run_essays("delete", ids[0])
    assert code == 0, err
    assert deletions(data_dir) == 1
    assert not (data_dir / "raw" / "llm_calls" / ids[0]).exists()
    time.sleep(2)  # nothing of the stopped run comes back
    assert not (data_dir / "raw" / "llm_calls" / ids[0]).exists()
    assert "delvideo001" not in run_essays("status")[1]


@pytest.mark.slow
def test_essays_ui_stopped_with_sigterm_leaves_no_process_and_no_temp_files(tmp_path: Path, data_dir: Path):
    import requests

    from testkit.dagster_dev import free_port

    private_tmp = tmp_path / "tmp"  # everything dagster dev makes in the temp dir lands here
    private_tmp.mkdir()
    port = free_port()
    process = start("ui", "--port", str(port), env={**os.environ, "TMPDIR": str(private_tmp)},
                    start_new_session=True)
    try:
        def up() -> bool:
            try:
                return requests.get(f"http://127.0.0.1:{port}/server_info", timeout=2).ok
            except requests.RequestException:
                return False
        wait_until(up, 180, "the webserver's /server_info", interval=1)
        process.send_signal(signal.SIGTERM)
        code, out, err = finish(process, timeout=180)  # dagster dev may take up to 2 × 60 s (cli/main.py)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate(timeout=10)
    assert code == 143, err[-2000:]
    wait_until(lambda: not any(private_tmp.iterdir()), 10, "dagster dev's temp files to go")
    assert not up()


def llm_pool():
    """The `llm` pool as the instance sees it: slot count, claimed slots, steps waiting."""
    with dg.DagsterInstance.get() as instance:
        return instance.event_log_storage.get_concurrency_info("llm")


@pytest.mark.slow
@pytest.mark.parametrize(("signum", "expected_code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_run_blocked_on_the_llm_pool_stops_on_a_signal_and_sends_nothing(data_dir: Path, llm_server, signum,
                                                                             expected_code):
    """A run waiting on "Step blocked by limit for pool llm" (the pool held at 0 slots) takes
    Ctrl-C / SIGTERM: exit 130/143 within seconds, no request sent, the run CANCELED, and its
    waiting step gone from the pool."""
    from essay_assets.instance import ensure_dagster_home
    from essay_assets.settings import Settings

    write_transcripts(data_dir, ["blockedvid1"])
    ensure_dagster_home(Settings.from_env())
    with dg.DagsterInstance.get() as instance:
        instance.event_log_storage.set_concurrency_slots("llm", 0)  # every llm_response step waits
    process = start("run", "blockedvid1")
    try:
        wait_until(lambda: llm_pool().pending_step_count >= 1, 120, "the llm_response step to wait for a slot")
        time.sleep(1)  # waiting, not just arriving
        assert process.poll() is None
        process.send_signal(signum)
        signalled = time.monotonic()
        code, out, err = finish(process, timeout=30)
        took = time.monotonic() - signalled
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    assert code == expected_code, (code, out, err[-3000:])
    assert took < 10, took
    assert "stopped by" in err and "Traceback" not in err, err[-3000:]
    assert llm_server.call_count == 0
    assert list(instance_runs().values()) == [dg.DagsterRunStatus.CANCELED]
    pool = llm_pool()
    assert pool.pending_step_count == 0 and pool.active_slot_count == 0


def run_workers(session: int) -> list[int]:
    """Processes of `dagster dev`'s session that execute runs: its code server starts each run
    in a multiprocessing child (`spawn_main` on its command line)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getsid(int(entry.name)) != session:
                continue
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, ProcessLookupError):
            continue
        if "spawn_main" in command:
            pids.append(int(entry.name))
    return pids


def dagster_dev_env(data: Path, api_base: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ESSAYS_", "DAGSTER_"))}
    return {**env, "ESSAYS_DATA_DIR": str(data), "ESSAYS_MODEL": "openai/gpt-4o", "ESSAYS_API_BASE": api_base,
            "OPENAI_API_KEY": "fake", "ESSAYS_OEMBED_URL": "http://127.0.0.1:9/oembed",
            "ESSAYS_LLM_RETRY_BASE_S": "0.05", "ESSAYS_STEP_RETRY_DELAY_S": "0.2"}


UI_KILLED, UI_AFTER = "uikilled001", "uiafter0001"


@contextlib.contextmanager
def ui_run_in_a_model_call(tmp_path: Path, monkeypatch) -> Iterator[tuple]:
    """`dagster dev` running a UI-launched run of UI_KILLED that waits on a model call which is
    never answered, with the `llm` pool cut to 1 slot (the run holds it): (dev, llm, run_id)."""
    from essay_assets_tests.support.chain import write_transcript
    from testkit.dagster_dev import DagsterDev
    from testkit.openai_stub import LoopbackLLM

    data = tmp_path / "data"
    (data / "transcripts").mkdir(parents=True)
    for seed, video_id in enumerate((UI_KILLED, UI_AFTER)):
        write_transcript(data, video_id, words=300, seed=seed)
    with LoopbackLLM(delay_s=600) as llm:
        for name, value in dagster_dev_env(data, llm.base_url).items():  # `essays` commands of the test too
            if name.startswith("ESSAYS_") or name == "OPENAI_API_KEY":
                monkeypatch.setenv(name, value)
        dev = DagsterDev(home=tmp_path / "dagster_home", cwd=tmp_path / "cwd", env=dagster_dev_env(data, llm.base_url),
                         log_path=tmp_path / "dagster_dev.log")
        monkeypatch.setenv("DAGSTER_HOME", str(dev.home))
        with dg.DagsterInstance.get() as instance:
            instance.event_log_storage.set_concurrency_slots("llm", 1)  # a later run needs the killed run's slot
        try:
            dev.start(timeout_s=180)
            dev.add_partitions([UI_KILLED, UI_AFTER])
            backfill_id = dev.launch_backfill([UI_KILLED])
            wait_until(lambda: llm.call_count >= 1, 180, "the UI run's model call")
            (run,) = dev.backfill_runs(backfill_id)
            assert llm_pool().active_run_ids == {run["runId"]}
            yield dev, llm, run["runId"]
        except BaseException:
            print(f"--- dagster dev log (tail) ---\n{dev.log_tail()}")
            raise
        finally:
            dev.stop()


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_ui_run_whose_worker_is_killed_is_failed_and_its_slot_freed_within_seconds(tmp_path: Path, monkeypatch):
    """A run launched from the UI (a backfill over GraphQL, started by `dagster dev`'s own
    launcher), its worker process killed with SIGKILL while the model answers: the run ends
    FAILURE, its `llm` slot is freed within seconds (not ~2 minutes later), and the next UI run
    gets the slot and calls the model."""
    with ui_run_in_a_model_call(tmp_path, monkeypatch) as (dev, llm, run_id):
        workers = run_workers(dev.proc.pid)
        assert len(workers) == 1, workers
        os.kill(workers[0], signal.SIGKILL)
        killed_at = time.monotonic()
        wait_until(lambda: instance_runs()[run_id] == dg.DagsterRunStatus.FAILURE, 60, "the killed run to fail")
        failed_after = time.monotonic() - killed_at
        wait_until(lambda: run_id not in llm_pool().active_run_ids, 180, "the killed run's llm slot to be freed")
        freed_after = time.monotonic() - killed_at
        llm.delay_s = 0
        sent = llm.call_count
        status = dev.wait_backfill(dev.launch_backfill([UI_AFTER]), timeout_s=150)
    print(f"killed run failed {failed_after:.1f} s and its slot freed {freed_after:.1f} s after the kill")
    assert failed_after < 10 and freed_after < 20, (failed_after, freed_after)
    assert status == "COMPLETED_SUCCESS"
    assert llm.call_count > sent  # the next run got the slot and called the model


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_ui_run_killed_with_the_whole_ui_is_failed_by_the_next_essays_command(tmp_path: Path, monkeypatch):
    """`dagster dev` and its run worker killed together (SIGKILL to the whole group, as a crash
    does): nobody is left to notice the run. The next `essays run` fails it, frees its slot and
    writes its own essay instead of waiting on "blocked by limit for pool llm" for ever."""
    with ui_run_in_a_model_call(tmp_path, monkeypatch) as (dev, llm, run_id):
        os.killpg(dev.proc.pid, signal.SIGKILL)
        dev.proc.wait(30)
        llm.delay_s = 0
        sent = llm.call_count
        code, out, err = run_essays("run", UI_AFTER, timeout=240)
    assert code == 0, err[-3000:]
    assert llm.call_count > sent
    runs = instance_runs()
    assert runs[run_id] == dg.DagsterRunStatus.FAILURE
    assert run_id not in llm_pool().active_run_ids


_STUBBORN_CHILD = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); time.sleep(120)"
_UNTIL_SIGNAL = """
import sys
from essay_assets.cli.main import _run_until_signal
sys.exit(_run_until_signal([sys.executable, "-c", %r], grace_s=2))
""" % _STUBBORN_CHILD


def test_a_dagster_dev_that_will_not_stop_is_killed_when_the_grace_period_ends():
    """SIGTERM reaches `essays ui` while it waits for its child: the grace period starts then (a
    blocking wait used to resume after the handler, so the grace never started), and the child,
    which ignores SIGTERM as a dagster dev slow to shut down would, is killed with its group."""
    process = subprocess.Popen([sys.executable, "-c", _UNTIL_SIGNAL], stdout=subprocess.PIPE, text=True,
                               cwd=ROOT, start_new_session=True)
    try:
        assert process.stdout.readline().strip() == "up"  # the child runs, `essays ui` waits on it
        signalled = time.monotonic()
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=30)
        assert code == 143  # 128 + SIGTERM, as a shell reports a command ended by it
        assert time.monotonic() - signalled < 15  # the 2 s grace, not the child's 120 s sleep
        assert process.stdout.read() == ""  # the child is gone: nothing holds the pipe open
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
