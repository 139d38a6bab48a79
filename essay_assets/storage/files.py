"""Files that are never half-written, and content hashes that are the same in every process."""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from pathlib import Path
from typing import Any


def atomic_write_text(path: Path, text: str, *, durable: bool = True) -> None:
    """Write to a temp file in the same folder, fsync, then rename over the target, so a
    reader (or a crash) never sees half a file.

    `durable=False` skips the fsync, for files the pipeline can make again at no cost: a reader
    still never sees half a file (the rename is atomic), but after a machine crash (not a
    killed process) the file may be empty or missing, so its reader must take an empty or
    unreadable file as missing (RawStore.read does). The fsync was half the CPU of such a
    write and most of its wall time.
    """
    if not path.parent.is_dir():
        path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # only left when writing failed: never a partial file
        raise


def stable_hash(value: Any) -> str:
    """Content hash of a JSON-able value: the same in every process (unlike hash())."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()
