"""The one resource every asset needs: the user's settings and the stores they point at."""

from __future__ import annotations

import os

import dagster as dg

from essay_assets.settings import Settings
from essay_assets.storage.raw_store import RawStore
from essay_assets.storage.warehouse import Warehouse, warehouse_for


class EssaySettings(dg.ConfigurableResource):
    """Settings come from the environment (ESSAYS_*) and data/config.yaml; `data_dir` here
    overrides ESSAYS_DATA_DIR (tests use it)."""

    data_dir: str | None = None

    def get(self) -> Settings:
        env = dict(os.environ)
        if self.data_dir:
            env["ESSAYS_DATA_DIR"] = self.data_dir
        return Settings.from_env(env)

    def parts(self) -> tuple[Settings, RawStore, Warehouse]:
        settings = self.get()
        return settings, RawStore(settings.raw_dir), warehouse_for(settings)
