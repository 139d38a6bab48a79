"""The versioned "third guest" prompts and the messages built from them. Pure functions.

Prompts are files named `<name>.r<revision>.md` in essay_assets/writing/prompts/ (or the
folder `Settings.prompts_dir` names, ESSAYS_PROMPTS_DIR). The newest
revision of `third_guest` is the one in use; its number is `systemPromptRevision` in every
essay's front matter and part of each consuming asset's code_version, so bumping it marks
older essays stale. Transcript text is untrusted: it is fenced and labelled as data.
"""

from __future__ import annotations

import dataclasses
import re
from functools import lru_cache
from pathlib import Path

from essay_assets.settings import SettingsError
from essay_assets.writing.chunking import Chunk, format_timestamp

BUNDLED_PROMPTS_DIR = Path(__file__).parent / "prompts"
"""The package's own prompts; `Settings.prompts_dir` may name a folder of your own instead."""
_FILE_PATTERN = re.compile(r"^(?P<name>[a-z_]+)\.r(?P<revision>\d+)\.md$")


@dataclasses.dataclass(frozen=True)
class PromptSet:
    revision: int
    essay_system: str
    chunk_notes_system: str


@dataclasses.dataclass(frozen=True)
class VideoContext:
    video_id: str
    title: str | None = None
    channel_name: str | None = None
    published_at: str | None = None


def available_revisions(prompts_dir: Path | None = None) -> dict[str, list[int]]:
    prompts_dir = prompts_dir or BUNDLED_PROMPTS_DIR
    found: dict[str, list[int]] = {}
    for path in prompts_dir.glob("*.md"):
        match = _FILE_PATTERN.match(path.name)
        if match:
            found.setdefault(match["name"], []).append(int(match["revision"]))
    return {name: sorted(revs) for name, revs in found.items()}


@lru_cache(maxsize=8)
def load_prompts(revision: int | None = None, prompts_dir: Path | None = None) -> PromptSet:
    """The prompt set at `revision` (default: newest) in `prompts_dir` (default: the package's).
    Notes prompts may lag behind: the newest chunk-notes file at or below the revision is used."""
    if prompts_dir is not None and not prompts_dir.is_dir():
        raise SettingsError(f"ESSAYS_PROMPTS_DIR (prompts_dir in config.yaml) is {prompts_dir}, which is not a "
                            "folder. Point it at a folder of third_guest.r<N>.md and chunk_notes.r<N>.md files, "
                            "or unset it to use the bundled prompts.")
    prompts_dir = prompts_dir or BUNDLED_PROMPTS_DIR
    revisions = available_revisions(prompts_dir)
    essay_revisions = revisions.get("third_guest", [])
    if not essay_revisions or not revisions.get("chunk_notes"):
        missing = "third_guest.r<N>.md" if not essay_revisions else "chunk_notes.r<N>.md"
        raise SettingsError(f"ESSAYS_PROMPTS_DIR (prompts_dir in config.yaml) is {prompts_dir}, which holds no "
                            f"{missing} prompt. Add the prompt files (copy them from {BUNDLED_PROMPTS_DIR}), "
                            "or unset it to use the bundled prompts.")
    revision = essay_revisions[-1] if revision is None else revision
    if revision not in essay_revisions:
        raise FileNotFoundError(f"Prompt revision {revision} does not exist; have {essay_revisions}")
    notes_revision = max((r for r in revisions["chunk_notes"] if r <= revision), default=None)
    if notes_revision is None:
        raise SettingsError(f"ESSAYS_PROMPTS_DIR (prompts_dir in config.yaml) is {prompts_dir}, which holds no "
                            f"chunk_notes.r<N>.md at or below revision {revision}. Add one.")
    return PromptSet(
        revision=revision,
        essay_system=(prompts_dir / f"third_guest.r{revision}.md").read_text().strip(),
        chunk_notes_system=(prompts_dir / f"chunk_notes.r{notes_revision}.md").read_text().strip(),
    )


