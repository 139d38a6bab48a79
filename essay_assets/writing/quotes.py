"""Quotation verification: every passage in quotation marks must be the speakers' own words.

A model paraphrases inside quotation marks, drops a "not", rounds a number or finishes a real
sentence with a tail of its own. Readers cannot tell, so every quotation is checked against the
transcript: it must match word for word, ignoring only case, punctuation, curly vs straight
quotes, caption line breaks and filler words ("um", "[Music]"). An ellipsis may join pieces that
appear in that order. A verified quotation is published in the transcript's own words with a link
to its moment in the video; anything else is reported, never silently "fixed" into a quotation.

Speed matters (issue #13: under 1 % of an essay's share of a 100-video run; bench/quotes.py): the
index normalizes the whole transcript with a handful of C-level passes and encodes each word as
one character, so exact search is one `str.find` whose position is the token index; rapidfuzz
only scores quotations that failed exact search, within windows found by exact word-run
anchors. A run asks about one transcript three times (llm_response under the repair policy, the
essay step, the essay check): `TranscriptIndex.from_snippets` shares one index per transcript
among recent callers, and each index remembers its answers. A body without quotations needs no
index at all: `LazyTranscriptIndex` builds one only when a quotation asks for it.
"""

from __future__ import annotations

import difflib
import operator
import re
import threading
import unicodedata
from bisect import bisect_right
from collections import Counter, OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from itertools import accumulate

from rapidfuzz import fuzz

from essay_assets.writing.links import (
    QUOTE_LINK_RE,
    clean_links,
    quote_link,
    quote_url,
    urls_in_text,
)

__all__ = [
    "LINK_TOLERANCE_S", "MAX_ELLIPSIS_GAP_WORDS", "MIN_QUOTE_WORDS", "AnyIndex", "LazyTranscriptIndex", "QuoteMatch",
    "QuoteOutcome", "Quotation", "TranscriptIndex", "VerifiedBody", "built_index", "clean_links", "closest_passage",
    "find_quotations", "match_quote", "quote_link", "quote_url", "strip_model_timestamps", "unquote",
    "verbatim_problems", "verify_quotes",
]

MIN_QUOTE_WORDS = 2  # "x" with one word is a term in scare quotes, not a quotation
LINK_TOLERANCE_S = 10.0  # used by the check: a link more than this far from the quote's start is wrong
# An ellipsis joins pieces of one passage, not sentences from opposite ends of the conversation:
# each next piece must start within this many transcript words after the previous piece ends
# (about two minutes of speech).
MAX_ELLIPSIS_GAP_WORDS = 300
# Below this similarity the closest passage is unrelated: the quotation is "not in the transcript".
NOT_FOUND_SCORE = 60.0

# ---- normalization ---------------------------------------------------------------------------
# The transcript and the quotation go through the same `_normalize`, so they compare as equal
# exactly when they differ only in what the issue allows.

