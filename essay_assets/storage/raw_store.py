"""The raw store under data/raw/: everything fetched or paid for, kept so it is never
fetched or paid for twice. JSON files written atomically; one folder per kind."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from essay_assets.storage.files import atomic_write_text


class RawStore:
    def __init__(self, raw_dir: Path):
        self.raw_dir = Path(raw_dir)

    def transcript_path(self, video_id: str) -> Path:
        return self.raw_dir / "transcripts" / f"{video_id}.json"

    def video_metadata_path(self, video_id: str) -> Path:
        return self.raw_dir / "videos" / f"{video_id}.json"

    def plan_path(self, video_id: str, revision: int) -> Path:
        return self.raw_dir / "prompts" / f"{video_id}.r{revision}.json"

    def response_path(self, video_id: str, revision: int) -> Path:
        return self.raw_dir / "responses" / f"{video_id}.r{revision}.json"

    def call_path(self, video_id: str, request_key: str) -> Path:
        return self.raw_dir / "llm_calls" / video_id / f"{request_key}.json"

    def read(self, path: Path) -> Any | None:
        """The stored value, or None when there is none. A file that is empty or not whole JSON
        counts as missing too: that is what a machine crash can leave of a file written without
        fsync (`write(durable=False)`), and such a file is made again by the stage that makes it."""
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            return json.loads(data)
        except ValueError:  # JSONDecodeError, UnicodeDecodeError: empty, cut short or zero-filled
            return None

    def write(self, path: Path, value: Any, *, durable: bool = True) -> None:
        """Store `value` atomically. `durable=False` (no fsync) only for what can be made again at
        no cost (a plan, a response record rebuilt from its stored calls, a copy of a user's
        transcript, a metadata lookup); paid answers and what only the network had stay durable."""
        # Compact: with `indent`, json.dumps falls back from its C encoder to pure Python (twice
        # the CPU for a transcript; these files are for the program to read back).
        atomic_write_text(path, json.dumps(value, ensure_ascii=False, default=str), durable=durable)

    def delete_video(self, video_id: str) -> int:
        removed = 0
        for path in list(self.raw_dir.glob(f"*/{video_id}.json")) + list(self.raw_dir.glob(f"*/{video_id}.r*.json")):
            path.unlink(missing_ok=True)
            removed += 1
        calls = self.raw_dir / "llm_calls" / video_id
        if calls.exists():
            for path in calls.glob("*.json"):
                path.unlink()
                removed += 1
            for path in calls.glob("*.json.lock"):  # request leases (model_calls/ledger.py)
                path.unlink(missing_ok=True)
            calls.rmdir()
        return removed
