"""Links in an essay: the link to a quotation's moment in the video, and the removal of every
link the reader cannot check against the conversation.

A model invents plausible URLs; a reader who follows one to a 404 (or to a page that does not
say what the essay claims) stops trusting the essay. So the only links an essay keeps are links
to the video itself (in any URL form YouTube accepts) and URLs the speakers gave in the
conversation. Every other link keeps its text and loses its target.
"""

from __future__ import annotations

import re

from essay_assets.intake.video_refs import (
    InvalidVideoReference,
    parse_video_ref,
    watch_url,
)
from essay_assets.writing.chunking import format_timestamp

# Our own quotation link, exactly as `quote_link` writes it; `(\d+)` is the second the link opens at.
QUOTE_LINK_RE = re.compile(
    r"[ \t]*\(\[(?:\d+:)?\d{1,2}:\d{2}\]\(https://www\.youtube\.com/watch\?v=[A-Za-z0-9_-]{11}&t=(\d+)s\)\)")

# Where a URL stops: sentence punctuation right after a bare URL belongs to the sentence.
_URL_TAIL = ".,;:!?'\")]}’”"
_BARE_URL_RE = re.compile(r"(?<![\w/@.])(?:https?://|www\.)[^\s<>()\[\]]+(?:\([^\s()]*\)[^\s<>()\[\]]*)*", re.I)
_AUTOLINK_RE = re.compile(r"<((?:https?://|www\.)[^\s<>]+)>", re.I)
# `[text](url)` or `[text](url "title")`, and images `![alt](url)`. The text may hold one level
# of brackets (our own links are `([0:12](...))`, whose text is `0:12`).
_INLINE_LINK_RE = re.compile(
    r"(!?)\[((?:[^\[\]]|\[[^\[\]]*\])*)\]\(\s*<?([^\s()<>]*(?:\([^\s()]*\)[^\s()<>]*)*)>?(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)")
_REFERENCE_DEFINITION_RE = re.compile(r"^[ ]{0,3}\[([^\]]+)\]:[ \t]*<?(\S+?)>?(?:[ \t]+.*)?$\n?", re.M)
_DOT_IN_WORD = re.compile(r"\.(?=[^\W_])")
_WORD_AT = re.compile(r"\S+")
_REMOVED = "\x01"  # where a bare URL was removed, until the spacing around it is tidied
# A URL the speakers spelled out in the transcript: with a scheme, `www.`, or a bare domain with
# a common top-level domain ("go to ourworldindata.org").
TRANSCRIPT_URL_RE = re.compile(
    r"(?:https?://|www\.)[^\s<>\"]+"
    r"|(?<![\w@.-])(?:[a-z0-9-]+\.)+(?:com|org|net|edu|gov|io|ai|co|uk|de|fr|info|dev|app|me|tv)\b(?:/[^\s<>\"]*)?",
    re.I)


def quote_link(video_id: str, start_s: float) -> str:
    """` ([m:ss](https://www.youtube.com/watch?v=<id>&t=<N>s))`: the quotation's moment in the video."""
    return f" ([{format_timestamp(max(0, int(start_s)))}]({quote_url(video_id, start_s)}))"


def quote_url(video_id: str, start_s: float) -> str:
    """The video opened at `start_s` (whole seconds, rounded down: never after the quote starts)."""
    return f"{watch_url(video_id)}&t={max(0, int(start_s))}s"


def urls_in_text(text: str) -> frozenset[str]:
    """The URLs written in `text`, without the sentence punctuation that follows them."""
    # Only words with a dot inside can be URLs; running the pattern over the whole transcript
    # would cost ~10 ms per 20,000 words.
    candidates = {_WORD_AT.search(text, _word_start(text, dot.start())).group(0)
                  for dot in _DOT_IN_WORD.finditer(text)}
    return frozenset(url.rstrip(_URL_TAIL) for word in candidates for url in TRANSCRIPT_URL_RE.findall(word)
                     if url.rstrip(_URL_TAIL))


# What ends the word before a dot. Captions are joined with line breaks: a URL that opens a
# caption line follows "\n", not " " (a space-only search missed it, and the essay lost a link
# the speaker gave).
_WORD_BREAKS = (" ", "\n", "\t", "\r", "\xa0")


