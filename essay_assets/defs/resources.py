"""The one resource every asset needs: the user's settings and the stores they point at."""

from __future__ import annotations

import dagster as dg
from pydantic import Field, PrivateAttr

from essay_assets.database_connections import keep_database_connections
from essay_assets.run_process import tag_run_with_this_process
from essay_assets.settings import Settings
from essay_assets.storage.raw_store import RawStore
from essay_assets.storage.warehouse import Warehouse, warehouse_for

_FROM_ENVIRONMENT = "Empty: the ESSAYS_* environment variable, else data/config.yaml, else the default."


class EssaySettings(dg.ConfigurableResource):
    """The user's settings: ESSAYS_* environment variables, then data/config.yaml, then defaults.
    Each field below overrides one setting for a run (the launchpad shows them); empty fields
    leave it as configured. Secrets are never fields: they stay in the environment."""

    data_dir: str | None = Field(default=None, description=f"Folder of inputs and outputs. {_FROM_ENVIRONMENT}")
    model: str | None = Field(default=None, description=f"litellm model name, or local/smollm2-135m. {_FROM_ENVIRONMENT}")
    api_base: str | None = Field(default=None, description=f"OpenAI-compatible endpoint of the model. {_FROM_ENVIRONMENT}")
    temperature: float | None = Field(default=None, description=f"Sampling temperature. {_FROM_ENVIRONMENT}")
    max_output_tokens: int | None = Field(default=None, description=f"Essay length cap in tokens. {_FROM_ENVIRONMENT}")
    essay_style: str | None = Field(default=None, description=f"`whole` or `sectioned`. {_FROM_ENVIRONMENT}")
    quote_policy: str | None = Field(
        default=None, description=f"What happens to a quotation the transcript does not confirm: `repair`, "
                                  f"`unquote` or `fail`. {_FROM_ENVIRONMENT}")
    context_window: int | None = Field(
        default=None, description=f"Context window (tokens) of a model litellm does not know. {_FROM_ENVIRONMENT}")
    llm_concurrency: int | None = Field(
        default=None, description=f"Simultaneous model calls inside one step. {_FROM_ENVIRONMENT}")
    languages: list[str] | None = Field(
        default=None, description=f"Preferred transcript languages, in order. {_FROM_ENVIRONMENT}")
    allow_translation: bool | None = Field(
        default=None, description=f"Accept YouTube's translation into the first language. {_FROM_ENVIRONMENT}")
    essay_cost_ceiling_cents: float | None = Field(
        default=None, description=f"Refuse an essay whose estimated cost exceeds this. {_FROM_ENVIRONMENT}")

    # Built once per resource instance (Dagster makes one per run or tick): every step of the
    # run then reads the same settings, and config.yaml is parsed once, not once per call.
    _settings: Settings | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._settings = self._read()
        if context.run is not None and context.instance is not None:  # a run, not a schedule or sensor tick
            # The run worker names itself, so a run whose worker was killed with its code server
            # is found and failed by the next `essays` command (run_process.py).
            tag_run_with_this_process(context.instance, context.run)
            # On PostgreSQL, the run's queries and events reuse connections instead of opening one each.
            keep_database_connections(context.instance)

    def get(self) -> Settings:
        if self._settings is None:  # used outside a run (a test, a script): read on first use
            self._settings = self._read()
        return self._settings

    def parts(self) -> tuple[Settings, RawStore, Warehouse]:
        settings = self.get()
        return settings, RawStore(settings.raw_dir), warehouse_for(settings)

    def _read(self) -> Settings:
        overrides = {name: getattr(self, name) for name in type(self).model_fields}
        return Settings.from_env(overrides=overrides)
