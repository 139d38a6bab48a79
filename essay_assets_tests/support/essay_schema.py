"""Validating essays' front matter against the published docs/essay.schema.json, as a site
generator or any other reader of the essays would."""

from __future__ import annotations

import json

import jsonschema

from essay_assets.storage.schema_doc import ESSAY_SCHEMA_PATH


def schema_errors(front_matter: dict) -> list[str]:
    schema = json.loads(ESSAY_SCHEMA_PATH.read_text())
    validator = jsonschema.Draft202012Validator(schema)
    return [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(front_matter)]
