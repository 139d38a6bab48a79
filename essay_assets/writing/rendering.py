"""Rendering the essay file: YAML front matter + markdown body. Pure functions."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import yaml

# The field list and its order live in essay_record; named here too for the renderer's readers.
from essay_assets.essay_record import (  # noqa: F401
    ADDED_FIELDS,
    FRONT_MATTER_FIELDS,
    REFERENCE_FIELDS,
    SCHEMA_VERSION,
    iso_timestamp,
)

# libyaml's safe loader and dumper when PyYAML was built with it: the same documents,
# ~15x faster to parse (the checks read every essay of a run).
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_SafeDumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

_FENCE = re.compile(r"^```[a-zA-Z]*\s*$")


def render_front_matter(fields: Mapping[str, Any]) -> str:
    missing = [name for name in REFERENCE_FIELDS if name not in fields]
    if missing:
        raise ValueError(f"front matter lacks reference fields {missing}")
    ordered = {name: fields.get(name) for name in FRONT_MATTER_FIELDS if name in fields}
    ordered.update({k: v for k, v in fields.items() if k not in ordered})
    dumped = yaml.dump(ordered, Dumper=_SafeDumper, sort_keys=False, allow_unicode=True, default_flow_style=False,
                       width=1000)
    return f"---\n{dumped}---\n"


def render_essay(fields: Mapping[str, Any], body: str) -> str:
    return render_front_matter(fields) + body.strip() + "\n"


def parse_essay(text: str) -> tuple[dict[str, Any], str]:
    """Inverse of render_essay: (front matter, body)."""
    if not text.startswith("---\n"):
        raise ValueError("essay has no front matter")
    end = text.index("\n---\n", 4)
    return yaml.load(text[4:end], Loader=_SafeLoader) or {}, text[end + 5 :]  # noqa: S506 - a safe loader


def normalize_body(raw: str, fallback_title: str) -> str:
    """Make the model's markdown an essay body: exactly one `# Title` line, first.

    Models wrap answers in code fences, skip the title, or emit several `# ` headings;
    we fix the form, never the content.
    """
    lines = [line.rstrip() for line in raw.strip().splitlines() if not _FENCE.match(line.strip())]
    while lines and not lines[0].strip():
        lines.pop(0)
    if not lines or not lines[0].startswith("# "):
        lines = [f"# {fallback_title}", ""] + lines
    body = [lines[0]] + [("#" + line) if line.startswith("# ") else line for line in lines[1:]]
    return "\n".join(body).strip() + "\n"


_TAG_ONLY = re.compile(r"^\s*<[^>]*>+\s*$")


def section_prose(raw: str) -> str:
    """A section written by its own call: keep the prose, drop headings and stray markup
    (small models echo `## ...` lines and `<tag>` fragments)."""
    lines = [line for line in raw.strip().splitlines()
             if not line.lstrip().startswith("#") and not _TAG_ONLY.match(line) and not _FENCE.match(line.strip())]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def essay_title(body: str) -> str:
    first = body.strip().splitlines()[0] if body.strip() else ""
    return first[2:].strip() if first.startswith("# ") else ""
