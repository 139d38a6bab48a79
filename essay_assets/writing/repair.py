"""From a draft to an accountable essay: the quotation policy around the pure verifier.

`writing/quotes.py` decides whether one quotation is the speakers' words. This module applies
the policy (`ESSAYS_QUOTE_POLICY`) to a whole draft, in two places:

- `llm_response` (repair policy): `repair_requests` lists the `## ` sections holding quotations
  the transcript does not confirm, `repair_messages` is the one re-write call per section, and
  `section_from_reply` turns its answer into a section; `write_repairs` makes those calls
  through the call ledger. The raw draft is never changed; the re-written sections are stored
  next to it.
- `essay` (every policy): `check_essay` removes foreign links, verifies every quotation, applies
  the stored re-writes, verifies again, and unquotes what still fails (or reports it for the
  `fail` policy), with one verdict per drafted quotation: verified, repaired, unquoted, removed.

Pure functions, except `write_repairs` (model calls, through the ledger only).
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import Mapping, Sequence
from typing import Any

from rapidfuzz import fuzz

from essay_assets.intake.video_refs import VIDEO_ID_RE
from essay_assets.model_calls.ledger import CallLedger
from essay_assets.writing.quotes import (
    AnyIndex,
    QuoteMatch,
    QuoteOutcome,
    VerifiedBody,
    built_index,
    clean_links,
    closest_passage,
    strip_model_timestamps,
    unquote,
    verify_quotes,
)

REPAIR_STAGE = "quote_repair"  # llm_calls.stage of a re-write call; chunk_index is the section number
REPAIR_RULE = "Quote only these exact words, or paraphrase without quotation marks."
# Below this similarity a quotation in a re-written section is a new one, not the drafted one re-worded.
SAME_QUOTATION_SCORE = 50.0
VERDICTS = ("verified", "repaired", "unquoted", "removed")


def link_video_id(video_id: str, transcript_source: str | None) -> str | None:
    """The video a quotation may link to: a real YouTube video (the bundled sample has no page)."""
    if transcript_source == "sample" or not VIDEO_ID_RE.fullmatch(video_id or ""):
        return None
    return video_id


# ---- sections ----------------------------------------------------------------------------------

_SECTION_RE = re.compile(r"^## .*$", re.M)
_FENCE_LINE = re.compile(r"^\s*```[a-zA-Z]*\s*$")


@dataclasses.dataclass(frozen=True)
class Section:
    index: int  # among the body's `## ` sections, from 0
    heading: str  # the `## ` line
    start: int  # where the heading starts
    end: int  # where the next section's heading starts (or the body ends)


def sections(body: str) -> list[Section]:
    starts = [(m.start(), m.group(0).rstrip()) for m in _SECTION_RE.finditer(body)]
    return [Section(i, heading, start, starts[i + 1][0] if i + 1 < len(starts) else len(body))
            for i, (start, heading) in enumerate(starts)]


def section_at(body_sections: Sequence[Section], position: int) -> int | None:
    """The index of the section holding `position`; None before the first `## ` heading."""
    found = None
    for section in body_sections:
        if section.start <= position:
            found = section.index
    return found


def apply_repairs(body: str, repairs: Sequence[Mapping[str, Any]]) -> tuple[str, frozenset[int]]:
    """Replace each re-written section (stored as {"section", "heading", "text"}) in `body`.

    A section is found by its heading at its stored number, else by its heading alone (another
    step may have added or dropped a section since); a re-write whose heading is gone is ignored.
    Returns the body and the numbers of the sections replaced."""
    found = sections(body)
    chosen: dict[int, str] = {}
    for repair in repairs:
        heading = str(repair.get("heading") or "").rstrip()
        number = repair.get("section")
        candidates = [s for s in found if s.heading == heading and s.index not in chosen]
        target = next((s for s in candidates if s.index == number), candidates[0] if candidates else None)
        if target is not None and str(repair.get("text") or "").strip():
            chosen[target.index] = str(repair["text"]).strip()
    for section in sorted((s for s in found if s.index in chosen), key=lambda s: s.start, reverse=True):
        tail = "\n\n" if section.end < len(body) else "\n"
        body = body[:section.start] + chosen[section.index] + tail + body[section.end:]
    return body, frozenset(chosen)


# ---- the repair call ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class QuoteProblem:
    quoted: str  # the words between the marks, as drafted
    reason: str  # why they did not match
    closest: str | None  # the transcript's words around the closest passage, if any is close


@dataclasses.dataclass(frozen=True)
class RepairRequest:
    section: int
    heading: str
    text: str  # the section as it will be published before the re-write (links cleaned, quotes verified)
    problems: tuple[QuoteProblem, ...]


def repair_requests(body: str, index: AnyIndex, video_id: str | None) -> list[RepairRequest]:
    """One request per `## ` section holding quotations the transcript does not confirm.
    `body` is the normalized draft; quotations before the first section are simply unquoted.
    A lazy index is built only if the draft holds a quotation."""
    cleaned, _ = clean_links(body, video_id=video_id, allowed_urls=index.urls)
    verified = verify_quotes(cleaned, index, video_id)
    found = sections(verified.body)
    grouped: dict[int, list[QuoteProblem]] = {}
    for quotation, match in zip(verified.unverified, verified.unverified_matches):
        number = section_at(found, quotation.start)
        if number is not None:
            grouped.setdefault(number, []).append(
                QuoteProblem(quotation.text, match.reason, closest_passage(built_index(index), quotation.text)))
    return [RepairRequest(number, found[number].heading,
                          verified.body[found[number].start:found[number].end].strip(), tuple(problems))
            for number, problems in sorted(grouped.items())]


REPAIR_SYSTEM = (
    "You correct one section of an essay about a recorded conversation. Words in quotation marks must be the "
    "speakers' exact words, as the transcript has them. Change nothing else."
)


def repair_messages(request: RepairRequest) -> list[dict[str, str]]:
    """The re-write call of one section: its text, the quotations that did not match with the
    closest words the speakers really said, and the rule."""
    lines = []
    for number, problem in enumerate(request.problems, 1):
        said = (f' The closest words in the transcript: "{problem.closest}"' if problem.closest
                else " Nothing close to it was said.")
        lines.append(f'{number}. "{problem.quoted}": {problem.reason}.{said}')
    user = (
        f"<section>\n{request.text}\n</section>\n\n"
        "These quotations in the section are not the speakers' words:\n" + "\n".join(lines) + "\n\n"
        f"Rewrite the section. {REPAIR_RULE} Keep the heading, every other sentence and every link as they are. "
        "Answer with the section only, starting with its heading."
    )
    return [{"role": "system", "content": REPAIR_SYSTEM}, {"role": "user", "content": user}]


def section_from_reply(heading: str, reply: str) -> str | None:
    """The re-written section: the original heading, then the answer's prose (a title, other
    headings, code fences and `<section>` tags the model echoed are dropped); None when empty."""
    lines = []
    for line in reply.strip().splitlines():
        stripped = line.strip()
        if _FENCE_LINE.match(line) or stripped.startswith("#") or stripped in ("<section>", "</section>"):
            continue
        lines.append(line.rstrip())
    prose = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    return f"{heading.rstrip()}\n\n{prose}" if prose else None


async def write_repairs(*, ledger: CallLedger, requests: Sequence[RepairRequest], video_id: str,
                        response_id: str, prompt_revision: int, max_tokens: int,
                        ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """One re-write call per request, concurrently, each stored, costed and reused like any call.
    Returns the re-written sections ({"section", "heading", "text"}) and the calls' rows."""
    results = await asyncio.gather(*(
        ledger.call(video_id=video_id, response_id=response_id, stage=REPAIR_STAGE, chunk_index=request.section,
                    prompt_revision=prompt_revision, messages=repair_messages(request), max_tokens=max_tokens)
        for request in requests))
    repairs = []
    for request, (content, _) in zip(requests, results):
        text = section_from_reply(request.heading, content)
        if text is not None:
            repairs.append({"section": request.section, "heading": request.heading, "text": text})
    return repairs, [row for _, row in results]


