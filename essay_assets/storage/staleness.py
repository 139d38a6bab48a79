"""Which videos need an essay: missing, or written with another prompt revision or model."""

from __future__ import annotations

from essay_assets.storage.warehouse import Warehouse


def videos_needing_essays(warehouse: Warehouse, video_ids: list[str], revision: int, model: str) -> list[str]:
    if not video_ids:
        return []
    fresh = {
        row["video_id"]
        for row in warehouse.query(
            "SELECT video_id FROM essays WHERE prompt_revision = ? AND llm_model = ?", [revision, model]
        )
    }
    return [video_id for video_id in video_ids if video_id not in fresh]
