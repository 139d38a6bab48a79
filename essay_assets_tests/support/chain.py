"""Put a user transcript in the data dir, and run the real chain as `essays run` does."""

from __future__ import annotations

import json
from pathlib import Path

from testkit.synthetic_transcripts import synthetic_snippets


def write_transcript(data_dir: Path, video_id: str, words: int = 400, seed: int = 0) -> Path:
    path = data_dir / "transcripts" / f"{video_id}.json"
    path.write_text(json.dumps(synthetic_snippets(words, seed)))
    return path


def run_chain(video_ids: list[str], **kwargs):
    """The real chain through the real persistent instance under DAGSTER_HOME (as `essays run`)."""
    from essay_assets.cli.runner import run_videos
    from essay_assets.settings import Settings

    return run_videos(video_ids, Settings.from_env(), **kwargs)