_FILLERS = frozenset({"um", "umm", "uh", "uhh", "uhm", "erm", "er", "hmm", "mm", "mhm"})
# "[Music]", "[Applause]", "[inaudible]": the captioner's notes, not anyone's words.
_TAG_RE = re.compile(r"\[[^\]\n]*\]")
_DIGIT_GROUP_RE = re.compile(r",(?=\d{3}(?!\d))")  # 1,000 == 1000 (when a digit precedes the comma)
# Small numbers only: "3" == "three". Each word maps to exactly one number, so a changed number
# still differs ("three" vs "4").
_NUMBER_WORDS = dict(zip(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty".split(), map(str, range(21))))
_ELLIPSIS_RE = re.compile(r"\s*(?:\[\s*(?:…|\.\s?\.\s?\.)\s*\]|…|\.\s?\.\s?\.)\s*")
_ASTRAL_RE = re.compile(r"[^\u0000-\uffff]+")


def _punctuation_table() -> dict[int, str | None]:
    """One `str.translate` table: apostrophes vanish (don't == dont == don’t), every other
    punctuation mark, symbol or control character, and every space other than " " (a no-break
    space, say: the words around it are words like any other), becomes " "; "\n" survives. A
    regex doing the same visits every character in Python's regex engine and costs ~5 ms per
    20,000 words."""
    table: dict[int, str | None] = {}
    for code in range(0x10000):
        category = unicodedata.category(chr(code))
        if (category[0] in "PSC" or category[0] == "Z" and code != ord(" ")) and chr(code) != "\n":
            table[code] = " "
    table[ord("_")] = " "
    for apostrophe in "'’‘ʼ`´":
        table[ord(apostrophe)] = None
    return table


_PUNCTUATION_TABLE = _punctuation_table()


def _normalize(text: str) -> str:
    """Lower-case words separated by " " or "\n" only ("\n" separates caption snippets).
    Numbers and fillers are handled word by word by `_canonical`."""
    text = text.casefold()
    if "[" in text:
        text = _TAG_RE.sub(" ", text)
    if "," in text:
        text = _DIGIT_GROUP_RE.sub(lambda m: "" if text[m.start() - 1:m.start()].isdigit() else ",", text)
    if "%" in text:
        text = text.replace("%", " percent ")
    text = text.translate(_PUNCTUATION_TABLE)
    if not text.isascii() and max(text) > "\uffff":
        text = _ASTRAL_RE.sub(" ", text)  # emoji and other symbols outside the table
    return text


def _canonical(words: Iterable[str]) -> list[str]:
    """Normalized words as compared: filler words dropped, small number words as digits."""
    return [_NUMBER_WORDS.get(word, word) for word in words if word not in _FILLERS]


def _tokens(text: str) -> list[str]:
    return _canonical(_normalize(text.replace("\n", " ")).split())


# ---- the index -------------------------------------------------------------------------------

# Between snippets while the index is built: a symbol, so `_normalize` has turned every one the
# captions had into a space.
_SNIPPET_BREAK = "|"
_TEXT, _START = operator.itemgetter("text"), operator.itemgetter("start")
_FIRST_CODE = 0x100  # above "\n" (the snippet break in the encoded string) and every other control character
_SURROGATES = range(0xD800, 0xE000)  # not characters: no word's code
_MEMO_LIMIT = 1024  # results kept per index: an essay has tens of quotations


def _word_codes(words: Iterable[str]) -> dict[str, str]:
    """Normalized word -> the one character standing for its canonical form ("" for a filler
    word, the digits' character for a number word). Built with C-level `zip`/`map` over the
    distinct words; only the few filler and number words present are handled one by one."""
    distinct = set(words)
    distinct.discard(_SNIPPET_BREAK)
    needed = len(distinct) + len(_NUMBER_WORDS)  # number words may need their digits' code
    if _FIRST_CODE + needed <= _SURROGATES.start:
        characters = map(chr, range(_FIRST_CODE, _FIRST_CODE + needed))
    else:  # a vocabulary of more than 55,000 words
        characters = (chr(n) for n in range(_FIRST_CODE, 0x110000) if n not in _SURROGATES)
    codes = dict(zip(distinct, characters))  # zip stops at the last word: `characters` goes on
    for word in distinct & _FILLERS:
        codes[word] = ""
    for word in distinct & _NUMBER_WORDS.keys():
        digits = _NUMBER_WORDS[word]
        if digits not in codes:
            codes[digits] = next(characters)
        codes[word] = codes[digits]
    codes[_SNIPPET_BREAK] = "\n"
    return codes


@dataclass(frozen=True, eq=False)
class TranscriptIndex:
    """A transcript prepared for quotation search; built once per transcript (see `from_snippets`).

    Each token (a canonical word: see `_canonical`) is one character of `encoded`, so a run of
    words is a substring and its position is its first token's index: exact search is one
    `str.find` over a string as long as the transcript has words."""

    snippet_texts: tuple[str, ...]
    snippet_starts: tuple[float, ...]
    snippet_first_token: tuple[int, ...]  # index of each snippet's first token (equal for empty snippets)
    encoded: str  # one character per token
    codes: Mapping[str, str]  # normalized word -> its canonical form's character; only words the transcript has
    has_times: bool  # False when every start is 0 (a user's .txt transcript): quotes verified but not linked
    urls: frozenset[str]  # URLs that appear in the transcript text (they may be linked from the essay)
    # Results of `match_quote` and `_score` for this transcript: a run asks about the same
    # quotations up to three times (llm_response, the essay step, repair prompts).
    memo: dict = field(default_factory=dict, repr=False, compare=False)

    def remembered(self, key: tuple, compute):
        """`compute()`, once per `key` while at most _MEMO_LIMIT results are kept."""
        try:
            return self.memo[key]
        except KeyError:
            pass
        if len(self.memo) >= _MEMO_LIMIT:
            self.memo.clear()
        self.memo[key] = result = compute()
        return result

    @classmethod
    def from_snippets(cls, snippets: Sequence[Mapping]) -> TranscriptIndex:
        """The index of these snippets, shared with every other caller in this process that asks
        for the same texts and start times while it is among the recently built ones."""
        return cls._shared(*_read_snippets(snippets))

    @classmethod
    def _shared(cls, texts: list[str], joined: str, starts: tuple[float, ...]) -> TranscriptIndex:
        # The key is the content itself, not a digest of it: no collisions, and a dict hashes the
        # string in one C pass (~0.1 ms for 20,000 words); it costs the cache one more copy of the text.
        return _RECENT_INDEXES.get_or_build((joined, starts), lambda: cls._build(texts, joined, starts))

    @classmethod
    def _build(cls, texts: list[str], joined: str, starts: tuple[float, ...]) -> TranscriptIndex:
        # One normalization pass over the whole transcript and one `map` over its words; snippet
        # boundaries ride along as "\n" in the encoded string and are counted per line.
        words = _normalize(joined).replace("\n", f" {_SNIPPET_BREAK} ").split()
        codes = _word_codes(words)
        lines = "".join(map(codes.__getitem__, words)).split("\n") if texts else []
        first_token = tuple(accumulate(map(len, lines), initial=0))[:-1]
        return cls(snippet_texts=tuple(texts), snippet_starts=starts, snippet_first_token=first_token,
                   encoded="".join(lines), codes=codes,
                   has_times=any(start != 0 for start in starts), urls=urls_in_text(joined))

    @staticmethod
    def forget_recent() -> None:
        """Drop every shared index (benchmarks time a first build with it)."""
        _RECENT_INDEXES.clear()

    @staticmethod
    def recent_count() -> int:
        """How many indexes are shared now: after `forget_recent`, how many were built since."""
        return len(_RECENT_INDEXES)

    @property
    def token_count(self) -> int:
        return len(self.encoded)

    @cached_property
    def words(self) -> dict[str, str]:
        """Character -> canonical word; only explaining a failed quotation needs it."""
        words = dict(zip(self.codes.values(), self.codes))
        for word, digits in _NUMBER_WORDS.items():  # "three" and "3" share a character: "3" names it
            if word in self.codes:
                words[self.codes[word]] = digits
        return words

    def token_words(self, first: int, end: int) -> list[str]:
        """The canonical words of tokens [first, end)."""
        return list(map(self.words.__getitem__, self.encoded[first:end]))

    def snippet_of(self, token: int) -> int:
        return max(0, bisect_right(self.snippet_first_token, token) - 1)

    def occurrences(self, words: Sequence[str], first_token: int = 0, last_token: int | None = None,
                    limit: int = 1000):
        """Token indices where `words` occur in order, from `first_token` on (start <= `last_token`)."""
        code_of = self.codes.get
        needle = "".join(code_of(word) or "\n" for word in words)
        if not words or "\n" in needle or first_token >= len(self.encoded):
            return  # a word the speakers never said: no need to read the transcript
        # Bound the scan itself, not just the result: a failed search must not read to the end.
        stop = len(self.encoded) if last_token is None else last_token + len(needle)
        position = first_token
        for _ in range(limit):
            position = self.encoded.find(needle, position, stop)
            if position < 0:
                return
            yield position
            position += 1

    def original_words(self, first: int, end: int) -> str:
        """The captions' own words for tokens [first, end): original case and punctuation, without
        fillers, captioner's tags or ">>" speaker marks."""
        words: list[str] = []
        for snippet in range(self.snippet_of(first), self.snippet_of(max(first, end - 1)) + 1):
            token = self.snippet_first_token[snippet]
            raw_words = _TAG_RE.sub(" ", self.snippet_texts[snippet]).split()
            # One normalization per snippet, one line per raw word: the same tokens the index holds.
            normalized = _normalize("\n".join(raw_words)).split("\n")
            for raw, norm in zip(raw_words, normalized):
                tokens = norm.split()
                count = len(tokens) if _FILLERS.isdisjoint(tokens) else len(_canonical(tokens))
                if count and token < end and token + count > first:
                    words.append(raw)
                elif not count and first < token < end and raw.strip(">") and not any(map(str.isalnum, raw)):
                    words.append(raw)  # a dash between words of the quotation (fillers and ">>" go)
                token += count
        return " ".join(words)


def _read_snippets(snippets: Sequence[Mapping]) -> tuple[list[str], str, tuple[float, ...]]:
    """Each snippet's text (line breaks inside it as spaces), the texts joined by "\n", and the
    start times: what an index is built from and shared by."""
    try:  # the usual snippets, read with C-level `map`s
        texts = list(map(_TEXT, snippets))
        joined = "\n".join(texts)
        starts = tuple(map(float, map(_START, snippets)))
    except (KeyError, TypeError, ValueError):  # no text, None, a number as text, "" as start
        texts = [str(snippet.get("text") or "") for snippet in snippets]
        joined = "\n".join(texts)
        starts = tuple(float(snippet.get("start") or 0.0) for snippet in snippets)
    if "\r" in joined or joined.count("\n") != len(texts) - 1:  # line breaks inside a snippet
        texts = [text.replace("\r", " ").replace("\n", " ") for text in texts]
        joined = "\n".join(texts)
    return texts, joined, starts


class LazyTranscriptIndex:
    """A transcript whose `TranscriptIndex` is built (or found among the shared ones) only when
    a quotation needs it.

    Most essays of a run may quote nothing, and a body without quotations needs only what the
    transcript's text says at a glance: its URLs (links to keep) and whether it has times. Both
    are read here exactly as `TranscriptIndex` reads them, so every function taking an index
    gives the same answers with this one; `verify_quotes`, `verbatim_problems`, `check_essay` and
    `repair_requests` ask for `index` only when the body holds a quotation."""

    def __init__(self, snippets: Sequence[Mapping]) -> None:
        self._snippets = snippets

    @cached_property
    def _read(self) -> tuple[list[str], str, tuple[float, ...]]:
        return _read_snippets(self._snippets)

    @cached_property
    def urls(self) -> frozenset[str]:
        return urls_in_text(self._read[1])

    @cached_property
    def has_times(self) -> bool:
        return any(start != 0 for start in self._read[2])

    @cached_property
    def index(self) -> TranscriptIndex:
        return TranscriptIndex._shared(*self._read)

    @property
    def is_built(self) -> bool:
        return "index" in self.__dict__


AnyIndex = TranscriptIndex | LazyTranscriptIndex


def built_index(index: AnyIndex) -> TranscriptIndex:
    """The index itself, built now if it was lazy."""
    return index.index if isinstance(index, LazyTranscriptIndex) else index


class _RecentIndexes:
    """The indexes of the most recently used transcripts, up to about `max_bytes` of memory in
    all: llm_response, the essay step and the essay check of one run (one process: the
    in-process executor) each verify the same transcript, and a run over 10,000 videos must not
    keep 10,000 indexes."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._indexes: OrderedDict[tuple[str, tuple[float, ...]], tuple[TranscriptIndex, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()  # runs may verify essays from more than one thread

    def get_or_build(self, key: tuple[str, tuple[float, ...]], build) -> TranscriptIndex:
        with self._lock:
            entry = self._indexes.get(key)
            if entry is not None:
                self._indexes.move_to_end(key)
                return entry[0]
        index = build()  # outside the lock: two threads may build the same index once each
        with self._lock:
            if key not in self._indexes:
                size = _held_bytes(len(key[0]), len(index.codes))
                self._indexes[key] = index, size
                self._bytes += size
            while self._bytes > self.max_bytes and len(self._indexes) > 1:
                _, (_, size) = self._indexes.popitem(last=False)
                self._bytes -= size
        return index

    def clear(self) -> None:
        with self._lock:
            self._indexes.clear()
            self._bytes = 0

    def __len__(self) -> int:
        return len(self._indexes)


def _held_bytes(characters: int, distinct_words: int) -> int:
    """About what the cache holds for one transcript: its text (twice: the index's snippets and
    the key), the encoded words and the snippet starts, ~3.6 bytes per character; each distinct
    word's code, ~180 bytes. `bench/quotes.py --memory` prints it next to what tracemalloc counts."""
    return int(3.6 * characters) + 180 * distinct_words


# Enough for a 100-video run of 20,000-word transcripts (~1 MB each) to build each index once. A
# larger run builds them again in its later steps (each step walks the videos in the same order),
# within the same memory.
_RECENT_INDEXES = _RecentIndexes(max_bytes=128 * 2**20)


# ---- matching --------------------------------------------------------------------------------


@dataclass(frozen=True)
class QuoteMatch:
    verified: bool
    transcript_text: str | None  # the transcript's words for the quoted span; None if unverified
    start_s: float | None  # start of the caption snippet where the quote begins; None if unverified or no times
    score: float  # 0..100: rapidfuzz similarity to the closest transcript passage (100 = exact)
    reason: str  # "" when verified, else why


def match_quote(index: TranscriptIndex, quoted: str) -> QuoteMatch:
    return index.remembered(("match", quoted), lambda: _match_quote(index, quoted))


def _match_quote(index: TranscriptIndex, quoted: str) -> QuoteMatch:
    pieces = _pieces(quoted)
    if not pieces:
        return QuoteMatch(False, None, None, 0.0, "no words in the quotation")
    found = _find_in_order(index, pieces)
    if found is not None:
        texts = [index.original_words(start, start + len(piece)) for start, piece in zip(found, pieces)]
        start_s = index.snippet_starts[index.snippet_of(found[0])] if index.has_times else None
        return QuoteMatch(True, " … ".join(texts), start_s, 100.0, "")
    return _explain_failure(index, pieces)


def _pieces(quoted: str) -> list[list[str]]:
    """The quotation's tokens, per piece between ellipses."""
    return [tokens for tokens in (_tokens(piece) for piece in _ELLIPSIS_RE.split(quoted)) if tokens]


def _verified_start(index: TranscriptIndex, quoted: str) -> tuple[bool, float | None]:
    """`match_quote`'s `verified` and `start_s` without the transcript's words (which a check of a
    published essay does not need)."""
    pieces = _pieces(quoted)
    found = _find_in_order(index, pieces) if pieces else None
    if found is None:
        return False, None
    return True, index.snippet_starts[index.snippet_of(found[0])] if index.has_times else None


def closest_passage(index: TranscriptIndex, quoted: str, context_words: int = 8) -> str | None:
    """The transcript's own words around the passage closest to `quoted` (a few words either side),
    for telling a model what the speakers really said; None when nothing in the transcript is close."""
    words = [word for piece in _ELLIPSIS_RE.split(quoted) for word in _tokens(piece)]
    if not words:
        return None
    score, window = _score(index, words)
    if window is None or score < NOT_FOUND_SCORE:
        return None
    first, end = max(0, window[0] - context_words), min(index.token_count, window[1] + context_words)
    return index.original_words(first, end) or None


def _find_in_order(index: TranscriptIndex, pieces: list[list[str]]) -> list[int] | None:
    """The earliest placement of every piece, in order, each within MAX_ELLIPSIS_GAP_WORDS of the
    previous one; None when there is none. Tries later placements of a piece when the earliest
    leaves the next piece out of reach."""

    def place(k: int, after: int) -> list[int] | None:
        if k == len(pieces):
            return []
        bound = None if k == 0 else after + MAX_ELLIPSIS_GAP_WORDS
        for start in index.occurrences(pieces[k], after, bound, limit=50 if k else 1000):
            rest = place(k + 1, start + len(pieces[k]))
            if rest is not None:
                return [start, *rest]
        return None

    return place(0, 0)


def _explain_failure(index: TranscriptIndex, pieces: list[list[str]]) -> QuoteMatch:
    if len(pieces) > 1 and all(next(index.occurrences(piece), None) is not None for piece in pieces):
        return QuoteMatch(False, None, None, _score(index, [w for piece in pieces for w in piece])[0],
                          f"the pieces around the ellipsis are not in the transcript in this order "
                          f"(within {MAX_ELLIPSIS_GAP_WORDS} words of each other)")
    scores = []
    for piece in pieces:
        if len(pieces) > 1 and next(index.occurrences(piece), None) is not None:
            continue
        score, window = _score(index, piece)
        scores.append(score)
        if window is None or score < NOT_FOUND_SCORE:
            return QuoteMatch(False, None, None, score, "not in the transcript")
        differences = _differences(piece, index.token_words(*window))
        if differences:
            return QuoteMatch(False, None, None, score, "content words differ: " + "; ".join(differences[:3]))
    return QuoteMatch(False, None, None, min(scores, default=0.0), "not in the transcript")


def _score(index: TranscriptIndex, words: list[str]) -> tuple[float, tuple[int, int] | None]:
    return index.remembered(("score", *words), lambda: _score_anew(index, words))


def _score_anew(index: TranscriptIndex, words: list[str]) -> tuple[float, tuple[int, int] | None]:
    """Similarity of `words` to the closest transcript passage, and that passage's token range.

    rapidfuzz over the whole transcript costs milliseconds per quotation, so it only scores
    windows around candidate places: where pairs of the quotation's words occur (or, for
    a quotation with no pair in the transcript, its rarest words), voted by where they put
    the quotation's start.
    """
    votes: Counter[int] = Counter()
    # Each anchor search reads the transcript (~15 µs per 20,000 words), so a few selective
    # anchors: word triples spread over the quotation, then pairs, then its longest words.
    for size in (3, 2):
        offsets = range(len(words) - size + 1)
        for offset in sorted({offsets[round(i * (len(offsets) - 1) / 4)] for i in range(5)} if offsets else ()):
            for token in index.occurrences(words[offset:offset + size], limit=8):
                votes[token - offset] += 1
        if votes:
            break
    if not votes:
        for offset, word in sorted(enumerate(words), key=lambda item: -len(item[1]))[:3]:
            for token in index.occurrences([word], limit=8):
                votes[token - offset] += 1
    if not votes:
        return 0.0, None
    needle = " ".join(words)
    best: tuple[float, tuple[int, int] | None] = (0.0, None)
    for start, _ in votes.most_common(5):
        first = max(0, start - 5)
        end = min(index.token_count, start + len(words) + 5)
        window_text = " ".join(index.token_words(first, end))
        alignment = fuzz.partial_ratio_alignment(needle, window_text, score_cutoff=best[0])
        if alignment is not None and alignment.score > best[0]:
            first_in = first + window_text.count(" ", 0, alignment.dest_start)
            end_in = first + window_text.count(" ", 0, alignment.dest_end) + 1
            best = (alignment.score, (first_in, end_in))
    return best


def _differences(quoted: Sequence[str], passage: Sequence[str]) -> list[str]:
    """Word-level differences between a quotation and the passage it came from, e.g. "'not' missing"."""
    opcodes = difflib.SequenceMatcher(None, list(quoted), list(passage), autojunk=False).get_opcodes()
    # Transcript words before the quotation's first word or after its last are not differences.
    while opcodes and opcodes[0][0] == "insert":
        opcodes.pop(0)
    while opcodes and opcodes[-1][0] == "insert":
        opcodes.pop()
    differences = []
    for tag, i1, i2, j1, j2 in opcodes:
        said, written = " ".join(passage[j1:j2]), " ".join(quoted[i1:i2])
        if tag == "replace":
            differences.append(f"'{written}' instead of '{said}'")
        elif tag == "delete":
            differences.append(f"'{written}' added")
        elif tag == "insert":
            differences.append(f"'{said}' missing")
    return differences


# ---- quotations in a body --------------------------------------------------------------------


@dataclass(frozen=True)
class Quotation:
    start: int  # character span in the body, including the quotation marks
    end: int
    text: str  # the words between the marks
    link_s: float | None  # seconds of our own "&t=<N>s" video link directly after it, else None


_FENCE_RE = re.compile(r"^[ ]{0,3}(```|~~~).*?(?:^[ ]{0,3}\1[^\n]*$|\Z)", re.M | re.S)
_HEADING_RE = re.compile(r"^[ ]{0,3}#{1,6}(?:[ \t].*)?$", re.M)
_CODE_SPAN_RE = re.compile(r"(`+)(?!`).+?(?<!`)\1(?!`)", re.S)
_LINK_TARGET_RE = re.compile(r"\]\([^)\n]*\)")  # `(url "title")`: a title is not a quotation
_HIDDEN = "\x00"
# Possessive (`++`): the words of a quotation cannot hold its closing mark, so the first one
# after the opening mark is the only possible end, and runs of ordinary characters are consumed
# in one C loop instead of one backtracking step per character.
_NO_BLANK_LINE = r"(?:[^{marks}\x00\n]++|\n(?![ \t]*\n))++"
_QUOTATION_RES = (
    re.compile(r'(?<![\w"])"(?=\S)(' + _NO_BLANK_LINE.format(marks='"') + r')(?<=\S)"(?![\w])'),
    re.compile("“(" + _NO_BLANK_LINE.format(marks="“”") + ")”"),
)
# ‘…’ only when clearly a quotation: the opening mark starts a word, the closing mark ends one
# (an ’ between letters is an apostrophe: don’t), and no blank line in between.
_SINGLE_QUOTATION_RE = re.compile(r"(?<![\w‘’])‘(?=\w)((?:[^‘’\x00\n]++|’(?=\w))++)(?<=[\w.,!?])’(?!\w)")
_WORD_RE = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")


def _has_words(text: str, count: int) -> bool:
    """At least `count` words in `text` (without finding all of them)."""
    position = 0
    for _ in range(count):
        word = _WORD_RE.search(text, position)
        if word is None:
            return False
        position = word.end()
    return True


def find_quotations(body: str) -> list[Quotation]:
    """Quotations in "…" and “…” (and ‘…’ when clearly one) of at least MIN_QUOTE_WORDS words,
    outside headings, code blocks, code spans and link targets; in body order."""
    masked = body
    for pattern in (_FENCE_RE, _HEADING_RE, _CODE_SPAN_RE, _LINK_TARGET_RE):
        masked = pattern.sub(lambda match: _HIDDEN * len(match.group(0)), masked)
    spans = [match.span() for pattern in _QUOTATION_RES for match in pattern.finditer(masked)]
    inside_double = list(spans)  # ‘…’ nested in a double-quoted quotation is part of it
    for match in _SINGLE_QUOTATION_RE.finditer(masked):
        if not any(start < match.start() < end for start, end in inside_double):
            spans.append(match.span())
    quotations = []
    for start, end in sorted(spans):
        text = body[start + 1:end - 1]
        if not _has_words(text, MIN_QUOTE_WORDS):
            continue
        link = QUOTE_LINK_RE.match(body, end)
        quotations.append(Quotation(start, end, text, float(link.group(1)) if link else None))
    return quotations


# The model's own timestamps ([12:30], [1:02:03], (12:30), [12:30-13:05]) are guesses; a link
# label `[0:12](` is ours and stays.
_TIME = r"\d{1,2}:\d{2}(?::\d{2})?"
_MODEL_TIMESTAMP_RE = re.compile(
    rf"[ \t]*(?:\[(?:at )?{_TIME}(?:\s*[-–—]\s*{_TIME})?\](?!\()|\((?:at )?{_TIME}(?:\s*[-–—]\s*{_TIME})?\))",
    re.I)
# The markers alone, without the spaces before them: a body without one has nothing to strip, and
# this pattern is only tried where a "[" or "(" is, not at every position of the body.
_MODEL_TIMESTAMP_MARK_RE = re.compile(_MODEL_TIMESTAMP_RE.pattern.removeprefix(r"[ \t]*"), re.I)


def strip_model_timestamps(body: str) -> str:
    """Remove the model's own [mm:ss] / [h:mm:ss] / (mm:ss) markers: never trust them."""
    if not _MODEL_TIMESTAMP_MARK_RE.search(body):
        return body  # the usual case, found with a scan that starts only at "[" and "("
    # A marker that opens a line takes its following space with it.
    body = re.sub(rf"^(?:{_MODEL_TIMESTAMP_RE.pattern})[ \t]*", "", body, flags=re.M | re.I)
    return _MODEL_TIMESTAMP_RE.sub("", body)


# ---- rewriting a body ------------------------------------------------------------------------


@dataclass(frozen=True)
class QuoteOutcome:
    drafted: str  # the quotation as the model wrote it
    published: str | None  # as published (None when it was not published as a quotation)
    verdict: str  # "verified" | "unquoted" (marks removed, kept as paraphrase); the wiring adds "repaired"/"removed"
    score: float
    start_s: float | None
    link: str | None
    reason: str


@dataclass(frozen=True)
class VerifiedBody:
    body: str  # verified quotes rewritten to the transcript's words + link; unverified ones untouched
    outcomes: tuple[QuoteOutcome, ...]  # in body order, verified ones with verdict "verified"
    unverified: tuple[Quotation, ...]  # spans (in the returned body) of quotations that did not verify
    unverified_matches: tuple[QuoteMatch, ...] = ()  # why each of `unverified` failed (same order)
    # Every quotation of the draft as verified, its model timestamps stripped (spans in that text,
    # not in `body`), so a caller need not find them again.
    found: tuple[Quotation, ...] = ()


_SENTENCE_END = ".!?"
_TRAILING_PUNCTUATION = ".,;:!?"


def verify_quotes(body: str, index: AnyIndex, video_id: str | None) -> VerifiedBody:
    """Rewrite every verified quotation in the transcript's words, followed by a link to its moment
    (only when the transcript has times and the video is known); leave the others untouched and
    report them. Idempotent on its own output. A lazy index is built only if a quotation is found."""
    body = strip_model_timestamps(body)
    pieces: list[str] = []
    outcomes: list[QuoteOutcome] = []
    unverified: list[Quotation] = []
    unverified_matches: list[QuoteMatch] = []
    cursor = 0
    quotations = find_quotations(body)
    if quotations:
        index = built_index(index)
    for quotation in quotations:
        pieces.append(body[cursor:quotation.start])
        new_start = sum(map(len, pieces))
        drafted = body[quotation.start:quotation.end]
        match = match_quote(index, quotation.text)
        old_link = QUOTE_LINK_RE.match(body, quotation.end)
        if not match.verified:
            unverified.append(Quotation(new_start, new_start + len(drafted), quotation.text, quotation.link_s))
            unverified_matches.append(match)
            pieces.append(drafted)
            cursor = quotation.end
            continue
        published = drafted[0] + _published_words(match.transcript_text or "", quotation.text) + drafted[-1]
        linked = index.has_times and video_id and match.start_s is not None
        link = quote_url(video_id, match.start_s) if linked else None
        pieces.append(published + (quote_link(video_id, match.start_s) if linked else ""))
        cursor = old_link.end() if old_link else quotation.end
        outcomes.append(QuoteOutcome(drafted=drafted, published=published, verdict="verified", score=match.score,
                                     start_s=match.start_s, link=link, reason=""))
    pieces.append(body[cursor:])
    return VerifiedBody("".join(pieces), tuple(outcomes), tuple(unverified), tuple(unverified_matches),
                        tuple(quotations))


def _published_words(transcript_text: str, drafted_text: str) -> str:
    """The transcript's words, ending the way the essay's sentence needs: captions often end a
    quoted span mid-sentence ("trees,") or without punctuation at all, and the essay's own
    closing punctuation inside the marks is kept."""
    words = transcript_text.rstrip(",;:—–- ")
    drafted_end = drafted_text.rstrip()[-1:]
    if drafted_end and drafted_end in _TRAILING_PUNCTUATION and words[-1:] not in tuple(_SENTENCE_END):
        words += drafted_end
    return words


def unquote(body: str, quotations: Sequence[Quotation],
            matches: Sequence[QuoteMatch] | None = None) -> tuple[str, tuple[QuoteOutcome, ...]]:
    """Remove the quotation marks (and any quote link after them), keeping the words as paraphrase.

    `matches` (as in `VerifiedBody.unverified_matches`) carries each quotation's score and reason
    into its outcome."""
    outcomes = []
    for position, quotation in sorted(enumerate(quotations), key=lambda item: item[1].start, reverse=True):
        drafted = body[quotation.start:quotation.end]
        if len(drafted) < 2 or drafted[1:-1] != quotation.text:
            raise ValueError(f"quotation {quotation!r} does not match the body at {quotation.start}")
        link = QUOTE_LINK_RE.match(body, quotation.end)
        body = body[:quotation.start] + quotation.text + body[link.end() if link else quotation.end:]
        match = matches[position] if matches is not None else None
        outcomes.append(QuoteOutcome(drafted=drafted, published=None, verdict="unquoted",
                                     score=match.score if match else 0.0, start_s=None, link=None,
                                     reason=match.reason if match else "not verified against the transcript"))
    return body, tuple(reversed(outcomes))


def verbatim_problems(body: str, index: AnyIndex, *, linked: bool) -> list[str]:
    """What an independent reader of a published essay would object to: a quotation that does not
    match the transcript, or whose link is missing (`linked`), present (not `linked`), or more than
    LINK_TOLERANCE_S from the moment the quotation starts. A lazy index is built only if a
    quotation is found."""
    problems = []
    quotations = find_quotations(body)
    if quotations:
        index = built_index(index)
    for quotation in quotations:
        verified, start_s = _verified_start(index, quotation.text)
        shown = quotation.text if len(quotation.text) <= 80 else quotation.text[:77] + "..."
        if not verified:
            problems.append(f'"{shown}" is not in the transcript ({match_quote(index, quotation.text).reason})')
        elif not linked and quotation.link_s is not None:
            problems.append(f'"{shown}" links to {quotation.link_s:g}s, but this transcript has no times to link')
        elif linked and quotation.link_s is None:
            problems.append(f'"{shown}" has no link to its moment in the video')
        elif linked and start_s is not None and abs(quotation.link_s - start_s) > LINK_TOLERANCE_S:
            problems.append(f'"{shown}" links to {quotation.link_s:g}s but starts at {start_s:g}s')
    return problems