# ---- the published essay ----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class QuoteVerdict:
    """What became of one quotation: a `quotes` row without its identifiers."""

    drafted: str | None  # as drafted, marks included; None when a re-write added it
    published: str | None  # as published, marks included; None when not published as a quotation
    verdict: str  # one of VERDICTS
    reason: str | None  # why the drafted words did not match; None when they did
    score: float  # similarity of the drafted words (or a re-write's) to the closest transcript passage
    start_s: float | None
    link: str | None
    section: int | None


@dataclasses.dataclass(frozen=True)
class CheckedEssay:
    body: str  # the body to publish (for the fail policy: before unquoting)
    verdicts: tuple[QuoteVerdict, ...]  # drafted quotations in body order, then those a re-write added
    links_removed: int
    unverified: tuple[tuple[str, str], ...]  # (quotation, reason) that still failed; the fail policy reports them
    linked: bool  # quotations carry links to the video

    @property
    def quotes_verified(self) -> int:
        return sum(1 for v in self.verdicts if v.published is not None)

    @property
    def quotes_repaired(self) -> int:
        return sum(1 for v in self.verdicts if v.verdict == "repaired")

    @property
    def quotes_removed(self) -> int:
        return sum(1 for v in self.verdicts if v.verdict in ("unquoted", "removed"))


@dataclasses.dataclass(frozen=True)
class _Found:
    """One quotation of a verified body: its drafted marks+words, section and result."""

    marked: str
    text: str
    section: int | None
    outcome: QuoteOutcome | None  # when verified
    match: QuoteMatch | None  # when not


