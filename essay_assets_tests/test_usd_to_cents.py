"""Dollars become cents in one function, model_calls.costs.usd_to_cents."""

from __future__ import annotations

import re
from pathlib import Path

import essay_assets
from essay_assets.model_calls.costs import usd_to_cents

PACKAGE = Path(essay_assets.__file__).parent
# `* 100` / `100 *` (also inside SQL strings); `100.0` counts, `1000` and `/ 100` do not.
_TIMES_100 = re.compile(r"\*\s*100(\.0*)?\b|\b100(\.0*)?\s*\*")


def test_usd_to_cents_keeps_fractions_and_unknown():
    assert usd_to_cents(0.0123) == 1.23
    assert usd_to_cents(0.0) == 0.0
    assert usd_to_cents(None) is None


def test_nothing_else_in_the_package_multiplies_by_100():
    offenders = [f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}"
                 for path in sorted(PACKAGE.rglob("*.py")) if path.name != "costs.py"
                 for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                 if _TIMES_100.search(line)]
    assert offenders == [], "convert with model_calls.costs.usd_to_cents instead"