def _describe(video: VideoContext) -> str:
    parts = [f"YouTube video {video.video_id}"]
    if video.title:
        parts.append(f'titled "{video.title}"')
    if video.channel_name:
        parts.append(f"from {video.channel_name}")
    if video.published_at:
        parts.append(f"published {video.published_at[:10]}")
    return " ".join(parts)


# The tags that fence untrusted text in our messages; the same tags inside that text are neutralised.
FENCE_TAGS = ("transcript", "transcript_part", "conversation_notes")
_FENCE_TAG = re.compile(r"<(\s*/?\s*)(" + "|".join(FENCE_TAGS) + r")\b([^<>]*)>", re.IGNORECASE)


def neutralise_fences(untrusted: str) -> str:
    """Untrusted text (a transcript, notes written from one) cannot close or open our fences:
    `</transcript>` inside it becomes `‹/transcript›`, which reads the same to a model but is
    not the delimiter. Everything else is left as it is."""
    return _FENCE_TAG.sub(lambda m: f"‹{m.group(1)}{m.group(2)}{m.group(3)}›", untrusted)


# The last line of every essay request; a sectioned essay swaps it for one section's instruction.
WHOLE_ESSAY_INSTRUCTION = "Write the essay now, following the structure exactly."


def essay_messages(prompts: PromptSet, video: VideoContext, transcript_text: str) -> list[dict[str, str]]:
    """One call: the whole transcript fits the model's context."""
    user = (
        f"Here is the transcript of {_describe(video)}.\n\n"
        "<transcript>\n" + neutralise_fences(transcript_text.strip()) + "\n</transcript>\n\n" + WHOLE_ESSAY_INSTRUCTION
    )
    return [{"role": "system", "content": prompts.essay_system}, {"role": "user", "content": user}]


def chunk_notes_messages(prompts: PromptSet, video: VideoContext, chunk: Chunk, chunk_total: int) -> list[dict[str, str]]:
    """Map step: notes on one chunk of a transcript too long for one call."""
    span = f"{format_timestamp(chunk.start_s)}-{format_timestamp(chunk.end_s)}"
    user = (
        f"Part {chunk.index + 1} of {chunk_total} ({span}) of the transcript of {_describe(video)}.\n\n"
        "<transcript_part>\n" + neutralise_fences(chunk.text.strip()) + "\n</transcript_part>\n\n"
        "Write the notes now."
    )
    return [{"role": "system", "content": prompts.chunk_notes_system}, {"role": "user", "content": user}]


def essay_from_notes_messages(prompts: PromptSet, video: VideoContext, notes: list[str]) -> list[dict[str, str]]:
    """Reduce step: the essay from the notes on every chunk, in conversation order."""
    body = "\n\n".join(f"Notes on part {i + 1}:\n{neutralise_fences(n.strip())}" for i, n in enumerate(notes))
    user = (
        f"The transcript of {_describe(video)} was too long to read at once, so here are notes on "
        f"each of its {len(notes)} parts, in order.\n\n"
        "<conversation_notes>\n" + body + "\n</conversation_notes>\n\n" + WHOLE_ESSAY_INSTRUCTION
    )
    return [{"role": "system", "content": prompts.essay_system}, {"role": "user", "content": user}]


def essay_sections(prompts: PromptSet) -> list[tuple[str, str]]:
    """The essay's `## ` sections and what each holds, as the system prompt defines them."""
    lines = prompts.essay_system.splitlines()
    sections = []
    for index, line in enumerate(lines):
        if line.startswith("## "):
            following = next((ln.strip() for ln in lines[index + 1:] if ln.strip()), "")
            sections.append((line[3:].strip(), "" if following.startswith("#") else following))
    return sections


def section_instruction(heading: str, description: str) -> str:
    """For models too small to hold an outline: one section per call, assembled by us."""
    return (
        f'Write only the section "{heading}" of the essay ({description}) as one or two paragraphs of '
        "prose in the first person. No headings, no lists."
    )
