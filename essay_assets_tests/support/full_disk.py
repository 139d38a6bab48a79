"""A genuinely full file system for fault tests: a small tmpfs mounted over a folder, then filled.

Mounting needs root (the tests run as root in CI); where it is refused the test is skipped."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def small_tmpfs(path: Path, size: str) -> Iterator[Path]:
    """`path` (created if needed) on its own tmpfs of `size` ("1m", "64m") until the block ends."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False, timeout=30)


def fill_disk(folder: Path) -> Path:
    """Write zeros into `folder/filler` until the disk holding it has no byte left."""
    filler = folder / "filler"
    chunk = b"\0" * (1024 * 1024)
    with open(filler, "ab", buffering=0) as handle:
        for size in (len(chunk), 4096, 1):  # big blocks, then what is left, to the last byte
            try:
                while True:
                    handle.write(chunk[:size])
            except OSError:
                continue
    return filler


def files_on(folder: Path, *, ignore_suffixes: tuple[str, ...] = ()) -> dict[str, tuple[int, int]]:
    """Every file under `folder`: relative path -> (size, mtime in ns)."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.name.endswith(ignore_suffixes)}
