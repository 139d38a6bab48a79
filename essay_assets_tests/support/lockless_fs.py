"""Real filesystems whose file locks cannot be trusted, as FUSE passthroughs of a folder:

- `enolck`: every `flock` fails with ENOLCK, as on an NFS mount without a lock daemon;
- `local-s3fs`: flock is not implemented, so the kernel keeps the locks on this machine (they
  work between local processes, as on every FUSE client of object storage), mounted with the
  type `fuse.s3fs` that such a client shows in the mount table.

Each runs as its own process (`python -m essay_assets_tests.support.lockless_fs MODE BACKING
MOUNTPOINT`, foreground) and is stopped with `fusermount3 -u MOUNTPOINT`. Needs libfuse3 (`apt-get install fuse3`), /dev/fuse and
`mfusepy`; tests skip without them (`LocklessMount.available`)."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

MODES = ("enolck", "local-s3fs")


def serve(mode: str, backing: str, mountpoint: str) -> None:
    import mfusepy as fuse

    class Lockless(fuse.Operations):
        """Every call goes to the backing folder, except flock, which fails."""

        use_ns = True

        def __init__(self, root: str):
            self.root = root

        def _p(self, path: str) -> str:
            return os.path.join(self.root, path.lstrip("/"))

        def getattr(self, path, fh=None):
            try:
                st = os.lstat(self._p(path))
            except OSError as exc:
                raise fuse.FuseOSError(exc.errno) from None
            return {key: getattr(st, key) for key in (
                "st_mode", "st_nlink", "st_uid", "st_gid", "st_size", "st_atime_ns", "st_mtime_ns", "st_ctime_ns")} | {
                "st_atime": st.st_atime_ns, "st_mtime": st.st_mtime_ns, "st_ctime": st.st_ctime_ns}

        def readdir(self, path, fh):
            return [".", "..", *os.listdir(self._p(path))]

        def mkdir(self, path, mode):
            return os.mkdir(self._p(path), mode)

        def rmdir(self, path):
            return os.rmdir(self._p(path))

        def create(self, path, mode, fi=None):
            return os.open(self._p(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)

        def open(self, path, flags):
            return os.open(self._p(path), flags)

        def read(self, path, size, offset, fh):
            return os.pread(fh, size, offset)

        def write(self, path, data, offset, fh):
            return os.pwrite(fh, data, offset)

        def truncate(self, path, length, fh=None):
            os.truncate(self._p(path), length)

        def flush(self, path, fh):
            return 0

        def fsync(self, path, datasync, fh):
            os.fsync(fh)
            return 0

        def release(self, path, fh):
            os.close(fh)
            return 0

        def unlink(self, path):
            return os.unlink(self._p(path))

        def rename(self, old, new):
            return os.rename(self._p(old), self._p(new))

        def chmod(self, path, mode):
            return os.chmod(self._p(path), mode)

        def utimens(self, path, times=None):
            os.utime(self._p(path), ns=times)
            return 0

        def statfs(self, path):
            st = os.statvfs(self._p(path))
            return {key: getattr(st, key) for key in (
                "f_bavail", "f_bfree", "f_blocks", "f_bsize", "f_favail", "f_ffree", "f_files", "f_flag", "f_frsize",
                "f_namemax")}

    class RefusesLocks(Lockless):
        def flock(self, path, fh, op):
            return -errno.ENOLCK  # "No locks available": what an NFS client without lockd answers

    if mode == "enolck":
        fuse.FUSE(RefusesLocks(backing), mountpoint, foreground=True, nothreads=True, fsname="lockless")
    else:  # no flock operation: the kernel handles flock locally
        fuse.FUSE(Lockless(backing), mountpoint, foreground=True, nothreads=True, fsname="bucket", subtype="s3fs")


class LocklessMount:
    """`with LocklessMount(tmp, mode) as folder:` a mounted folder whose locks cannot be trusted."""

    def __init__(self, base: Path, mode: str = "enolck"):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.mode = mode
        self.backing, self.mountpoint = base / "backing", base / "mounted"
        self.proc: subprocess.Popen | None = None

    @staticmethod
    def available() -> str | None:
        """None when a FUSE filesystem can be mounted here, else why not."""
        try:
            import mfusepy  # noqa: F401
        except (ImportError, OSError) as exc:  # OSError: libfuse itself is missing
            return f"mfusepy/libfuse unavailable ({exc})"
        if not os.path.exists("/dev/fuse") or not os.access("/dev/fuse", os.R_OK | os.W_OK):
            return "no usable /dev/fuse"
        if shutil.which("fusermount3") is None:
            return "no fusermount3 (apt-get install fuse3)"
        return None

    def __enter__(self) -> Path:
        self.backing.mkdir(parents=True)
        self.mountpoint.mkdir(parents=True)
        root = Path(__file__).resolve().parents[2]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
        self.proc = subprocess.Popen([sys.executable, "-m", "essay_assets_tests.support.lockless_fs", self.mode,
                                      str(self.backing), str(self.mountpoint)], env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if f" {self.mountpoint} " in Path("/proc/self/mountinfo").read_text():
                return self.mountpoint
            if self.proc.poll() is not None:
                raise RuntimeError(f"the FUSE filesystem exited: {self.proc.stdout.read().decode(errors='replace')}")
            time.sleep(0.05)
        self.__exit__()
        raise RuntimeError("the FUSE filesystem did not mount within 30 s")

    def __exit__(self, *exc: object) -> None:
        subprocess.run(["fusermount3", "-u", str(self.mountpoint)], capture_output=True, timeout=30)
        if self.proc is not None:
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


if __name__ == "__main__":
    serve(sys.argv[1], sys.argv[2], sys.argv[3])
