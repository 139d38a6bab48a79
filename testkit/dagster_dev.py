"""A real `dagster dev` (webserver + daemon) driven over GraphQL the way the UI drives it.

Used by the slow UI-backfill test and by bench/backfill.py::

    with DagsterDev(home=tmp / "dagster_home", cwd=tmp, env=env, log_path=tmp / "dev.log") as dev:
        dev.add_partitions(["abcdefghijk"])
        backfill_id = dev.launch_backfill(["abcdefghijk"], ESSAY_ASSETS)
        status = dev.wait_backfill(backfill_id, timeout_s=180)

The process runs in its own session and is always stopped by killing its process group
(SIGTERM, then SIGKILL): `dagster dev` started from a non-interactive shell ignores SIGINT.

`launcher="split"` starts the deployment's own topology instead of `dagster dev`: a code server
(`dagster code-server start`) serving essay_assets.definitions, then `dagster-webserver` and
`dagster-daemon run` reaching it through a workspace file's `grpc_server` entry, each process in
its own session, all with the same environment (DAGSTER_HOME, ESSAYS_*). With ESSAYS_POSTGRES_URL
in `env` the home gets the PostgreSQL instance file.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

from essay_assets.instance import (
    CODE_LOCATION_NAME,
    DEFINITIONS_MODULE,
    instance_template,
)
from essay_assets.settings import POSTGRES_URL_VARIABLE
from testkit.processes import descendant_process_groups, stop_process_group

ESSAY_ASSETS = ("transcript", "essay_prompt", "llm_response", "essay")
REPOSITORY_NAME = "__repository__"
LAUNCHERS = ("module", "essays_ui", "workspace", "split")
REPO_WORKSPACE = Path(__file__).resolve().parent.parent / "workspace.yaml"
TERMINAL_BACKFILL_STATUSES = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}


class DagsterDevError(AssertionError):
    """Something went wrong in the webserver; the message carries what to look at."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def prepare_dagster_home(home: Path, *, uses_postgres: bool = False) -> Path:
    """A DAGSTER_HOME holding our instance file as `essays` writes it: the shipped
    essay_assets/instance/dagster.yaml, or its PostgreSQL variant."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(instance_template(uses_postgres), encoding="utf-8")
    return home


def grpc_workspace_yaml(port: int, host: str = "127.0.0.1") -> str:
    """A workspace whose one location is a code server already running at host:port."""
    return ("load_from:\n"
            "  - grpc_server:\n"
            f"      host: {host}\n"
            f"      port: {port}\n"
            f"      location_name: {CODE_LOCATION_NAME}\n")


def _script(name: str) -> str:
    """A console script of this environment (dagster-webserver, dagster-daemon)."""
    return str(Path(sys.executable).parent / name)


class DagsterDev:
    def __init__(self, *, home: Path, cwd: Path, env: dict[str, str], log_path: Path, port: int | None = None,
                 launcher: str = "module"):
        """`launcher`: how to start it. "module": `dagster dev -m essay_assets.definitions` (location
        `essay_assets.definitions`); "essays_ui": `essays ui`; "workspace": `dagster dev -w` on
        the repo's workspace.yaml; "split": a code server, a webserver and a daemon, three
        processes (their logs beside log_path: <stem>.code-server.log, <stem>.daemon.log)."""
        if launcher not in LAUNCHERS:
            raise ValueError(f"launcher must be one of {LAUNCHERS}, got {launcher!r}")
        self.launcher = launcher
        self.home = prepare_dagster_home(Path(home), uses_postgres=bool(env.get(POSTGRES_URL_VARIABLE)))
        self.cwd = Path(cwd)
        self.env = {**env, "DAGSTER_HOME": str(self.home), "DAGSTER_DISABLE_TELEMETRY": "1"}
        self.log_path = Path(log_path)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.grpc_port = free_port() if launcher == "split" else None
        self.proc: subprocess.Popen | None = None  # the webserver (or dagster dev / essays ui)
        self._procs: list[subprocess.Popen] = []  # every process started, in start order
        self._log_files: list = []
        self._location: str | None = None
        self.session = requests.Session()

    # ---- lifecycle ---------------------------------------------------------------
    def start(self, timeout_s: float = 120) -> "DagsterDev":
        self.cwd.mkdir(parents=True, exist_ok=True)
        if self.launcher == "split":
            self._start_split(timeout_s)
            return self
        command = {
            "module": [sys.executable, "-m", "dagster", "dev", "-h", "127.0.0.1", "-p", str(self.port),
                       "-m", "essay_assets.definitions"],
            "essays_ui": [sys.executable, "-m", "essay_assets.cli", "ui", "--port", str(self.port)],
            "workspace": [sys.executable, "-m", "dagster", "dev", "-h", "127.0.0.1", "-p", str(self.port),
                          "-w", str(REPO_WORKSPACE)],
        }[self.launcher]
        self.proc = self._spawn(command, self.log_path)
        self.wait_ready(timeout_s)
        return self

    @property
    def process_groups(self) -> set[int]:
        """The process groups of everything started (each process leads its own session)."""
        return {proc.pid for proc in self._procs}

    def _spawn(self, command: list[str], log_path: Path) -> subprocess.Popen:
        log_file = open(log_path, "wb")
        self._log_files.append(log_file)
        proc = subprocess.Popen(command, cwd=self.cwd, env=self.env, stdout=log_file, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        self._procs.append(proc)
        return proc

    def _side_log(self, role: str) -> Path:
        return self.log_path.with_name(f"{self.log_path.stem}.{role}.log")

    def _start_split(self, timeout_s: float) -> None:
        """Code server first (the webserver and the daemon load the location from it once, at
        start), then the webserver and the daemon on a workspace file naming its port."""
        deadline = time.monotonic() + timeout_s
        self._spawn([sys.executable, "-m", "dagster", "code-server", "start", "-h", "127.0.0.1",
                     "-p", str(self.grpc_port), "-m", DEFINITIONS_MODULE, "--location-name", CODE_LOCATION_NAME,
                     "--use-python-environment-entry-point"], self._side_log("code-server"))
        self._wait_code_server(deadline)
        workspace = self.cwd / "workspace.yaml"
        workspace.write_text(grpc_workspace_yaml(self.grpc_port), encoding="utf-8")
        self.proc = self._spawn([_script("dagster-webserver"), "-h", "127.0.0.1", "-p", str(self.port),
                                 "-w", str(workspace)], self.log_path)
        self._spawn([_script("dagster-daemon"), "run", "-w", str(workspace)], self._side_log("daemon"))
        self.wait_ready(max(1.0, deadline - time.monotonic()))

    def _wait_code_server(self, deadline: float) -> None:
        """Until the code server answers Dagster's own health check (it loads the code first)."""
        check = [sys.executable, "-m", "dagster", "api", "grpc-health-check", "-p", str(self.grpc_port),
                 "--host", "127.0.0.1"]
        while time.monotonic() < deadline:
            for proc in self._procs:
                if proc.poll() is not None:
                    raise DagsterDevError(f"{proc.args[:6]} exited with {proc.returncode}:\n{self.log_tail()}")
            if subprocess.run(check, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              timeout=60).returncode == 0:
                return
            time.sleep(0.5)
        raise DagsterDevError(f"The code server did not come up:\n{self.log_tail()}")

    def wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for proc in self._procs:
                if proc.poll() is not None:
                    raise DagsterDevError(f"{proc.args[:6]} exited with {proc.returncode}:\n{self.log_tail()}")
            try:
                if self.session.get(f"{self.url}/server_info", timeout=2).ok and self.location_name(required=False):
                    return
            except requests.RequestException:
                pass
            time.sleep(0.5)
        raise DagsterDevError(f"dagster dev did not come up within {timeout_s:.0f} s:\n{self.log_tail()}")

    def stop(self, timeout_s: float = 20) -> None:
        """Every process group, the last started first (the code server, which runs the runs, last)."""
        procs, self._procs, self.proc = self._procs, [], None
        for proc in reversed(procs):
            # Groups of its own that a process started (`essays ui`'s dagster dev), which a kill of
            # this group would leave running if the process did not stop them in time.
            own_sessions = descendant_process_groups(proc.pid) if proc.poll() is None else set()
            stop_process_group(proc, signal.SIGTERM, timeout_s)
            # children that outlived the leader (run workers) are in the same group
            for group in {proc.pid} | own_sessions:
                try:
                    os.killpg(group, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
        for log_file in self._log_files:
            log_file.close()
        self._log_files = []
        self.session.close()

    def __enter__(self) -> "DagsterDev":
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log_tail(self, lines: int = 80) -> str:
        paths = [self.log_path]
        if self.launcher == "split":
            paths += [self._side_log("code-server"), self._side_log("daemon")]
        tails = []
        for path in paths:
            try:
                text = path.read_text(errors="replace")
            except FileNotFoundError:
                text = "(no log)"
            tails.append(f"--- {path.name} ---\n" + "\n".join(text.splitlines()[-lines:]))
        return "\n".join(tails) if self.launcher == "split" else tails[0].split("\n", 1)[1]

    # ---- GraphQL -----------------------------------------------------------------
    def graphql(self, query: str, variables: dict[str, Any] | None = None, timeout_s: float = 60) -> dict[str, Any]:
        response = self.session.post(f"{self.url}/graphql", json={"query": query, "variables": variables or {}},
                                     timeout=timeout_s)
        if not response.ok:
            raise DagsterDevError(f"GraphQL HTTP {response.status_code}: {response.text[:2000]}")
        body = response.json()
        if body.get("errors"):
            raise DagsterDevError(f"GraphQL errors: {body['errors']}")
        return body["data"]

    def location_name(self, *, required: bool = True) -> str | None:
        """The code location serving essay_assets.definitions, once it has loaded."""
        if self._location:
            return self._location
        data = self.graphql("""
            query { workspaceOrError { __typename
              ... on Workspace { locationEntries { name
                locationOrLoadError { __typename ... on PythonError { message stack } } } }
              ... on PythonError { message } } }""")
        entries = (data["workspaceOrError"].get("locationEntries") or [])
        for entry in entries:
            loaded = entry.get("locationOrLoadError") or {}
            if loaded.get("__typename") == "RepositoryLocation":
                self._location = entry["name"]
                return self._location
            if loaded.get("__typename") == "PythonError":
                raise DagsterDevError(f"Code location {entry['name']} failed to load: {loaded['message']}\n"
                                      + "".join(loaded.get("stack") or []))
        if required:
            raise DagsterDevError(f"No loaded code location: {data}")
        return None

    def repository_selector(self) -> dict[str, str]:
        return {"repositoryLocationName": self.location_name(), "repositoryName": REPOSITORY_NAME}

    def add_partitions(self, keys: list[str], partitions_def: str = "videos") -> None:
        query = """
            mutation Add($name: String!, $key: String!, $repo: RepositorySelector!) {
              addDynamicPartition(partitionsDefName: $name, partitionKey: $key, repositorySelector: $repo) {
                __typename
                ... on AddDynamicPartitionSuccess { partitionKey }
                ... on DuplicateDynamicPartitionError { partitionName }
                ... on PythonError { message }
                ... on UnauthorizedError { message } } }"""
        repo = self.repository_selector()
        for key in keys:
            result = self.graphql(query, {"name": partitions_def, "key": key, "repo": repo})["addDynamicPartition"]
            if result["__typename"] not in ("AddDynamicPartitionSuccess", "DuplicateDynamicPartitionError"):
                raise DagsterDevError(f"addDynamicPartition({key}) failed: {result}")

    def launch_backfill(self, keys: list[str], assets: tuple[str, ...] = ESSAY_ASSETS) -> str:
        query = """
            mutation Launch($params: LaunchBackfillParams!) {
              launchPartitionBackfill(backfillParams: $params) {
                __typename
                ... on LaunchBackfillSuccess { backfillId }
                ... on PythonError { message stack }
                ... on PartitionKeysNotFoundError { message }
                ... on InvalidSubsetError { message }
                ... on UnauthorizedError { message } } }"""
        params = {"partitionNames": list(keys), "assetSelection": [{"path": [name]} for name in assets],
                  "fromFailure": False}
        result = self.graphql(query, {"params": params})["launchPartitionBackfill"]
        if result["__typename"] != "LaunchBackfillSuccess":
            raise DagsterDevError(f"launchPartitionBackfill failed: {result}")
        return result["backfillId"]

    def backfill(self, backfill_id: str) -> dict[str, Any]:
        data = self.graphql("""
            query Backfill($id: String!) { partitionBackfillOrError(backfillId: $id) { __typename
              ... on PartitionBackfill { id status numPartitions error { message stack } }
              ... on BackfillNotFoundError { message }
              ... on PythonError { message } } }""", {"id": backfill_id})
        return data["partitionBackfillOrError"]

    def wait_backfill(self, backfill_id: str, *, timeout_s: float, poll_s: float = 1.0) -> str:
        deadline = time.monotonic() + timeout_s
        status = None
        while time.monotonic() < deadline:
            result = self.backfill(backfill_id)
            if result["__typename"] != "PartitionBackfill":
                raise DagsterDevError(f"partitionBackfillOrError: {result}\n{self.log_tail()}")
            status = result["status"]
            if status in TERMINAL_BACKFILL_STATUSES:
                return status
            time.sleep(poll_s)
        raise DagsterDevError(f"Backfill {backfill_id} still {status} after {timeout_s:.0f} s.\n"
                              f"{self.describe_backfill_runs(backfill_id)}\n--- dagster dev ---\n{self.log_tail()}")

    def backfill_runs(self, backfill_id: str) -> list[dict[str, Any]]:
        data = self.graphql("""
            query Runs($id: String!) {
              runsOrError(filter: {tags: [{key: "dagster/backfill", value: $id}]}) { __typename
                ... on Runs { results { runId status startTime endTime creationTime
                  tags { key value } } }
                ... on PythonError { message } } }""", {"id": backfill_id})
        runs = data["runsOrError"]
        if runs["__typename"] != "Runs":
            raise DagsterDevError(f"runsOrError: {runs}")
        return runs["results"]

    def run_log(self, run_id: str, limit: int = 400) -> str:
        data = self.graphql("""
            query Logs($runId: ID!, $limit: Int) { logsForRun(runId: $runId, limit: $limit) { __typename
              ... on EventConnection { events { __typename
                ... on MessageEvent { message level stepKey }
                ... on ExecutionStepFailureEvent { error { message stack } } } }
              ... on PythonError { message } } }""", {"runId": run_id, "limit": limit})
        logs = data["logsForRun"]
        if logs["__typename"] != "EventConnection":
            return f"(no logs: {logs})"
        lines = []
        for event in logs["events"]:
            line = f"[{event.get('level')}] {event.get('stepKey') or '-'} {event['__typename']}: {event.get('message')}"
            if event.get("error"):
                line += "\n" + event["error"]["message"] + "".join(event["error"].get("stack") or [])
            lines.append(line)
        return "\n".join(lines)

    def describe_backfill_runs(self, backfill_id: str) -> str:
        try:
            runs = self.backfill_runs(backfill_id)
        except Exception as exc:  # describing a failure must not hide it
            return f"(could not list runs: {exc})"
        if not runs:
            return f"Backfill {backfill_id} has no runs."
        parts = []
        for run in runs:
            parts.append(f"--- run {run['runId']} ({run['status']}) ---\n{self.run_log(run['runId'])}")
        return "\n".join(parts)
