"""Quote verification on a run's critical path, replayed without the run's noise.

    .venv/bin/python bench/backfill.py --only a --words 20000 --quotes 30 --keep   # prints its work dir
    .venv/bin/python bench/quote_steps.py <that work dir> [--repeat 7]

In a 100-video `essays run` the model's latency and the box's other work move each step's
duration by a second or more, more than verification costs. This replays, in one process, the
quotation work of the two steps on the run's critical path over the stored answers and
transcripts of a kept `bench/backfill.py --quotes` run, for its plain and its quoted variant
(`a_plain0/`, `a_quoted0/`), alternating: the `essay` step's `check_essay` (the draft made
publishable, links cleaned, quotations verified, failures unquoted) and the
`essay_quotes_are_verbatim` check (the published body against the re-read transcript). Files,
warehouse rows and Dagster events are left out: they are the same work for both variants but
for the quotes table's rows.

Two orders: "early", as the pipeline runs now (llm_response verified each draft while other
answers were awaited, so the shared index and the answers are ready: not timed), and "in the
essay step" (nothing verified before: each index is built and each quotation matched there).
With `--policy repair` (a kept run with ESSAYS_QUOTE_POLICY=repair), the essay step also applies
the stored re-written sections and verifies them again.
Prints the minimum of --repeat passes over all videos, per variant, and quoted - plain.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from essay_assets.intake.transcripts import Transcript  # noqa: E402
from essay_assets.writing.cleanup import publishable_body  # noqa: E402
from essay_assets.writing.quotes import (  # noqa: E402
    LazyTranscriptIndex,
    TranscriptIndex,
    verbatim_problems,
    verify_quotes,
)
from essay_assets.writing.rendering import normalize_body  # noqa: E402
from essay_assets.writing.repair import (  # noqa: E402
    check_essay,
    link_video_id,
    repair_requests,
)

VARIANTS = ("a_plain", "a_quoted")


def stored(data: Path) -> list[tuple[str, dict, list]]:
    """(video, the stored response: the model's answer and any re-written sections, the stored
    transcript) of every answered video."""
    found = []
    for path in sorted((data / "raw" / "responses").glob("*.json")):
        video_id = path.name.split(".")[0]
        transcript = json.loads((data / "raw" / "transcripts" / f"{video_id}.json").read_text())
        found.append((video_id, json.loads(path.read_text()), transcript))
    return found


def verify_drafts(videos, policy: str) -> None:
    """What llm_response does with each draft (defs/assets.py `_verified_draft_requests`)."""
    for video_id, response, transcript in videos:
        found = Transcript.from_json(transcript)
        verify = repair_requests if policy == "repair" else verify_quotes
        verify(normalize_body(response["content"], "Essay"), LazyTranscriptIndex(found.snippets),
               link_video_id(video_id, found.source))


def essay_and_check(videos, policy: str) -> tuple[float, float]:
    """Seconds of the essay step's and the check's quotation work over all videos."""
    started = time.perf_counter()
    published = []
    for video_id, response, transcript in videos:
        found = Transcript.from_json(transcript)
        body = publishable_body(normalize_body(response["content"], "Reflections")).body
        checked = check_essay(body, LazyTranscriptIndex(found.snippets), video_id=link_video_id(video_id, found.source),
                              policy=policy, repairs=response.get("repairs") or ())
        published.append((video_id, checked.body, transcript))
    essay_done = time.perf_counter()
    for video_id, body, transcript in published:
        found = Transcript.from_json(transcript)
        index = LazyTranscriptIndex(found.snippets)
        problems = verbatim_problems(body, index, linked=index.has_times and link_video_id(video_id, found.source) is not None)
        assert not problems, problems
    return essay_done - started, time.perf_counter() - essay_done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work", type=Path, help="the work dir of a `bench/backfill.py --quotes N --keep` run")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--policy", default="unquote", choices=("unquote", "repair"),
                        help="the ESSAYS_QUOTE_POLICY the kept run had (repair: its re-written sections are applied)")
    args = parser.parse_args()
    videos = {variant: stored(args.work / f"{variant}0" / "data") for variant in VARIANTS}
    best: dict[tuple[str, str], tuple[float, float]] = {}
    for _ in range(args.repeat):
        for order in ("early", "in the essay step"):
            for variant in VARIANTS:  # alternating: both see the same moments of load
                TranscriptIndex.forget_recent()
                if order == "early":
                    verify_drafts(videos[variant], args.policy)
                seconds = essay_and_check(videos[variant], args.policy)
                key = (order, variant)
                best[key] = tuple(map(min, zip(best.get(key, seconds), seconds)))
    n = len(videos["a_quoted"])
    print(f"{n} videos, ESSAYS_QUOTE_POLICY={args.policy}; the minimum of {args.repeat} passes, seconds for all videos")
    print(f"{'verified':20s}{'variant':10s}{'essay':>9s}{'check':>9s}{'both':>9s}")
    for order in ("early", "in the essay step"):
        for variant in VARIANTS:
            essay, check = best[(order, variant)]
            print(f"{order:20s}{variant:10s}{essay:9.3f}{check:9.3f}{essay + check:9.3f}")
        (qe, qc), (pe, pc) = best[(order, "a_quoted")], best[(order, "a_plain")]
        print(f"{order:20s}{'added':10s}{qe - pe:+9.3f}{qc - pc:+9.3f}{qe + qc - pe - pc:+9.3f}"
              f"   ({1000 * (qe + qc - pe - pc) / n:.1f} ms per essay)")


if __name__ == "__main__":
    main()
