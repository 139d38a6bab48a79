"""What Dagster loads (`dagster dev -m essay_assets.definitions`, workspace.yaml): every
definition, built by the Dagster wiring in essay_assets/defs/."""

from essay_assets.defs.build import build_definitions

defs = build_definitions()
