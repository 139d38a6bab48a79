"""Quote verifier benchmark: what verifying one essay's quotations costs, against the essay's
share of a 100-video run.

    .venv/bin/python bench/quotes.py [--words 20000 | --transcript snippets.json] [--quotes 30] [--repeat 31]
                                     [--baseline <checkout> [--same-results]] [--share-s 0.42] [--memory]

The issue's target: verifying quotations must cost under 1 % of an essay's share of a 100-video
run (bench/backfill.py (a): ~42 s of wall time for 100 videos, 0.42 s per essay, so < 4.2 ms).
Per essay that run (a remote model: the repair policy) verifies the quotations three times:
llm_response (which sections need a re-write), the essay step (verify, unquote the failures)
and the `essay_quotes_are_verbatim` check (the published essay against the stored transcript).
All three are timed here, as the run does them, each asking for the transcript's index: with
the index cache, the essay step and the check find the one llm_response built.

Half the quotations are genuine (taken from the transcript, some across snippets, some with an
ellipsis), half altered the way a model alters them (a word changed, an invented tail, a saying
never said). `--baseline <checkout>` (e.g. `git worktree add ../base-quotes f6cc1da`) imports
that checkout's `essay_assets/writing/quotes.py` under another module name and times it in the
same loop, alternating, so both columns share this box's load. Prints the median and the
minimum of --repeat runs (the minimum is the least disturbed by other work on the box).
`--same-results` first compares both versions' answers on thousands of quotations and bodies.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import statistics
import sys
import time
import tracemalloc
from dataclasses import astuple
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from essay_assets.writing import quotes  # noqa: E402
from testkit.synthetic_transcripts import synthetic_snippets  # noqa: E402

VIDEO_ID = "dQw4w9WgXcQ"


def make_quotations(snippets: list[dict], count: int, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    words = " ".join(snippet["text"] for snippet in snippets).split()
    quotations = []
    for i in range(count):
        start = rng.randrange(len(words) - 40)
        span = words[start:start + rng.randint(6, 20)]
        kind = i % 6
        if kind == 0:  # genuine, plain
            quotations.append(" ".join(span))
        elif kind == 1:  # genuine, capitalised and punctuated
            quotations.append(" ".join(span).capitalize() + ".")
        elif kind == 2:  # genuine, with an ellipsis
            quotations.append(" ".join(span[:4]) + " … " + " ".join(words[start + 10:start + 16]))
        elif kind == 3:  # altered: one word changed
            span[len(span) // 2] = "fewer"
            quotations.append(" ".join(span))
        elif kind == 4:  # altered: a real quote with an invented tail
            quotations.append(" ".join(span) + " and that is why we must act now")
        else:  # invented
            quotations.append("the best time to plant a tree was twenty years ago")
    return quotations


def load_baseline(checkout: Path) -> ModuleType:
    """The quote verifier of another checkout, as module `baseline_quotes` (it imports this
    tree's `essay_assets.writing.links`, which the measured change leaves alone)."""
    spec = importlib.util.spec_from_file_location("baseline_quotes", checkout / "essay_assets/writing/quotes.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["baseline_quotes"] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


def forget_indexes(module: ModuleType) -> None:
    """A new transcript for the essay step: no index of it in the cache (the baseline has none)."""
    if hasattr(module.TranscriptIndex, "forget_recent"):
        module.TranscriptIndex.forget_recent()


def one_essay(module: ModuleType, snippets: list[dict], body: str) -> tuple[tuple[float, ...], int]:
    """Seconds for each step's verification of one essay's quotations (index included), in run
    order; and how many quotations verified. The same calls as `repair_requests` (llm_response,
    under the repair policy), `check_essay` (essay) and `quote_problems` (the check) make."""
    forget_indexes(module)
    started = time.perf_counter()
    index = module.TranscriptIndex.from_snippets(snippets)
    drafted = module.verify_quotes(body, index, VIDEO_ID)
    for quotation in drafted.unverified:  # what the speakers said, for the re-write prompt
        module.closest_passage(index, quotation.text)
    responded = time.perf_counter()
    verified = module.verify_quotes(body, module.TranscriptIndex.from_snippets(snippets), VIDEO_ID)
    published, _ = module.unquote(verified.body, verified.unverified, verified.unverified_matches)
    essay_done = time.perf_counter()
    problems = module.verbatim_problems(published, module.TranscriptIndex.from_snippets(snippets), linked=True)
    checked = time.perf_counter()
    assert not problems, problems  # the published essay passes its check
    return (responded - started, essay_done - responded, checked - essay_done), len(verified.outcomes)


def word_floor(snippets: list[dict]) -> float:
    """Seconds to normalize the transcript and split it into words: what any word-level index
    built in Python costs at least."""
    started = time.perf_counter()
    quotes._normalize("\n".join(snippet["text"] for snippet in snippets)).split()
    return time.perf_counter() - started


def index_memory(snippets: list[dict]) -> tuple[int, int]:
    """Bytes the cache keeps for one transcript (its index, texts included), as tracemalloc
    counts them and as the cache estimates them."""
    quotes.TranscriptIndex.forget_recent()
    tracemalloc.start()
    # Fresh copies of the texts: the index keeps them alive after the caller's snippets are gone.
    copies = [{"text": snippet["text"].encode().decode(), "start": snippet["start"]} for snippet in snippets]
    index = quotes.TranscriptIndex.from_snippets(copies)
    del copies
    held = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    quotes.TranscriptIndex.forget_recent()
    return held, quotes._held_bytes(sum(len(text) + 1 for text in index.snippet_texts) - 1, len(index.codes))


def same_results(before: ModuleType, after: ModuleType, quotations: int = 300, bodies: int = 20000) -> None:
    """Compare the two verifiers' answers: matches and closest passages of genuine and altered
    quotations over three transcripts (synthetic, the demo sample, a noisy one full of fillers,
    number words, tags and empty snippets), whole essays, and quotation finding in random bodies."""
    rng = random.Random(7)
    noisy_words = ("um uh three 3 twenty [Music] -- >> don't Don’t 1,000 50% trees, the heat. canopy! one two hmm "
                   "city night shade").split()
    noisy = [{"text": " ".join(rng.choice(noisy_words) for _ in range(rng.randint(0, 12))), "start": k * 2.5}
             for k in range(400)]
    sample = json.loads((REPO / "essay_assets/intake/sample/demo-sample.json").read_text())
    differ = 0
    for snippets in (synthetic_snippets(5000), sample, noisy):
        old, new = before.TranscriptIndex.from_snippets(snippets), after.TranscriptIndex.from_snippets(snippets)
        words = " ".join(snippet["text"] for snippet in snippets).split()
        cases = make_quotations(snippets, quotations, seed=rng.randrange(1000))
        cases += [" ".join(rng.sample(words, rng.randint(2, 12))) for _ in range(quotations // 3)]  # shuffled
        for quoted in cases:
            differ += (astuple(before.match_quote(old, quoted)) != astuple(after.match_quote(new, quoted))
                       or before.closest_passage(old, quoted) != after.closest_passage(new, quoted))
        body = "\n\n".join(f'He said "{quoted}" then.' for quoted in cases[:40])
        published = before.verify_quotes(body, old, VIDEO_ID)
        differ += published.body != after.verify_quotes(body, new, VIDEO_ID).body
        for linked in (True, False):
            for text in (body, published.body):
                differ += before.verbatim_problems(text, old, linked=linked) != after.verbatim_problems(
                    text, new, linked=linked)
    parts = ['"', '“', '”', '‘', '’', "'", "don’t", " ", "\n", "\n\n", "\n \n", "word", "Two words", "`code`",
             "```\nx\n```\n", "# Head\n", "[12:30]", "(1:02:03)", " [0:12-0:15]", "[at 3:04]", "(at 12:00)",
             f"[0:12](https://www.youtube.com/watch?v={VIDEO_ID}&t=12s)", ".", ",", "!", "x_y", "\x00", "…",
             '[link](http://a.b "title here")']
    for _ in range(bodies):
        body = "".join(rng.choice(parts) for _ in range(rng.randint(1, 40)))
        differ += ([astuple(q) for q in before.find_quotations(body)] != [astuple(q) for q in after.find_quotations(body)]
                   or before.strip_model_timestamps(body) != after.strip_model_timestamps(body))
    print(f"same results: {differ} differences ({3 * quotations * 4 // 3} quotations, 3 essays, {bodies} bodies)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--words", type=int, default=20000, help="words of the synthetic transcript")
    parser.add_argument("--transcript", type=Path,
                        help="a transcript JSON (snippets) instead, e.g. essay_assets/intake/sample/demo-sample.json")
    parser.add_argument("--quotes", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=31)
    parser.add_argument("--baseline", type=Path, help="a checkout whose quote verifier to time alongside")
    parser.add_argument("--share-s", type=float, default=0.42,
                        help="one essay's share of the 100-video run, seconds (docs/benchmarks.md, (a))")
    parser.add_argument("--memory", action="store_true", help="also measure the memory one index holds")
    parser.add_argument("--same-results", action="store_true",
                        help="first check that --baseline gives the same answers on thousands of cases")
    args = parser.parse_args()

    snippets = json.loads(args.transcript.read_text()) if args.transcript else synthetic_snippets(args.words)
    words = sum(len(snippet["text"].split()) for snippet in snippets)
    quotations = make_quotations(snippets, args.quotes)
    body = "\n\n".join(f'The speaker said "{quoted}" and moved on.' for quoted in quotations)
    versions = {"after": quotes} | ({"before": load_baseline(args.baseline)} if args.baseline else {})
    if args.same_results:
        same_results(versions["before"], quotes)
    times: dict[str, list[tuple[float, ...]]] = {name: [] for name in versions}
    floor = []
    verified = {}
    for _ in range(args.repeat):
        for name, module in versions.items():  # alternating: both see the same moments of load
            seconds, verified[name] = one_essay(module, snippets, body)
            times[name].append(seconds)
        floor.append(word_floor(snippets))

    print(f"transcript: {args.transcript or 'synthetic'}, {words} words in {len(snippets)} snippets; {args.quotes} quotations "
          f"({verified['after']} verified); {args.repeat} runs, alternating {' and '.join(versions)}; "
          f"median (min) in ms")
    names = list(reversed(versions))
    print(f"{'':54s}" + "".join(f"{name:>18s}" for name in names))
    rows = (("llm_response (repair policy): index, verify", (0,)),
            ("essay: index (cached after), verify, unquote", (1,)),
            ("check: index (cached after), verify", (2,)),
            ("verifying one essay's quotations, all steps", (0, 1, 2)))
    totals = {}
    for label, parts in rows:
        cells = ""
        for name in names:
            per_run = [1000 * sum(run[p] for p in parts) for run in times[name]]
            totals[name] = (statistics.median(per_run), min(per_run))
            cells += f"{totals[name][0]:10.2f} ({totals[name][1]:5.2f})"
        print(f"{label:54s}{cells}")
    share_ms = 1000 * args.share_s
    print(f"{'share of the 100-video run (' + format(args.share_s, 'g') + ' s per essay)':54s}"
          + "".join(f"{totals[name][0] / share_ms:10.2%} ({totals[name][1] / share_ms:5.2%})" for name in names)
          + "   target < 1 %")
    if "before" in totals:
        print(f"after / before: {totals['after'][0] / totals['before'][0]:.2f} (median), "
              f"{totals['after'][1] / totals['before'][1]:.2f} (min)")
    floor_ms = [1000 * seconds for seconds in floor]
    print(f"floor: normalize + split the transcript into words: {statistics.median(floor_ms):.2f} "
          f"({min(floor_ms):.2f}) ms")
    if args.memory:
        held, estimated = index_memory(snippets)
        print(f"memory the index cache holds for this transcript: {held / 1e6:.2f} MB "
              f"(its estimate: {estimated / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
