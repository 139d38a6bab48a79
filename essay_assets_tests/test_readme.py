"""The README promises things the code must keep true: every setting documented, the SQL examples verbatim."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
ESSAYS_VARIABLE = re.compile(r"\b(ESSAYS_[A-Z_]*[A-Z])\b")


def test_every_essays_variable_the_code_reads_is_in_the_readme():
    read_by_code = {name for path in (ROOT / "essay_assets").rglob("*.py")
                    for name in ESSAYS_VARIABLE.findall(path.read_text())}
    assert {"ESSAYS_MODEL", "ESSAYS_DATA_DIR", "ESSAYS_TEMPERATURE"} <= read_by_code  # the scan finds them
    assert sorted(read_by_code - set(ESSAYS_VARIABLE.findall(README))) == []


def test_readme_shows_exactly_the_example_queries_that_are_tested():
    block = README.split("<!-- examples.sql -->\n```sql\n", 1)[1].split("\n```\n<!-- /examples.sql -->", 1)[0]
    assert block == (ROOT / "essay_assets" / "storage" / "sql" / "examples.sql").read_text().strip()
