"""Tidying a model's essay before it is published. Pure functions.

Small models leave shapes no reader should get: `<ref>` tags with invented links, `<br>`,
`[1]` reference markers, chat-template tokens (`<|im_end|>`), a paragraph written twice,
a conclusion that is a list of notes. `clean_body` fixes what editing can fix without
changing what was said; `broken_sections` names what it cannot (a section with next to no
prose), which only asking the model again can fix. `writing/quality.py` reports the same
shapes, with the same detectors, on published essays.
"""

from __future__ import annotations

import dataclasses
import itertools
import re

# Fewer words of prose than this and a section says nothing: two short sentences at least.
MIN_SECTION_WORDS = 20

_CHAT_TOKEN = re.compile(r"<\|[^|<>]{0,40}\|>")
# Reference elements go with their content (an invented source or link is not prose).
_REFERENCE_ELEMENT = re.compile(r"<(ref|sup|cite)\b[^>]*>.*?</\1\s*>|<ref\b[^>]*/>", re.IGNORECASE | re.DOTALL)
_LINE_BREAK_TAG = re.compile(r"<br\s*/?>", re.IGNORECASE)
# `<b>`, `<section id="x">`, and the embedded model's `<textbox="10">` (an attribute with no name).
_TAG = re.compile(r"</?[A-Za-z][\w:-]*(?:[\s=][^<>]*)?/?>")
# `[1]`, `[2, 3]`, `[4-6]`, `[^1]`; never a time marker like `[12:30]`.
_REFERENCE_MARKER = re.compile(r"\s?\[\^?\d{1,3}(?:\s*[,–-]\s*\d{1,3})*\]")
_REFERENCE_DEFINITION = re.compile(r"^\s*\[\^?\d{1,3}\]:?\s.*$", re.MULTILINE)
_ANGLE_QUOTES = re.compile(r"<<|>>")  # the small model's title brackets: `<<A title>>`
# Labels our own prompts use, echoed back: "Notes on part 2:", "Part 1: ...".
_PROMPT_ECHO = re.compile(r"^(?:notes on part \d+|part #?\d+(?: of \d+)?)\s*:\s*", re.IGNORECASE | re.MULTILINE)
# A sentence ends with . ! or ?, maybe a closing quote or bracket, maybe a time marker.
_SENTENCE_END = re.compile(r"[.!?][\"'”’)\]]*(?:\s*\[\d{1,2}(?::\d{2}){1,2}\])?(?=\s|$)")
_LIST_ITEM = re.compile(r"^\s*(?:[-*+•]|\d{1,2}[.)])\s+")
_CONCLUSION = re.compile(r"(conclusion|closing|final thoughts|takeaway)", re.IGNORECASE)
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
# Text each pattern cannot match without (any one of them; the echo's in lower case): a pattern
# is not run over a text that lacks it. Each run is a scan of the whole essay, and most essays
# have no tags, brackets or echoed labels: an `in` test is a hundred times cheaper than the scan.
_NEEDS: dict[re.Pattern[str], tuple[str, ...]] = {
    _CHAT_TOKEN: ("<|",), _ANGLE_QUOTES: ("<<", ">>"), _REFERENCE_ELEMENT: ("<",), _LINE_BREAK_TAG: ("<",),
    _TAG: ("<",), _REFERENCE_DEFINITION: ("[",), _REFERENCE_MARKER: ("[",),
}
_NEEDS_IN_LOWER_CASE = {_PROMPT_ECHO: ("part",)}


def _could_match(pattern: re.Pattern[str], text: str) -> bool:
    if pattern in _NEEDS_IN_LOWER_CASE:
        text, needs = text.lower(), _NEEDS_IN_LOWER_CASE[pattern]
    else:
        needs = _NEEDS[pattern]
    return any(literal in text for literal in needs)


@dataclasses.dataclass(frozen=True)
class CleanedBody:
    body: str
    fixes: tuple[str, ...]  # what was changed, for the logs; empty when nothing was


class BrokenEssay(Exception):
    """An essay whose sections stay empty after cleaning and re-asking: never published."""

    reason = "broken_essay"


