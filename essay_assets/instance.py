"""The persistent Dagster instance the CLI, the UI and the schedule share."""

from __future__ import annotations

import hashlib
import os
from importlib import resources
from pathlib import Path

from essay_assets.rendering import atomic_write_text
from essay_assets.settings import Settings

# sha256 of dagster.yaml templates shipped earlier. A home still holding one of them, byte
# for byte, was never edited by its user, so it gets the current template (and its faster
# event log); a file the user changed is left alone.
EARLIER_TEMPLATES = {
    "b20a4484e97c7a2807aeda718e2bcfbc217d2c989d1f4d3bc0eb21611cfe15d1",  # before the pooled event log
    "0df05b40e20112a898d8c35fb5c6ab4cdac19cf3a2e7c2ba54272f3101561517",  # before dequeue_interval_seconds
    "da5e179322f399584c8f3122a8f4f152886d7d7b51a6e2739719d584c6f42887",  # before the note on this set
}


def shipped_template() -> str:
    return (resources.files("essay_assets") / "dagster.yaml").read_text(encoding="utf-8")


def ensure_dagster_home(settings: Settings) -> Path:
    """DAGSTER_HOME defaults to <data dir>/dagster_home, created with our dagster.yaml."""
    home = Path(os.environ.get("DAGSTER_HOME") or settings.data_dir / "dagster_home").resolve()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists() or hashlib.sha256(config.read_bytes()).hexdigest() in EARLIER_TEMPLATES:
        atomic_write_text(config, shipped_template())
    os.environ["DAGSTER_HOME"] = str(home)
    os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
    return home
