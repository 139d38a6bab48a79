"""Enforcing the per-essay and daily cost ceilings (model_calls/budgets.py)."""

from __future__ import annotations

import pytest

from essay_assets.model_calls.budgets import BudgetCheck, BudgetExceeded, enforce_budget


def test_budget_messages_name_the_estimate_and_the_ceiling():
    enforce_budget("v", "m", BudgetCheck(5.0, None, None, 0.0))  # no ceilings: nothing to enforce
    with pytest.raises(BudgetExceeded, match=r"5\.4200 cents .* ceiling of 5 cents"):
        enforce_budget("v", "m", BudgetCheck(5.42, 5.0, None, 0.0))
    with pytest.raises(BudgetExceeded, match=r"spent today 8\.0000 cents \+ estimate 3\.0000"):
        enforce_budget("v", "m", BudgetCheck(3.0, None, 10.0, 8.0))
    with pytest.raises(BudgetExceeded, match="no price is known"):
        enforce_budget("v", "m", BudgetCheck(None, 5.0, None, 0.0))