def clean_body(body: str) -> CleanedBody:
    """The body without markup and repeated paragraphs, its conclusion in prose."""
    fixes: list[str] = []
    text = body
    for name, pattern, replacement in (
        ("chat-template tokens", _CHAT_TOKEN, ""),
        ("angle brackets", _ANGLE_QUOTES, ""),
        ("reference tags", _REFERENCE_ELEMENT, ""),
        ("line-break tags", _LINE_BREAK_TAG, "\n"),
        ("HTML/XML tags", _TAG, ""),
        ("reference definitions", _REFERENCE_DEFINITION, ""),
        ("reference markers", _REFERENCE_MARKER, ""),
        ("echoed prompt labels", _PROMPT_ECHO, ""),
    ):
        if not _could_match(pattern, text):  # checked on the text as the earlier patterns left it
            continue
        text, count = pattern.subn(replacement, text)
        if count:
            fixes.append(f"removed {count} {name}")
    text = _tidy_spacing(text)
    blocks, repeated = _without_repeated_paragraphs(_blocks(text))
    if repeated:
        fixes.append(f"removed {repeated} repeated paragraph(s)")
    blocks, listed = _conclusion_in_prose(blocks)
    if listed:
        fixes.append("turned the conclusion's list into prose")
    blocks, cut = _without_cut_off_sentences(blocks)
    if cut:
        fixes.append(f"removed {cut} cut-off sentence(s)")
    return CleanedBody("\n\n".join(blocks).strip() + "\n", tuple(fixes))


def broken_sections(body: str) -> list[str]:
    """The `## ` sections with (next to) no prose: only a new answer can fix them."""
    return [f"section '{heading}' is empty or near-empty ({words} words)"
            for heading, words in _section_word_counts(body, enough=MIN_SECTION_WORDS) if words < MIN_SECTION_WORDS]


def publishable_body(body: str) -> CleanedBody:
    """The cleaned body, or BrokenEssay when sections stay empty: the last gate before publishing."""
    cleaned = clean_body(body)
    broken = broken_sections(cleaned.body)
    if broken:
        raise BrokenEssay("the essay is broken even after cleaning: " + "; ".join(broken))
    return cleaned


# Detectors for writing/quality.py: what a published essay must not contain.

def leftover_markup(body: str) -> list[str]:
    """Tags, chat tokens and reference markers. Not markdown links: the pipeline may add
    verified ones (a quote linked to its moment in the video) after cleaning."""
    found = [m.group(0) for pattern in (_CHAT_TOKEN, _ANGLE_QUOTES, _REFERENCE_ELEMENT, _TAG)
             if _could_match(pattern, body) for m in pattern.finditer(body)]
    if _could_match(_REFERENCE_MARKER, body):
        found += [m.group(0).strip() for m in _REFERENCE_MARKER.finditer(body)]
    return found


def repeated_paragraphs(body: str) -> list[str]:
    seen, repeated = set(), []
    for block in _blocks(body):
        key = _paragraph_key(block)
        if key is None:
            continue
        if key in seen:
            repeated.append(block)
        seen.add(key)
    return repeated


def conclusion_is_a_list(body: str) -> bool:
    """True when the conclusion is mostly list items: notes, not a closing argument."""
    lines = [line for line in _conclusion_lines(body) if line.strip()]
    items = [line for line in lines if _LIST_ITEM.match(line)]
    return bool(items) and len(items) * 2 >= len(lines)


# -- helpers ---------------------------------------------------------------------------

def _tidy_spacing(text: str) -> str:
    text = re.sub(r"[ \t]+([.,;:!?])", r"\1", text)  # "claim [1]." left "claim ." behind
    text = re.sub(r"[ \t]{2,}", " ", text)
    return "\n".join(line.rstrip() for line in text.splitlines())