def _verify(body: str, index: AnyIndex, video_id: str | None) -> tuple[VerifiedBody, list[_Found]]:
    stripped = strip_model_timestamps(body)
    found_sections = sections(stripped)
    verified = verify_quotes(body, index, video_id)
    outcomes, unverified = list(verified.outcomes), list(zip(verified.unverified, verified.unverified_matches))
    items = []
    # verify_quotes walks the same quotations in the same order: each is either its next outcome
    # or its next unverified quotation (identical words always get the same verdict).
    for quotation in verified.found:  # the quotations of `stripped`, found once by verify_quotes
        section = section_at(found_sections, quotation.start)
        marked = stripped[quotation.start:quotation.end]
        if unverified and unverified[0][0].text == quotation.text:
            items.append(_Found(marked, quotation.text, section, None, unverified.pop(0)[1]))
        else:
            items.append(_Found(marked, quotation.text, section, outcomes.pop(0), None))
    return verified, items


def check_essay(body: str, index: AnyIndex, *, video_id: str | None, policy: str,
                repairs: Sequence[Mapping[str, Any]] = ()) -> CheckedEssay:
    """The essay as it may be published, under `policy` (repair | unquote | fail). A lazy
    `index` is built only if the body (or a re-written section) holds a quotation.

    `video_id` is the video quotations link to (None: no links; see `link_video_id`). `repairs`
    are the re-written sections stored by `llm_response` (used only by the repair policy)."""
    body, links_removed = clean_links(body, video_id=video_id, allowed_urls=index.urls)
    draft, drafted = _verify(body, index, video_id)
    final, final_items, repaired = draft, drafted, frozenset()
    if policy == "repair" and repairs:
        rewritten, repaired = apply_repairs(draft.body, repairs)
        if repaired:
            rewritten, more_removed = clean_links(rewritten, video_id=video_id, allowed_urls=index.urls)
            links_removed += more_removed
            final, final_items = _verify(rewritten, index, video_id)
    verdicts = _verdicts(drafted, final_items, repaired)
    unverified = tuple((q.text, m.reason) for q, m in zip(final.unverified, final.unverified_matches))
    published = final.body
    if policy != "fail" and final.unverified:
        published, _ = unquote(final.body, final.unverified, final.unverified_matches)
    linked = bool(video_id) and index.has_times
    return CheckedEssay(published, tuple(verdicts), links_removed, unverified, linked)


def _verdicts(drafted: list[_Found], final: list[_Found], repaired: frozenset[int]) -> list[QuoteVerdict]:
    """Pair each drafted quotation with what became of it. Outside re-written sections the
    quotations are the same ones in the same order; inside one, a drafted quotation is the
    re-write's quotation with the same published words, else the most similar one."""
    pairs: dict[int, int | None] = {}
    used: set[int] = set()
    for section in {d.section for d in drafted} | {f.section for f in final}:
        mine = [i for i, d in enumerate(drafted) if d.section == section]
        theirs = [j for j, f in enumerate(final) if f.section == section]
        if section not in repaired:
            for i, j in zip(mine, theirs):
                pairs[i] = j
                used.add(j)
            continue
        for i in mine:  # a quotation verified in the draft and still quoted as the speakers said it
            outcome = drafted[i].outcome
            j = next((j for j in theirs if j not in used and outcome and final[j].outcome
                      and final[j].outcome.published.casefold() == outcome.published.casefold()), None)
            if j is not None:
                pairs[i] = j
                used.add(j)
        for i in mine:
            if i in pairs:
                continue
            scored = [(fuzz.ratio(drafted[i].text.casefold(), final[j].text.casefold()), j)
                      for j in theirs if j not in used]
            best = max(scored, default=None)
            pairs[i] = best[1] if best and best[0] >= SAME_QUOTATION_SCORE else None
            if pairs[i] is not None:
                used.add(pairs[i])
    verdicts = []
    for i, item in enumerate(drafted):
        j = pairs.get(i)
        reason = item.match.reason if item.match else None
        score = item.outcome.score if item.outcome else item.match.score
        if j is None:
            verdicts.append(QuoteVerdict(item.marked, None, "removed", reason or "the re-write dropped it", score,
                                         None, None, item.section))
            continue
        after = final[j]
        if after.outcome is None:
            verdicts.append(QuoteVerdict(item.marked, None, "unquoted", after.match.reason, score, None, None,
                                         item.section))
        else:
            verdicts.append(QuoteVerdict(item.marked, after.outcome.published,
                                         "verified" if item.outcome else "repaired", reason, score,
                                         after.outcome.start_s, after.outcome.link, item.section))
    for j, after in enumerate(final):  # quotations a re-write added
        if j in used:
            continue
        if after.outcome is None:
            verdicts.append(QuoteVerdict(None, None, "unquoted", after.match.reason, after.match.score, None, None,
                                         after.section))
        else:
            verdicts.append(QuoteVerdict(None, after.outcome.published, "repaired", None, after.outcome.score,
                                         after.outcome.start_s, after.outcome.link, after.section))
    return verdicts


class UnverifiedQuotes(Exception):
    """The fail policy met quotations the transcript does not confirm; the message lists them."""

    def __init__(self, video_id: str, unverified: Sequence[tuple[str, str]]):
        listed = "; ".join(f'"{text}" ({reason})' for text, reason in unverified)
        super().__init__(f"Video {video_id}: {len(unverified)} quotation(s) are not the speakers' words "
                         f"(ESSAYS_QUOTE_POLICY=fail): {listed}")
        self.unverified = tuple(unverified)
