"""Quote verifier benchmark: index build + 30 quotations over a synthetic 20,000-word transcript.

    .venv/bin/python bench/quotes.py [--words 20000] [--quotes 30] [--repeat 21]

The issue's target: verifying quotations must add under 1 % to a 100-video run, i.e. a few ms
per essay. Half the quotations are genuine (taken from the transcript, some across snippets, some
with an ellipsis), half altered the way a model alters them (a word changed, a word dropped, an
invented tail, a saying never said). Prints the median of --repeat runs.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from essay_assets.writing.quotes import TranscriptIndex, match_quote, verify_quotes  # noqa: E402
from testkit.synthetic_transcripts import synthetic_snippets  # noqa: E402


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--words", type=int, default=20000)
    parser.add_argument("--quotes", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=21)
    args = parser.parse_args()

    snippets = synthetic_snippets(args.words)
    quotations = make_quotations(snippets, args.quotes)
    body = "\n\n".join(f'The speaker said "{quoted}" and moved on.' for quoted in quotations)

    builds, matches, essays = [], [], []
    for _ in range(args.repeat):
        started = time.perf_counter()
        index = TranscriptIndex.from_snippets(snippets)
        built = time.perf_counter()
        results = [match_quote(index, quoted) for quoted in quotations]
        matched = time.perf_counter()
        verify_quotes(body, TranscriptIndex.from_snippets(snippets), "dQw4w9WgXcQ")
        essays.append(time.perf_counter() - matched)
        builds.append(built - started)
        matches.append(matched - built)

    verified = sum(result.verified for result in results)
    build_ms, match_ms, essay_ms = (1000 * statistics.median(times) for times in (builds, matches, essays))
    print(f"transcript: {args.words} words in {len(snippets)} snippets; {args.quotes} quotations "
          f"({verified} verified); median of {args.repeat} runs")
    print(f"index build:                 {build_ms:7.2f} ms")
    print(f"match {args.quotes} quotations:         {match_ms:7.2f} ms ({match_ms / args.quotes:.3f} ms per quotation)")
    print(f"per essay (build + match):   {build_ms + match_ms:7.2f} ms")
    print(f"verify_quotes on an essay:   {essay_ms:7.2f} ms (build, find, match, rewrite)")


if __name__ == "__main__":
    main()
