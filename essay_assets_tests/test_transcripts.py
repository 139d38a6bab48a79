"""Reading a user's transcript file (intake/transcripts.py)."""

from __future__ import annotations

import json

import pytest

from essay_assets.intake.transcripts import (
    TranscriptFileError,
    load_user_transcript,
    parse_json_snippets,
)


def test_user_transcript_errors_are_actionable(tmp_path):
    bad = tmp_path / "abcdefghijk.json"
    bad.write_text('{"text": "not a list"}')
    with pytest.raises(TranscriptFileError, match="expected a JSON list"):
        load_user_transcript(bad, "abcdefghijk")
    empty = tmp_path / "abcdefghijk.txt"
    empty.write_text("\n\n")
    with pytest.raises(TranscriptFileError, match="no transcript text"):
        load_user_transcript(empty, "abcdefghijk")
    with pytest.raises(TranscriptFileError, match="item 1 has no text"):
        parse_json_snippets(json.dumps([{"text": "ok"}, {"start": 1}]))
