"""Does the data dir's filesystem honour the file locks the pipeline relies on?

The warehouse's compaction lock (`.compact.lock`), the ledger's per-request lease
(model_calls/ledger.py) and the Dagster instance's open lock (instance/) are `flock`s: they are
what keeps two processes from compacting the same table at once or paying for the same model
call twice. On a local disk they always work. On a volume shared between machines they work
only if the filesystem passes them on to every client; when it does not, the lock is either
refused (flock fails with ENOLCK or EOPNOTSUPP: an NFS mount without a lock daemon) or, worse,
silently kept on this machine only (NFS mounted `nolock` or `local_lock=flock|all`, CIFS
`nobrl`, FUSE mounts of object storage), and two machines compact the same files or pay twice.

So, once per folder and process, before the warehouse is used: a real probe (take an flock; a
second open file description must see it as held) and a look at how the folder is mounted
(`/proc/self/mountinfo`, Linux only), judged by one pure function, `lock_problem`. A folder
that fails is refused with what is required, before anything is written. What no probe on one
machine can prove is that the other machines see the lock: the mount check refuses the
configurations known to keep locks local, and docs/deploy.md says what a shared volume must
provide.
"""

from __future__ import annotations

import dataclasses
import errno
import fcntl
import os
import threading
from collections.abc import Iterable
from pathlib import Path

from essay_assets.settings import SettingsError

PROBE_NAME = ".lock-probe"
MOUNTINFO = Path("/proc/self/mountinfo")

# Mounts whose locks never leave this machine, whatever the probe says: a FUSE client of object
# storage or of ssh keeps flocks in the local kernel (and renames by copying, not atomically).
LOCAL_ONLY_FUSE = frozenset({
    "fuse.s3fs", "fuse.gcsfuse", "fuse.goofys", "fuse.mountpoint-s3", "fuse.rclone", "fuse.sshfs", "fuse.blobfuse",
    "fuse.blobfuse2",
})
REQUIRED = ("essay-assets needs file locks (flock) that every process and machine sharing the data dir honours, "
            "atomic rename and fsync: a local disk, or NFSv4 with locking (e.g. Amazon EFS); see docs/deploy.md")


class DataDirLocksUnusable(SettingsError):
    """The data dir is on a filesystem where the pipeline's file locks cannot work; the message
    names the folder, what is wrong and what is required. Nothing was written."""


@dataclasses.dataclass(frozen=True)
class Mount:
    """How a folder is mounted: the mount point, filesystem type and its options."""

    mount_point: str
    fs_type: str
    options: frozenset[str]


@dataclasses.dataclass(frozen=True)
class LockProbe:
    """What trying the locks in a folder showed."""

    flock_errno: int | None  # errno of a failed flock, None when flock worked
    conflict_seen: bool  # a second open file description could not take the lock the first held
    mount: Mount | None  # None where /proc/self/mountinfo does not exist (not Linux)


def lock_problem(probe: LockProbe) -> str | None:
    """Why the pipeline's locks cannot be trusted in the probed folder, or None when they can."""
    if probe.flock_errno is not None:
        name = errno.errorcode.get(probe.flock_errno, str(probe.flock_errno))
        return f"flock fails there ({name}: {os.strerror(probe.flock_errno)})"
    if not probe.conflict_seen:
        return "a lock taken there is not seen as held by a second open of the same file"
    mount = probe.mount
    if mount is None:
        return None
    where = f"it is a {mount.fs_type} mount at {mount.mount_point}"
    if mount.fs_type.startswith("nfs"):
        local = sorted(o for o in mount.options if o in ("nolock", "local_lock=flock", "local_lock=all"))
        if local:
            return f"{where} mounted with {', '.join(local)}, so its locks stay on this machine"
    if mount.fs_type in ("cifs", "smb3") and "nobrl" in mount.options:
        return f"{where} mounted with nobrl, so its locks stay on this machine"
    if mount.fs_type in LOCAL_ONLY_FUSE:
        return f"{where}, whose locks stay on this machine and whose renames are not atomic"
    return None


def mount_of(path: Path, mountinfo_lines: Iterable[str]) -> Mount | None:
    """The mount holding `path` (already resolved): the longest mount point that contains it,
    from /proc/self/mountinfo's lines (`man 5 proc`); its options are the mount's and the
    superblock's together. None when no line applies."""
    best: Mount | None = None
    text = str(path)
    for line in mountinfo_lines:
        fields = line.split()
        if "-" not in fields[6:]:
            continue
        dash = fields.index("-", 6)
        if len(fields) < dash + 3:
            continue
        point = _unescape(fields[4])
        inside = text == point or text.startswith(point.rstrip("/") + "/")
        if inside and (best is None or len(point) >= len(best.mount_point)):  # later lines mount over earlier
            options = frozenset(fields[5].split(",")) | frozenset(fields[dash + 3].split(",") if len(fields) > dash + 3
                                                                  else ())
            best = Mount(point, fields[dash + 1], options)
    return best


def probe_locks(folder: Path) -> LockProbe:
    """Take an flock on `<folder>/.lock-probe`, then try it from a second open file description
    (flock locks belong to the open file description, so within one process that second open
    must be refused as it would be in another process); release both."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / PROBE_NAME
    first = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        second = os.open(path, os.O_RDWR)
        try:
            failed, conflict = _try_both(first, second)
        finally:
            os.close(second)
    finally:
        os.close(first)  # closing releases whatever was taken
    try:
        mount = mount_of(folder.resolve(), MOUNTINFO.read_text(encoding="utf-8", errors="replace").splitlines())
    except OSError:
        mount = None
    return LockProbe(failed, conflict, mount)


_verified: set[Path] = set()
_verified_guard = threading.Lock()


def require_working_locks(folder: Path) -> None:
    """Refuse (DataDirLocksUnusable) a folder where the pipeline's locks cannot work; probed
    once per folder and process, so the cost (a few system calls) is paid once."""
    folder = Path(folder).resolve()
    if folder in _verified:
        return
    with _verified_guard:
        if folder in _verified:
            return
        problem = lock_problem(probe_locks(folder))
        if problem:
            raise DataDirLocksUnusable(f"The data dir folder {folder} cannot be used: {problem}. {REQUIRED}. "
                                       "Nothing was written.")
        _verified.add(folder)


def _try_both(first: int, second: int) -> tuple[int | None, bool]:
    try:
        fcntl.flock(first, fcntl.LOCK_EX)  # blocking: another process's probe holds it for microseconds
    except OSError as exc:
        return exc.errno, False
    try:
        fcntl.flock(second, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return None, True
    except OSError as exc:
        return exc.errno, False
    return None, False


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash in paths as octal escapes."""
    for escaped, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(escaped, char)
    return field
