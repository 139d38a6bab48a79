"""The persistent Dagster instance the CLI, the UI and the schedule share.

This folder is the one place that touches Dagster's private internals (event_log.py: a
subclass of Dagster's SQLite event log; step_metadata.py: a step's metadata accumulator), so a
Dagster upgrade that moves them breaks here only.
With ESSAYS_POSTGRES_URL set the instance keeps everything in PostgreSQL through dagster-postgres,
and nothing SQLite-specific of ours is loaded: dagster.yaml then names no event log of ours, and
the migration lock is the database's, not DAGSTER_HOME's file lock.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from essay_assets.database_connections import keep_database_connections
from essay_assets.instance.event_batches import enable_event_batches
from essay_assets.redaction import redact
from essay_assets.settings import POSTGRES_URL_VARIABLE, Settings, SettingsError
from essay_assets.storage.file_locks import require_working_locks
from essay_assets.storage.files import atomic_write_text

if TYPE_CHECKING:
    import dagster as dg

LOCK_NAME = ".essays-instance.lock"  # in DAGSTER_HOME: held while the instance is opened

# sha256 of dagster.yaml templates shipped earlier. A home still holding one of them, byte
# for byte, was never edited by its user, so it gets the current template (and its faster
# event log); a file the user changed is left alone. Changing the template changes both of
# instance_template's variants: add the sha256 of each (SQLite and PostgreSQL) here.
EARLIER_TEMPLATES = {
    "b20a4484e97c7a2807aeda718e2bcfbc217d2c989d1f4d3bc0eb21611cfe15d1",  # before the pooled event log
    "0df05b40e20112a898d8c35fb5c6ab4cdac19cf3a2e7c2ba54272f3101561517",  # before dequeue_interval_seconds
    "da5e179322f399584c8f3122a8f4f152886d7d7b51a6e2739719d584c6f42887",  # before the note on this set
    "0ad620eed8a0f4a166551df7471ad70a89e9e6808789c52f10c1a7921cc639ac",  # before the package had stage folders
    "09b34b935e2e4d625561a25118cf10e1f8b7de703d2b187969b6647496431877",  # before run_monitoring
    "5207db5bd93aa68bb3d9d8f68ab75587d50198bc3f3d29d3734394fc93ae8f57",  # before the 5 s slot check
}
# The event log's module before the package was laid out by stage: an edited home that still
# names it would fail to load, so its line is pointed at the module's new place.
MOVED_EVENT_LOG = ("module: essay_assets.event_log\n", "module: essay_assets.instance.event_log\n")


# The one code location name, whichever way Dagster is started: `essays ui`, `dagster dev -w
# workspace.yaml` (the repo's copy says the same) or pyproject's [tool.dagster]. Schedule and
# sensor state (the followed-feeds cursor among it) is stored per location name: a second name
# for the same code made the daemon drop that state when a user switched launchers.
CODE_LOCATION_NAME = "essay_assets"
DEFINITIONS_MODULE = "essay_assets.definitions"


def workspace_yaml() -> str:
    """The workspace `essays ui` hands `dagster dev` (`dagster dev -m` cannot name a location)."""
    return ("load_from:\n"
            "  - python_module:\n"
            f"      module_name: {DEFINITIONS_MODULE}\n"
            f"      location_name: {CODE_LOCATION_NAME}\n")


def write_workspace_file(home: Path) -> Path:
    """`<DAGSTER_HOME>/workspace.yaml`, rewritten whenever it differs from workspace_yaml()."""
    path = home / "workspace.yaml"
    if not path.exists() or path.read_text(encoding="utf-8") != workspace_yaml():
        atomic_write_text(path, workspace_yaml())
    return path


def shipped_template() -> str:
    """The SQLite instance file (the default): essay_assets/instance/dagster.yaml as shipped."""
    return (resources.files("essay_assets.instance") / "dagster.yaml").read_text(encoding="utf-8")


# In the shipped template, the part that is about SQLite: our pooled event log. Everything else
# (concurrency pools, run queue, run monitoring) holds for either storage.
SQLITE_STORAGE_FIRST_LINE = "# Dagster's SQLite event log"
SQLITE_STORAGE_LAST_LINE = "  class: PooledSqliteEventLogStorage\n"
# What stands in its place when ESSAYS_POSTGRES_URL is set. Dagster reads the URL from the
# environment when it opens the instance, so no password is ever written to this file.
POSTGRES_STORAGE = f"""# Runs, the event log and schedule state in PostgreSQL, at the URL in ${POSTGRES_URL_VARIABLE}
# (read from the environment by each process that opens the instance; never written here).
storage:
  postgres:
    postgres_url:
      env: {POSTGRES_URL_VARIABLE}
