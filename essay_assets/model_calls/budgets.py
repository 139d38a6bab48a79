"""Spending ceilings, checked before any paid call. Pure functions."""

from __future__ import annotations

import dataclasses


class BudgetExceeded(Exception):
    """A planned essay would cross a ceiling; nothing was spent."""

    reason = "budget_exceeded"


@dataclasses.dataclass(frozen=True)
class BudgetCheck:
    estimate_cents: float | None
    essay_ceiling_cents: float | None
    daily_ceiling_cents: float | None
    spent_today_cents: float


def enforce_budget(video_id: str, model: str, check: BudgetCheck) -> None:
    """Raise BudgetExceeded with the estimate and the ceiling when a ceiling would be crossed.

    An unknown price with a ceiling set also stops the call: we cannot promise to stay
    under a ceiling for a model whose price we do not know.
    """
    ceilings = check.essay_ceiling_cents is not None or check.daily_ceiling_cents is not None
    if not ceilings:
        return
    if check.estimate_cents is None:
        raise BudgetExceeded(
            f"Video {video_id}: no price is known for {model}, so the spending ceilings cannot be "
            "enforced and nothing was spent. Add the model to model_prices in config.yaml "
            "(USD per million input/output tokens), or unset the ceilings."
        )
    if check.essay_ceiling_cents is not None and check.estimate_cents > check.essay_ceiling_cents:
        raise BudgetExceeded(
            f"Video {video_id}: the essay is estimated at {check.estimate_cents:.4f} cents with {model}, "
            f"over the per-essay ceiling of {check.essay_ceiling_cents:g} cents "
            "(ESSAYS_ESSAY_COST_CEILING_CENTS). Nothing was spent. Raise the ceiling or choose a cheaper model."
        )
    if check.daily_ceiling_cents is not None:
        projected = check.spent_today_cents + check.estimate_cents
        if projected > check.daily_ceiling_cents:
            raise BudgetExceeded(
                f"Video {video_id}: spent today {check.spent_today_cents:.4f} cents + estimate "
                f"{check.estimate_cents:.4f} cents with {model} = {projected:.4f} cents, over the daily "
                f"ceiling of {check.daily_ceiling_cents:g} cents (ESSAYS_DAILY_COST_CEILING_CENTS). "
                "Nothing was spent. It resets at 00:00 UTC, or raise the ceiling."
            )
