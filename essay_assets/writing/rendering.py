"""Rendering the essay file: YAML front matter + markdown body. Pure functions."""

from __future__ import annotations

import math
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
    lines = [_plain_line(key, value) for key, value in ordered.items()]
    dumped = "".join(lines) if None not in lines else yaml_front_matter(ordered)  # type: ignore[arg-type]
    return f"---\n{dumped}---\n"


def yaml_front_matter(ordered: Mapping[str, Any]) -> str:
    """The front matter's YAML as PyYAML writes it: the definition of the format."""
    return yaml.dump(ordered, Dumper=_SafeDumper, sort_keys=False, allow_unicode=True, default_flow_style=False,
                     width=1000)


# A front matter is one `key: value` line per field. PyYAML spends ~0.4 ms per essay deciding
# each scalar's form in Python; the common ones are written here exactly as it writes them
# (null, true/false, whole numbers, floats, ISO times in quotes, and plain text of a letter then
# letters, digits and some punctuation, never `: `, ` #`, a trailing space or a word YAML reads
# as a bool or null).
# Anything else sends the whole front matter to PyYAML (test_rendering holds the two equal).
_PLAIN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9 _./()+=&?',!:-]{0,199}")
_PLAIN_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,59}")
_YAML_WORDS = frozenset({"yes", "no", "true", "false", "on", "off", "null", "y", "n"})
_VERSION = re.compile(r"\d{1,4}\.\d{1,4}\.\d{1,4}")
# ISO 8601 times (createdAt, date, publishedAt): YAML would read them as timestamps, so PyYAML
# writes them in single quotes.
_QUOTED_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}:\d{2})")


def _plain_line(key: str, value: Any) -> str | None:
    if not (isinstance(key, str) and _PLAIN_KEY.fullmatch(key)) or key.lower() in _YAML_WORDS:
        return None
    if value is None:
        text = "null"
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, int):
        text = str(value) if value >= 0 else None
    elif isinstance(value, float):
        text = _plain_float(value)
    elif isinstance(value, str) and _QUOTED_TIMESTAMP.fullmatch(value):
        text = f"'{value}'"
    elif isinstance(value, str) and _VERSION.fullmatch(value):  # schemaVersion: no number has two dots
        text = value
    elif isinstance(value, str):
        plain = (_PLAIN_TEXT.fullmatch(value) and not value.endswith((" ", ":")) and ": " not in value
                 and "  " not in value and value.lower() not in _YAML_WORDS)
        text = value if plain else None
    else:
        text = None
    return None if text is None else f"{key}: {text}\n"


def _plain_float(value: float) -> str | None:
    """PyYAML's SafeRepresenter.represent_float, for finite non-negative floats."""
    if not math.isfinite(value) or value < 0 or (value == 0.0 and math.copysign(1.0, value) < 0):
        return None
    text = repr(value).lower()
    return text.replace("e", ".0e", 1) if "." not in text and "e" in text else text


def render_essay(fields: Mapping[str, Any], body: str) -> str:
    return render_front_matter(fields) + body.strip() + "\n"


def parse_essay(text: str) -> tuple[dict[str, Any], str]:
    """Inverse of render_essay: (front matter, body)."""
    if not text.startswith("---\n"):
        raise ValueError("essay has no front matter")
    end = text.index("\n---\n", 4)
    fields = _parse_plain_lines(text[4:end])
    if fields is None:  # anything the renderer does not write itself (an edited file, say): PyYAML reads it
        fields = yaml.load(text[4:end], Loader=_SafeLoader) or {}  # noqa: S506 - a safe loader
    return fields, text[end + 5 :]


_LINE = re.compile(r"([A-Za-z][A-Za-z0-9_]{0,59}): (.*)")
_WHOLE_NUMBER = re.compile(r"0|[1-9][0-9]{0,30}")
_FLOAT = re.compile(r"(?:0|[1-9][0-9]*)\.[0-9]+(?:e[-+][0-9]+)?")
_NOT_PLAIN = object()


def _parse_plain_lines(text: str) -> dict[str, Any] | None:
    """The front matter as PyYAML reads it, when every line is one the renderer writes itself
    (`_plain_line`); None otherwise. The essay checks read every essay of a run."""
    fields: dict[str, Any] = {}
    for line in text.split("\n"):
        match = _LINE.fullmatch(line)
        if match is None or match[1].lower() in _YAML_WORDS:
            return None
        value = _plain_value(match[2])
        if value is _NOT_PLAIN:
            return None
        fields[match[1]] = value  # a repeated key: the last wins, as in PyYAML
    return fields


def _plain_value(raw: str) -> Any:
    if raw in ("null", "true", "false"):
        return {"null": None, "true": True, "false": False}[raw]
    if _WHOLE_NUMBER.fullmatch(raw):
        return int(raw)
    if _FLOAT.fullmatch(raw):
        return float(raw)
    if raw.startswith("'") and _QUOTED_TIMESTAMP.fullmatch(raw[1:-1]) and raw.endswith("'"):
        return raw[1:-1]
    if _VERSION.fullmatch(raw):
        return raw
    if _plain_line("key", raw) == f"key: {raw}\n" and not _QUOTED_TIMESTAMP.fullmatch(raw):
        return raw  # text the renderer writes plain
    return _NOT_PLAIN


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
