"""Keeping secrets out of logs, files, metadata and the database."""

from __future__ import annotations

import re
from collections.abc import Mapping

from essay_assets.settings import secret_values_in_environment

_KEY_SHAPES = re.compile(r"\b(sk-[A-Za-z0-9_\-]{8,}|sk-or-v1-[A-Za-z0-9]{8,}|AKIA[0-9A-Z]{16})")
# `user:pass@` or a bare `token@` in any URL (proxy URLs carry credentials this way).
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/@\s'\"]+@")


def redact(text: str | None, environ: Mapping[str, str] | None = None) -> str | None:
    """Replace secret env values (of `environ`, default the process's), key-shaped strings and
    URL credentials with ***."""
    if text is None:
        return None
    for value in secret_values_in_environment(environ):
        text = text.replace(value, "***")
    return redact_url_credentials(_KEY_SHAPES.sub("***", text))


def redact_url_credentials(text: str) -> str:
    """Replace the credentials of any URL inside `text` with `***@`."""
    return _URL_CREDENTIALS.sub(r"\g<scheme>***@", text)
