"""The persistent Dagster instance the CLI, the UI and the schedule share.

This folder is the one place that touches Dagster's private internals (event_log.py: a
subclass of Dagster's SQLite event log), so a Dagster upgrade that moves them breaks here only.
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

from essay_assets.redaction import redact
from essay_assets.settings import Settings
from essay_assets.storage.files import atomic_write_text

if TYPE_CHECKING:
    import dagster as dg

LOCK_NAME = ".essays-instance.lock"  # in DAGSTER_HOME: held while the instance is opened

# sha256 of dagster.yaml templates shipped earlier. A home still holding one of them, byte
# for byte, was never edited by its user, so it gets the current template (and its faster
# event log); a file the user changed is left alone.
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
    return (resources.files("essay_assets.instance") / "dagster.yaml").read_text(encoding="utf-8")


def dagster_home_path(settings: Settings) -> Path:
    """DAGSTER_HOME, or <data dir>/dagster_home when it is not set."""
    return Path(os.environ.get("DAGSTER_HOME") or settings.data_dir / "dagster_home").resolve()


def ensure_dagster_home(settings: Settings) -> Path:
    """DAGSTER_HOME defaults to <data dir>/dagster_home, created with our dagster.yaml."""
    home = dagster_home_path(settings)
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists() or hashlib.sha256(config.read_bytes()).hexdigest() in EARLIER_TEMPLATES:
        atomic_write_text(config, shipped_template())
    elif MOVED_EVENT_LOG[0] in (text := config.read_text(encoding="utf-8")):
        atomic_write_text(config, text.replace(*MOVED_EVENT_LOG))
    os.environ["DAGSTER_HOME"] = str(home)
    os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
    return home


@contextmanager
def instance_lock(home: Path) -> Iterator[None]:
    """An exclusive inter-process lock on DAGSTER_HOME (released when the process dies).

    Dagster creates and stamps its SQLite databases (runs, schedules, the event log index) on
    first open without any lock: six commands started at once on a new data dir raced on
    them ("UNIQUE constraint failed: alembic_version.version_num", "table runs already exists")
    and could leave schedules.db with two alembic heads, which broke every later command."""
    with open(home / LOCK_NAME, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


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
        with instance_lock(home):
            instance = dg.DagsterInstance.get()
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