def _blocks(text: str) -> list[str]:
    """Paragraphs, headings and lists, each a block; a heading is always a block of its own."""
    blocks: list[str] = []
    for chunk in re.split(r"\n\s*\n", text.strip()):
        current: list[str] = []
        for line in chunk.splitlines():
            if line.startswith("#"):
                if current:
                    blocks.append("\n".join(current))
                blocks.append(line.strip())
                current = []
            else:
                current.append(line)
        if current and "\n".join(current).strip():
            blocks.append("\n".join(current).strip())
    return blocks


def _paragraph_key(block: str) -> str | None:
    """What makes two paragraphs the same: their words, ignoring case and punctuation.
    Headings and very short lines (`Yes.`) are never treated as repeats."""
    if block.startswith("#"):
        return None
    words = _WORD.findall(block.lower())
    return " ".join(words) if len(words) >= 6 else None


def _without_repeated_paragraphs(blocks: list[str]) -> tuple[list[str], int]:
    seen: set[str] = set()
    kept, removed = [], 0
    for block in blocks:
        key = _paragraph_key(block)
        if key is not None and key in seen:
            removed += 1
            continue
        if key is not None:
            seen.add(key)
        kept.append(block)
    return kept, removed


def _without_cut_off_sentences(blocks: list[str]) -> tuple[list[str], int]:
    """A paragraph ends where its last sentence ends: an answer cut off by its token limit
    stops mid-sentence ("... but also human well"). A fragment with no sentence end goes."""
    kept, cut = [], 0
    for index, block in enumerate(blocks):
        whole = block.rstrip()
        introduces_list = whole.endswith(":") and index + 1 < len(blocks) and _is_list(blocks[index + 1])
        if block.startswith("#") or _is_list(block) or introduces_list:
            kept.append(block)
            continue
        ends = list(_SENTENCE_END.finditer(whole))
        if ends and ends[-1].end() == len(whole):
            kept.append(block)
            continue
        cut += 1
        if ends:
            kept.append(whole[:ends[-1].end()])
    return kept, cut


def _is_list(block: str) -> bool:
    return any(_LIST_ITEM.match(line) for line in block.splitlines())


def _conclusion_in_prose(blocks: list[str]) -> tuple[list[str], bool]:
    """List items in the conclusion become sentences of one paragraph."""
    start = next((i for i, b in enumerate(blocks) if b.startswith("## ") and _CONCLUSION.search(b)), None)
    if start is None:
        return blocks, False
    end = next((i for i in range(start + 1, len(blocks)) if blocks[i].startswith("#")), len(blocks))
    section = blocks[start + 1:end]
    if not any(_LIST_ITEM.match(line) for block in section for line in block.splitlines()):
        return blocks, False
    sentences: list[str] = []
    for block in section:
        for line in block.splitlines():
            sentence = _as_sentence(_LIST_ITEM.sub("", line))
            if sentence:
                sentences.append(sentence)
    return blocks[:start + 1] + [" ".join(sentences)] + blocks[end:], True


def _as_sentence(item: str) -> str:
    text = re.sub(r"(\*\*|__)(.+?)\1", r"\2", item).strip()  # bold labels read as shouting in prose
    if not text:
        return ""
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?\"'”’" else text.rstrip(":;,") + "."


def _conclusion_lines(body: str) -> list[str]:
    lines, inside = [], False
    for line in body.splitlines():
        if line.startswith("#"):
            inside = line.startswith("## ") and bool(_CONCLUSION.search(line))
            continue
        if inside:
            lines.append(line)
    return lines


def _section_word_counts(body: str, enough: int) -> list[tuple[str, int]]:
    """Each `## ` section's words, counted until there are `enough`: past that the exact count
    tells nothing (a section's first paragraph usually has enough), and counting every word
    of every section was a regex over the whole essay, three times per video."""
    sections: list[tuple[str, int]] = []
    for line in body.splitlines():
        if line.startswith("## "):
            sections.append((line[3:].strip(), 0))
        elif line.startswith("#"):
            continue
        elif sections and sections[-1][1] < enough:
            heading, words = sections[-1]
            sections[-1] = (heading, words + sum(1 for _ in itertools.islice(_WORD.finditer(line), enough - words)))
    return sections
