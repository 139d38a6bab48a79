"""Warnings from libraries that a user of `essays` cannot act on, silenced in this one place.

Each is matched by the start of its message and the exact module it is attributed to, so
any other warning, from these libraries or ours, still shows. Installed when the package is
imported (the CLI, Dagster's code server and run workers all import it first), and handed as
`-W` options to `dagster dev`, which `essays ui` starts and which never imports this package.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass


@dataclass(frozen=True)
class LibraryWarning:
    message: str  # how the message starts, literally
    module: str  # the module the warning is attributed to, exactly
    why: str  # why nobody can act on it


LIBRARY_WARNINGS = (
    LibraryWarning(
        "Parameter `backfill_policy` of function `asset`", "dagster._core.decorator_utils",
        "Dagster marks backfill_policy beta; it is what makes a UI backfill one run (docs/benchmarks.md)."),
    LibraryWarning(
        "Function `dev_command` is superseded", "click.core",
        "`dagster dev` suggests `dg dev`; `essays ui` is the user's command, dagster dev its implementation."),
)


def silence_library_warnings() -> None:
    for known in LIBRARY_WARNINGS:
        warnings.filterwarnings("ignore", message=re.escape(known.message), module=re.escape(known.module) + r"\Z")


def python_warning_options() -> list[str]:
    """The same filters as `python -W` options, for Python processes we start."""
    return [f"-Wignore:{known.message}::{known.module}" for known in LIBRARY_WARNINGS]
