"""The old system's essay, whose front matter fields are a contract."""

from __future__ import annotations

from pathlib import Path

from essay_assets.writing.rendering import parse_essay

# The old system's essay (../shared/examples/ beside the repository): its front matter fields
# are a contract. A copy lives in the fixtures so a clone tests it on any machine.
REFERENCE = Path(__file__).parents[1] / "fixtures" / "reference_000_59b128734f937062.txt"
SHARED_REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "examples" / "000_59b128734f937062.txt"


def reference_fields() -> dict:
    fields, _ = parse_essay(REFERENCE.read_text())
    return fields
