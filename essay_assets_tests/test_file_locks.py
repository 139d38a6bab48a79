"""The data dir's lock check: the pure verdict on what a probe found (every case a shared volume
can present), the mountinfo reading it depends on, the real probe on this machine's disk, where
locks work and the warehouse opens as before, and real FUSE mounts whose locks fail or stay on
this machine, which the warehouse and the `essays` command refuse (skipped where FUSE cannot be
mounted)."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

from essay_assets.settings import Settings, SettingsError
from essay_assets.storage.file_locks import (
    PROBE_NAME,
    DataDirLocksUnusable,
    LockProbe,
    Mount,
    lock_problem,
    mount_of,
    probe_locks,
    require_working_locks,
)
from essay_assets.storage.warehouse import warehouse_for
from essay_assets_tests.support.lockless_fs import LocklessMount

ROOT = Path(__file__).resolve().parents[1]
needs_fuse = pytest.mark.skipif(LocklessMount.available() is not None,
                                reason=f"cannot mount FUSE here: {LocklessMount.available()}")


def probe(fs_type: str = "ext4", options: str = "rw,relatime", *, flock_errno: int | None = None,
          conflict_seen: bool = True, mount_point: str = "/data") -> LockProbe:
    return LockProbe(flock_errno, conflict_seen, Mount(mount_point, fs_type, frozenset(options.split(","))))


@pytest.mark.parametrize("found", [
    probe(),
    probe("tmpfs"),
    probe("xfs"),
    # Amazon EFS and other NFSv4 servers: locks go to the server (local_lock=none is the default)
    probe("nfs4", "rw,vers=4.1,rsize=1048576,hard,proto=tcp,timeo=600,sec=sys,local_lock=none,addr=10.0.0.5"),
    probe("nfs", "rw,vers=3,hard,proto=tcp,local_lock=none,addr=10.0.0.6"),  # NFSv3 with its lock daemon
    probe("cifs", "rw,vers=3.1.1,cache=strict,serverino"),  # Azure Files / SMB with byte-range locks
    probe("ceph", "rw,name=essays"),
    probe("fuse.glusterfs", "rw,user_id=0"),  # a FUSE client that does forward locks
    LockProbe(None, True, None),  # not Linux: no mountinfo, the probe alone decides
])
def test_locks_that_reach_every_client_are_accepted(found):
    assert lock_problem(found) is None


@pytest.mark.parametrize("found, says", [
    (probe("nfs", "rw,vers=3", flock_errno=errno.ENOLCK), "flock fails there (ENOLCK: No locks available)"),
    (probe("fuse.something", flock_errno=errno.EOPNOTSUPP), "Operation not supported"),
    (probe(conflict_seen=False), "not seen as held by a second open"),
    (probe("nfs", "rw,vers=3,nolock,local_lock=all"), "mounted with local_lock=all, nolock, so its locks stay"),
    (probe("nfs4", "rw,vers=4.2,local_lock=flock"), "mounted with local_lock=flock"),
    (probe("cifs", "rw,vers=3.0,nobrl"), "mounted with nobrl"),
    (probe("fuse.s3fs"), "a fuse.s3fs mount at /data, whose locks stay on this machine and whose renames are not"),
    (probe("fuse.gcsfuse"), "fuse.gcsfuse"),
    (probe("fuse.mountpoint-s3"), "fuse.mountpoint-s3"),
    (probe("fuse.sshfs"), "fuse.sshfs"),
])
def test_locks_that_fail_or_stay_on_one_machine_are_refused_saying_why(found, says):
    assert says in lock_problem(found)


MOUNTINFO = [
    "22 1 253:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw,discard",
    "30 22 0:26 / /dev/shm rw,nosuid,nodev shared:4 - tmpfs tmpfs rw,size=65536k",
    "41 22 0:40 / /mnt/efs rw,relatime shared:20 - nfs4 fs-1234.efs.eu-west-1.amazonaws.com:/ "
    "rw,vers=4.1,hard,local_lock=none,addr=10.0.0.5",
    "42 41 0:41 / /mnt/efs/scratch\\040space rw,relatime shared:21 - nfs 10.0.0.7:/x rw,vers=3,nolock,local_lock=all",
    "43 22 0:42 / /mnt/efs2 rw shared:22 - fuse.s3fs s3fs rw,user_id=0,group_id=0",
]


@pytest.mark.parametrize("path, point, fs_type", [
    ("/home/me/data", "/", "ext4"),
    ("/mnt/efs", "/mnt/efs", "nfs4"),
    ("/mnt/efs/essays/warehouse", "/mnt/efs", "nfs4"),
    ("/mnt/efs/scratch space/warehouse", "/mnt/efs/scratch space", "nfs"),  # the deepest mount wins
    ("/mnt/efs2/data", "/mnt/efs2", "fuse.s3fs"),  # /mnt/efs is not a prefix of /mnt/efs2
])
def test_the_mount_holding_a_path_is_the_deepest_one(path, point, fs_type):
    mount = mount_of(Path(path), MOUNTINFO)
    assert (mount.mount_point, mount.fs_type) == (point, fs_type)


def test_mount_options_include_the_superblock_options_where_nfs_puts_its_locking():
    assert {"nolock", "local_lock=all", "relatime"} <= mount_of(Path("/mnt/efs/scratch space/x"), MOUNTINFO).options
    assert lock_problem(LockProbe(None, True, mount_of(Path("/mnt/efs/scratch space/x"), MOUNTINFO)))
    assert lock_problem(LockProbe(None, True, mount_of(Path("/mnt/efs/essays"), MOUNTINFO))) is None


def test_the_real_probe_on_this_disk_sees_working_exclusive_locks(tmp_path):
    found = probe_locks(tmp_path / "warehouse")
    assert found.flock_errno is None and found.conflict_seen
    assert lock_problem(found) is None
    assert (tmp_path / "warehouse" / PROBE_NAME).exists()


def test_a_warehouse_on_this_disk_opens_and_works_as_before(tmp_path):
    settings = Settings.from_env({"ESSAYS_DATA_DIR": str(tmp_path / "data")})
    warehouse = warehouse_for(settings)  # probes, once per folder and process
    warehouse.write("failures", [{"failure_id": "f1", "video_id": "abcdefghijk", "stage": "transcript", "reason": "x", "message": "m"}])
    assert warehouse.row_count("failures") == 1
    require_working_locks(settings.warehouse_dir)  # already verified: no second probe, no error


def test_the_refusal_is_a_settings_error_the_cli_prints_on_one_line():
    # The CLI prints a SettingsError as one line and exits 2 (essay_assets/cli/main.py).
    assert issubclass(DataDirLocksUnusable, SettingsError)


@needs_fuse
def test_a_data_dir_whose_flock_fails_is_refused_before_anything_is_written(tmp_path):
    with LocklessMount(tmp_path, "enolck") as mounted:
        settings = Settings.from_env({"ESSAYS_DATA_DIR": str(mounted / "data")})
        with pytest.raises(DataDirLocksUnusable) as refused:
            warehouse_for(settings)
        message = str(refused.value)
        assert str(settings.warehouse_dir) in message and "flock fails there (ENOLCK" in message
        assert "NFSv4 with locking" in message and "docs/deploy.md" in message and "\n" not in message
        with pytest.raises(DataDirLocksUnusable):  # refused every time, not only the first
            warehouse_for(settings)
        written = [p.name for p in (mounted / "data").rglob("*") if p.is_file()]
        assert written == [PROBE_NAME]  # the probe's own file, nothing of the warehouse


@needs_fuse
@pytest.mark.parametrize("command", [["sql", "SELECT count(*) FROM essays"], ["status"]])
def test_essays_commands_refuse_it_in_one_line(tmp_path, command):
    """`essays sql` meets the warehouse's check, `essays status` the instance lock's, first."""
    with LocklessMount(tmp_path, "enolck") as mounted:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ESSAYS_", "DAGSTER_"))}
        env.update(ESSAYS_DATA_DIR=str(mounted / "data"), DAGSTER_DISABLE_TELEMETRY="1",
                   PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
        done = subprocess.run([sys.executable, "-m", "essay_assets.cli", *command], env=env, capture_output=True,
                              text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("essays: The data dir folder ")
    assert "ENOLCK" in lines[0] and "docs/deploy.md" in lines[0]


@needs_fuse
def test_locks_kept_on_this_machine_pass_the_probe_and_are_refused_by_the_mount_check(tmp_path):
    """A FUSE client of object storage keeps flocks in the local kernel: between two processes of
    this machine they work, so the probe alone cannot tell; its mount type can."""
    with LocklessMount(tmp_path, "local-s3fs") as mounted:
        found = probe_locks(mounted / "data" / "warehouse")
        assert found.flock_errno is None and found.conflict_seen
        assert found.mount.fs_type == "fuse.s3fs" and found.mount.mount_point == str(mounted)
        with pytest.raises(DataDirLocksUnusable, match="fuse.s3fs mount .* locks stay on this machine"):
            warehouse_for(Settings.from_env({"ESSAYS_DATA_DIR": str(mounted / "data")}))