def _word_start(text: str, position: int) -> int:
    """Where the whitespace-delimited word holding `position` starts."""
    return max(text.rfind(space, 0, position) for space in _WORD_BREAKS) + 1


def url_key(url: str) -> str:
    """One spelling per address, so that `https://www.x.org/` in the essay matches `x.org` said aloud."""
    key = url.strip().rstrip(_URL_TAIL)
    key = re.sub(r"^https?://", "", key, flags=re.I)
    key = re.sub(r"^www\.", "", key, flags=re.I)
    host, slash, rest = key.partition("/")
    return host.lower() + (slash + rest).rstrip("/")


# `quote_url`'s own form: recognised without parsing (a re-written section is cleaned again with
# every verified quotation's link in it, ~0.25 ms each through `parse_video_ref`).
_OWN_QUOTE_URL_RE = re.compile(r"https://www\.youtube\.com/watch\?v=([A-Za-z0-9_-]{11})&t=\d+s")


def is_allowed_url(url: str, *, video_id: str | None, allowed_keys: frozenset[str]) -> bool:
    if video_id:
        own = _OWN_QUOTE_URL_RE.fullmatch(url)
        if own and own.group(1) == video_id or _names_video(url, video_id):
            return True
    return url_key(url) in allowed_keys


def clean_links(body: str, *, video_id: str | None, allowed_urls: frozenset[str]) -> tuple[str, int]:
    """Keep links to this video and URLs from the transcript; turn every other link into its text.

    Handles inline links and images (`[text](url)` -> `text`), reference links (the definition
    line goes, `[text][ref]` -> `text`), autolinks (`<https://...>` -> removed) and bare URLs
    (removed). Returns the body and how many links were removed.
    """
    allowed_keys = frozenset(url_key(url) for url in allowed_urls)

    def allowed(url: str) -> bool:
        return is_allowed_url(url, video_id=video_id, allowed_keys=allowed_keys)

    removed = 0
    protected: list[str] = []  # kept links, hidden from the bare-URL pass below

    def protect(text: str) -> str:
        protected.append(text)
        return f"\x00{len(protected) - 1}\x00"

    dropped_refs: set[str] = set()

    def definition(match: re.Match) -> str:
        nonlocal removed
        if allowed(match.group(2)):
            return protect(match.group(0))
        removed += 1
        dropped_refs.add(match.group(1).strip().lower())
        return ""

    body = _REFERENCE_DEFINITION_RE.sub(definition, body)
    if dropped_refs:
        def reference(match: re.Match) -> str:
            label = (match.group(2) or match.group(1)).strip().lower()
            return match.group(1) if label in dropped_refs else match.group(0)
        body = re.sub(r"\[([^\[\]]+)\]\[([^\[\]]*)\]", reference, body)

    def inline(match: re.Match) -> str:
        nonlocal removed
        if allowed(match.group(3)):
            return protect(match.group(0))
        removed += 1
        return match.group(2)

    body = _INLINE_LINK_RE.sub(inline, body)

    def autolink(match: re.Match) -> str:
        nonlocal removed
        if allowed(match.group(1)):
            return protect(match.group(0))
        removed += 1
        return _REMOVED

    body = _AUTOLINK_RE.sub(autolink, body)

    def bare(match: re.Match) -> str:
        nonlocal removed
        url = match.group(0)
        stripped = url.rstrip(_URL_TAIL)
        if allowed(stripped):
            return url
        removed += 1
        return _REMOVED + url[len(stripped):]

    body = _BARE_URL_RE.sub(bare, body)
    if _REMOVED in body:
        # Tidy only where a URL went, so that "see <url> for" reads "see for", "(url)" vanishes and
        # "at <url>." reads "at." without touching spacing anywhere else in the essay.
        body = re.sub(r"[ \t]*\(\s*\x01\s*\)", _REMOVED, body)
        body = re.sub(r"^[ \t]*\x01[ \t]*", "", body, flags=re.M)
        body = re.sub(r"[ \t]*\x01(?=[ \t]*(?:[.,;:!?)\]]|$))", "", body, flags=re.M)
        body = re.sub(r"[ \t]*\x01[ \t]*", " ", body)
    body = re.sub(r"\x00(\d+)\x00", lambda match: protected[int(match.group(1))], body)
    return body, removed


def _names_video(url: str, video_id: str) -> bool:
    try:
        return parse_video_ref(url) == video_id
    except InvalidVideoReference:
        return False
