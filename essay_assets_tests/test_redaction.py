"""Hiding secrets in anything that is logged or stored (redaction.py)."""

from __future__ import annotations

from essay_assets.redaction import redact_url_credentials


def test_redact_credentials():
    assert redact_url_credentials("via http://bob:s3cret@proxy:8080/ now") == "via http://***@proxy:8080/ now"
    assert redact_url_credentials("http://proxy:8080/") == "http://proxy:8080/"
