"""Transcripts as data: reading user-supplied files and the stored raw form. Pure functions.

A transcript is a list of snippets `{text, start, duration}` (youtube-transcript-api's raw
shape). Users may drop `data/transcripts/<video_id>.json` in that shape, or a plain `.txt`.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from pathlib import Path
from typing import Any


class TranscriptFileError(ValueError):
    """A user-supplied transcript file cannot be used; the message says why and how to fix it."""


@dataclasses.dataclass(frozen=True)
class Transcript:
    video_id: str
    snippets: tuple[dict[str, Any], ...]
    source: str  # user_file | youtube | sample
    language_code: str | None = None
    is_generated: bool | None = None
    is_translated: bool | None = None

    # Computed once per transcript (the stages ask for each several times per video); frozen
    # dataclasses allow it: cached_property writes the instance's __dict__, not its fields.
    @functools.cached_property
    def text(self) -> str:
        return " ".join(s["text"].strip() for s in self.snippets if s["text"].strip())

    @functools.cached_property
    def word_count(self) -> int:
        return word_count(self.text)

    @functools.cached_property
    def content_sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    def to_json(self) -> dict[str, Any]:
        # Shallow: dataclasses.asdict deep-copies every snippet only for json.dumps to read it.
        return {**{f.name: getattr(self, f.name) for f in dataclasses.fields(self)}, "snippets": list(self.snippets)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Transcript":
        return cls(**{**data, "snippets": tuple(data["snippets"])})


def word_count(text: str) -> int:
    return len(text.split())


def find_user_transcript(transcripts_dir: Path, video_id: str) -> Path | None:
    """`<id>.json` wins over `<id>.txt`: it carries timings."""
    for suffix in (".json", ".txt"):
        candidate = transcripts_dir / f"{video_id}{suffix}"
        if candidate.exists():
            return candidate
    return None


def load_user_transcript(path: Path, video_id: str) -> Transcript:
    try:
        raw = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise TranscriptFileError(f"{path} is not UTF-8 text ({exc}). Save it as UTF-8 and run again.") from exc
    except MemoryError:
        raise TranscriptFileError(f"{path} is too large to read into memory. Shorten it, or delete it "
                                  "to fetch the transcript from YouTube.") from None
    except OSError as exc:  # a folder, a broken link, no permission: retrying will not help
        raise TranscriptFileError(f"{path} cannot be read ({exc.strerror or exc}). Fix or delete it, "
                                  "then run again.") from None
    snippets = parse_json_snippets(raw, path) if path.suffix == ".json" else parse_text_snippets(raw)
    if not any(s["text"].strip() for s in snippets):
        raise TranscriptFileError(
            f"{path} holds no transcript text for video {video_id}. Put the transcript in it, "
            "or delete the file to fetch the transcript from YouTube."
        )
    return Transcript(video_id=video_id, snippets=tuple(snippets), source="user_file")


def parse_json_snippets(raw: str, path: Path | str = "transcript") -> list[dict[str, Any]]:
    expected = 'a JSON list of {"text": str, "start": seconds, "duration": seconds}'
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise TranscriptFileError(f"{path} is not valid JSON ({exc}); expected {expected}.") from exc
    except RecursionError:  # nested deeper than the parser's stack (`[[[[...`): no transcript is shaped so
        raise TranscriptFileError(f"{path} is nested too deeply to be a transcript; expected {expected}.") from None
    except MemoryError:
        raise TranscriptFileError(f"{path} is too large to parse; expected {expected}.") from None
    except ValueError as exc:  # e.g. an integer longer than Python converts (4,300 digits)
        raise TranscriptFileError(f"{path} cannot be read as JSON ({exc}); expected {expected}.") from None
    if not isinstance(data, list):
        raise TranscriptFileError(f"{path} holds a JSON {type(data).__name__}; expected {expected}.")
    snippets = []
    for index, item in enumerate(data):
        if not isinstance(item, dict) or not isinstance(item.get("text"), str):
            raise TranscriptFileError(f"{path}: item {index} has no text; expected {expected}.")
        try:
            start, duration = float(item.get("start", 0.0)), float(item.get("duration", 0.0))
        except (TypeError, ValueError, OverflowError) as exc:
            raise TranscriptFileError(f"{path}: item {index} has a non-numeric start or duration.") from exc
        snippets.append({"text": item["text"], "start": start, "duration": duration})
    return snippets


def parse_text_snippets(raw: str) -> list[dict[str, Any]]:
    """Plain text: one snippet per non-empty line; there are no timings to keep."""
    return [{"text": line.strip(), "start": 0.0, "duration": 0.0} for line in raw.splitlines() if line.strip()]
