"""Synthetic transcripts: seeded, reproducible snippet lists in the shape a user's
transcript JSON has (`[{"text", "start", "duration"}, ...]`)."""

from __future__ import annotations

import random

_WORDS = ("heat canopy shade roof city research question evidence trees night cooling people street "
          "measure policy health risk model climate budget water neighbourhood data survey").split()


def synthetic_snippets(words: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    snippets, start, left = [], 0.0, words
    while left > 0:
        n = min(left, rng.randint(8, 18))
        snippets.append({"text": " ".join(rng.choice(_WORDS) for _ in range(n)), "start": round(start, 2),
                         "duration": round(n / 2.6, 2)})
        start += n / 2.6
        left -= n
    return snippets
