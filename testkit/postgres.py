"""A real PostgreSQL server for tests and benchmarks, started from the machine's binaries.

    with PostgresServer() as server:
        url = server.create_database("essays_chain")   # postgresql+psycopg2://postgres@127.0.0.1:PORT/essays_chain
        ...                                             # ESSAYS_POSTGRES_URL=url

The server runs in a temporary folder on a free loopback port (no TCP password: `trust`, loopback
only), in its own session, and is stopped and its folder removed on exit. PostgreSQL refuses to
run as root, so as root (CI runs as root) `initdb` and `postgres` run as the `postgres` user that
Debian's `postgresql` package creates, with the data folder owned by it. The binaries are found
in PATH or in Debian's /usr/lib/postgresql/<version>/bin; `apt-get install -y postgresql` puts
them there (.ci/run does).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from essay_assets.settings import POSTGRES_URL_SCHEME
from testkit.dagster_dev import free_port
from testkit.processes import stop_process_group

SUPERUSER = "postgres"
# Durability is not what a test checks: without fsync a run's thousand small commits cost nothing.
FAST_UNSAFE_SETTINGS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")
# Dagster's storages open connections per process and per thread (webserver, daemon, code server,
# runs, CLI commands at once): more than PostgreSQL's default 100.
MAX_CONNECTIONS = 300


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server binaries on this machine; the message says how to install them."""


def postgres_bin_dir() -> Path:
    """The folder holding `initdb` and `postgres`: PATH first, then Debian's newest version."""
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).resolve().parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                        key=lambda path: int(Path(path).parts[-3]) if Path(path).parts[-3].isdigit() else 0)
    if candidates:
        return Path(candidates[-1]).parent
    raise PostgresUnavailable("No PostgreSQL server binaries (initdb, postgres) found in PATH or "
                              "/usr/lib/postgresql/*/bin: install them with `apt-get install -y postgresql`.")


class PostgresServer:
    """One PostgreSQL server in a temp folder; `create_database` gives each test its own database."""

    def __init__(self, port: int | None = None, log_path: Path | None = None) -> None:
        self.bin_dir = postgres_bin_dir()
        self.port = port or free_port()
        self.log_path = log_path
        self.base_dir: Path | None = None
        self.proc: subprocess.Popen | None = None
        self._log_file = None
        self._databases = 0
        # As root, the server's processes run as the postgres user (PostgreSQL refuses root).
        self._run_as = SUPERUSER if os.geteuid() == 0 else None

    # ---- lifecycle ----------------------------------------------------------------
    def start(self, timeout_s: float = 60) -> "PostgresServer":
        self.base_dir = Path(tempfile.mkdtemp(prefix="essays-postgres-"))
        data_dir, socket_dir = self.base_dir / "data", self.base_dir / "socket"
        socket_dir.mkdir()
        if self._run_as:
            account = pwd.getpwnam(self._run_as)
            for path in (self.base_dir, socket_dir):
                os.chown(path, account.pw_uid, account.pw_gid)
        log_path = self.log_path or self.base_dir / "postgres.log"
        self._log_file = open(log_path, "ab")
        init = subprocess.run([str(self.bin_dir / "initdb"), "-D", str(data_dir), "-U", SUPERUSER, "-A", "trust",
                               "-E", "UTF8", "--locale=C", "--no-sync"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **self._user())
        if init.returncode != 0:
            raise RuntimeError(f"initdb failed ({init.returncode}):\n{init.stdout.decode(errors='replace')}")
        options = ["-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={socket_dir}",
                   "-c", f"max_connections={MAX_CONNECTIONS}"]
        for setting in FAST_UNSAFE_SETTINGS:
            options += ["-c", setting]
        self.proc = subprocess.Popen([str(self.bin_dir / "postgres"), "-D", str(data_dir), "-p", str(self.port),
                                      *options], stdout=self._log_file, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True, **self._user())
        self._wait_ready(timeout_s)
        return self

    def _user(self) -> dict:
        return {"user": self._run_as, "group": self._run_as, "extra_groups": []} if self._run_as else {}

    def _wait_ready(self, timeout_s: float) -> None:
        import psycopg2

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"postgres exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                psycopg2.connect(self.dsn("postgres"), connect_timeout=2).close()
                return
            except psycopg2.OperationalError:
                time.sleep(0.1)
        raise RuntimeError(f"postgres did not accept connections within {timeout_s:.0f} s:\n{self.log_tail()}")

    def stop(self, timeout_s: float = 20) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            # SIGINT is PostgreSQL's "fast" shutdown: clients are disconnected, no waiting for them.
            stop_process_group(proc, signal.SIGINT, timeout_s)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if self.base_dir is not None:
            shutil.rmtree(self.base_dir, ignore_errors=True)
            self.base_dir = None

    def __enter__(self) -> "PostgresServer":
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log_tail(self, lines: int = 40) -> str:
        path = self.log_path or (self.base_dir / "postgres.log" if self.base_dir else None)
        try:
            return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path else ""
        except FileNotFoundError:
            return "(no postgres log)"

    # ---- databases ------------------------------------------------------------------
    def url(self, database: str) -> str:
        return f"{POSTGRES_URL_SCHEME}://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def dsn(self, database: str) -> str:
        """The same address as libpq (psycopg2, psql) reads it: no SQLAlchemy driver name."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, prefix: str = "essays") -> str:
        """A new, empty database; returns its URL (what ESSAYS_POSTGRES_URL is set to)."""
        import psycopg2

        self._databases += 1
        name = f"{''.join(c if c.isalnum() else '_' for c in prefix.lower())[:40]}_{self._databases}"
        conn = psycopg2.connect(self.dsn("postgres"))
        try:
            conn.autocommit = True  # CREATE DATABASE cannot run inside a transaction
            with conn.cursor() as cursor:
                cursor.execute(f'CREATE DATABASE "{name}"')
        finally:
            conn.close()
        return self.url(name)