"""


def instance_template(uses_postgres: bool) -> str:
    """The dagster.yaml for the chosen storage: the shipped template, or the same with its
    SQLite part replaced by POSTGRES_STORAGE."""
    template = shipped_template()
    if not uses_postgres:
        return template
    start = template.index(SQLITE_STORAGE_FIRST_LINE)
    end = template.index(SQLITE_STORAGE_LAST_LINE) + len(SQLITE_STORAGE_LAST_LINE)
    return template[:start] + POSTGRES_STORAGE + template[end:]


class InstanceFileError(SettingsError):
    """DAGSTER_HOME's dagster.yaml, edited by its user, disagrees with ESSAYS_POSTGRES_URL (a
    SettingsError: commands stop with its one line, like a bad setting)."""


def _chooses_postgres(text: str) -> bool:
    """Whether an instance file keeps its storage in PostgreSQL (dagster-postgres, any form)."""
    try:
        config = yaml.safe_load(text) or {}
    except yaml.YAMLError:
        return False  # Dagster reports the broken file itself, with its line
    if not isinstance(config, dict):
        return False
    storage = config.get("storage")
    if isinstance(storage, dict) and "postgres" in storage:
        return True
    return any(isinstance(config.get(key), dict) and "postgres" in str(config[key].get("module", ""))
               for key in ("run_storage", "event_log_storage", "schedule_storage"))


def dagster_home_path(settings: Settings) -> Path:
    """DAGSTER_HOME, or <data dir>/dagster_home when it is not set."""
    return Path(os.environ.get("DAGSTER_HOME") or settings.data_dir / "dagster_home").resolve()


def ensure_dagster_home(settings: Settings) -> Path:
    """DAGSTER_HOME defaults to <data dir>/dagster_home, created with our dagster.yaml for the
    chosen storage (SQLite files, or PostgreSQL when ESSAYS_POSTGRES_URL is set).

    A file that is one of our templates, current or earlier, byte for byte, was never edited: it
    is replaced whenever it is not the one for the chosen storage, so setting or unsetting
    ESSAYS_POSTGRES_URL switches an existing home (the other storage's data stays where it is:
    SQLite files in DAGSTER_HOME, or the database, and switching back finds it again). A file
    its user edited is kept; if it disagrees with ESSAYS_POSTGRES_URL, the command stops and says
    how to reconcile them, rather than silently using the other storage."""
    uses_postgres = settings.postgres_url is not None
    home = dagster_home_path(settings)
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    wanted = instance_template(uses_postgres)
    if not config.exists():
        atomic_write_text(config, wanted)
    elif (raw := config.read_bytes()) != wanted.encode("utf-8"):  # the usual case ends here: the file is ours
        text = raw.decode("utf-8", errors="replace")
        ours = EARLIER_TEMPLATES | {_sha256(instance_template(False)), _sha256(instance_template(True))}
        if hashlib.sha256(raw).hexdigest() in ours:
            atomic_write_text(config, wanted)
        elif uses_postgres and not _chooses_postgres(text):
            raise InstanceFileError(
                f"{POSTGRES_URL_VARIABLE} is set, but {config} was edited and keeps the instance in SQLite. "
                f"Add a `storage: postgres: postgres_url: {{env: {POSTGRES_URL_VARIABLE}}}` block to it (and remove "
                f"its event_log_storage block), or move the file away to get ours, or unset {POSTGRES_URL_VARIABLE}.")
        elif not uses_postgres and _chooses_postgres(text) and POSTGRES_URL_VARIABLE in text:
            raise InstanceFileError(
                f"{config} keeps the instance in PostgreSQL at ${POSTGRES_URL_VARIABLE}, which is not set. "
                f"Set it, or move the file away to keep the instance in SQLite files in {home}.")
        elif MOVED_EVENT_LOG[0] in text:
            atomic_write_text(config, text.replace(*MOVED_EVENT_LOG))
    os.environ["DAGSTER_HOME"] = str(home)
    if uses_postgres:
        # Dagster reads the URL from this variable (dagster.yaml names it); settings given by a
        # caller rather than the environment must reach it too.
        os.environ[POSTGRES_URL_VARIABLE] = settings.postgres_url
        # dagster-postgres writes event batches natively; without them a run opens a connection
        # per event (the SQLite event log sets this itself where it is created).
        enable_event_batches()
    os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
    return home


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@contextmanager
def instance_lock(home: Path) -> Iterator[None]:
    """An exclusive inter-process lock on DAGSTER_HOME (released when the process dies).

    Dagster creates and stamps its SQLite databases (runs, schedules, the event log index) on
    first open without any lock: six commands started at once on a new data dir raced on
    them ("UNIQUE constraint failed: alembic_version.version_num", "table runs already exists")
    and could leave schedules.db with two alembic heads, which broke every later command.
    A home where this lock cannot work is refused first, saying what is required."""
    require_working_locks(home)
    with open(home / LOCK_NAME, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# Any fixed 64-bit number: the PostgreSQL advisory lock `essays` commands take while they create
# and migrate the instance's tables (the database's counterpart of LOCK_NAME).
POSTGRES_MIGRATION_LOCK_KEY = 0x65737361_79730001


@contextmanager
def postgres_migration_lock(postgres_url: str) -> Iterator[None]:
    """An exclusive session-level advisory lock in the instance's database, for processes on
    any host (DAGSTER_HOME's file lock covers only one machine). Dagster's PostgreSQL storages
    retry a clashing table creation a few times; eight commands at once on an empty database
    should not depend on how many."""
    import sqlalchemy as db

    engine = db.create_engine(postgres_url, poolclass=db.pool.NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(db.text("SELECT pg_advisory_lock(:key)"), {"key": POSTGRES_MIGRATION_LOCK_KEY})
            try:
                yield
            finally:
                conn.execute(db.text("SELECT pg_advisory_unlock(:key)"), {"key": POSTGRES_MIGRATION_LOCK_KEY})
                conn.commit()
    finally:
        engine.dispose()


class InstanceUnavailable(RuntimeError):
    """Dagster's instance cannot be opened: its disk is full or read-only, or its database is down."""


def open_instance(settings: Settings) -> "dg.DagsterInstance":
    """The persistent instance, every one of its databases created and migrated, and runs whose
    process is gone marked failed (their pool slots freed). Every CLI path opens it here.

    Raises InstanceUnavailable, one line naming DAGSTER_HOME, when its storage cannot be
    used: on a full disk SQLite failed with a raw sqlalchemy traceback ("disk I/O error")."""
    import dagster as dg
    import sqlalchemy.exc

    from essay_assets.instance.runs import reap_dead_runs

    home = dagster_home_path(settings)
    try:
        ensure_dagster_home(settings)
        lock = (postgres_migration_lock(settings.postgres_url) if settings.postgres_url is not None
                else instance_lock(home))
        with lock:
            instance = dg.DagsterInstance.get()
            keep_database_connections(instance)  # PostgreSQL: a connection per query otherwise
            # Touch each storage so each database is created and stamped while the lock is held.
            instance.get_runs(limit=1)
            instance.get_dynamic_partitions("videos")
            instance.all_instigator_state()
            reap_dead_runs(instance)
    except (OSError, sqlalchemy.exc.SQLAlchemyError) as exc:
        raise InstanceUnavailable(_unavailable_message(home, exc)) from exc
    return instance


def _unavailable_message(home: Path, exc: BaseException) -> str:
    cause = redact(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
    try:
        free_mb = shutil.disk_usage(home if home.exists() else home.parent).free / 1024 / 1024
    except OSError:
        free_mb = None
    disk = (f"its disk is full ({free_mb:.1f} MB free)" if free_mb is not None and free_mb < 1
            else "is its disk full or read-only, or its database down?")
    return (f"Dagster's instance in {home} (DAGSTER_HOME) cannot be opened: {cause}; {disk}. "
            "Free some space there (or point DAGSTER_HOME elsewhere) and try again.")
