"""The named example queries in essay_assets/storage/sql/examples.sql (`-- name: <name>` blocks).

`python -m essay_assets.storage.sql_examples` lists them; `... <name>` prints one, ready for
`essays sql "$(python -m essay_assets.storage.sql_examples <name>)"` or a duckdb shell.
"""

from __future__ import annotations

import re
import sys
from importlib import resources

_NAME_LINE = re.compile(r"^--\s*name:\s*(\S+)\s*$", re.M)


def examples_text() -> str:
    return resources.files("essay_assets.storage").joinpath("sql", "examples.sql").read_text(encoding="utf-8")


def load_examples(text: str | None = None) -> dict[str, str]:
    """{name: SQL} in file order; the SQL keeps its describing comments, loses the `;`."""
    text = examples_text() if text is None else text
    marks = list(_NAME_LINE.finditer(text))
    examples: dict[str, str] = {}
    for mark, following in zip(marks, marks[1:] + [None]):
        body = text[mark.end(): following.start() if following else len(text)].strip()
        name = mark.group(1)
        if name in examples:
            raise ValueError(f"examples.sql names {name!r} twice")
        examples[name] = body.rstrip().rstrip(";").rstrip()
    return examples


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    examples = load_examples()
    if not argv:
        print("\n".join(examples))
        return 0
    if argv[0] not in examples:
        print(f"no example named {argv[0]!r}; there are: {', '.join(examples)}", file=sys.stderr)
        return 2
    print(examples[argv[0]])
    return 0


if __name__ == "__main__":
    sys.exit(main())
