"""The persistent Dagster instance the CLI, the UI and the schedule share."""

from __future__ import annotations

import os
import shutil
from importlib import resources
from pathlib import Path

from essay_assets.settings import Settings


def ensure_dagster_home(settings: Settings) -> Path:
    """DAGSTER_HOME defaults to <data dir>/dagster_home, created with our dagster.yaml."""
    home = Path(os.environ.get("DAGSTER_HOME") or settings.data_dir / "dagster_home").resolve()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        with resources.as_file(resources.files("essay_assets") / "dagster.yaml") as template:
            shutil.copyfile(template, config)
    os.environ["DAGSTER_HOME"] = str(home)
    os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
    return home
