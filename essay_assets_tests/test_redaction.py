"""Hiding secrets in anything that is logged or stored (redaction.py)."""

from __future__ import annotations

from essay_assets.redaction import redact, redact_url_credentials


def test_redact_hides_env_secrets_key_shapes_and_url_credentials():
    env = {"OPENROUTER_API_KEY": "my-very-secret-value"}
    text = "key my-very-secret-value and sk-abcdefghijklmnop1234 via http://u:pw@proxy:8080/x"
    out = redact(text, env)
    assert "my-very-secret-value" not in out and "sk-abcdefghijklmnop1234" not in out and "u:pw@" not in out


def test_redact_credentials():
    assert redact_url_credentials("via http://bob:s3cret@proxy:8080/ now") == "via http://***@proxy:8080/ now"
    assert redact_url_credentials("http://proxy:8080/") == "http://proxy:8080/"
