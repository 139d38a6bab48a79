"""A short timed conversation and a model draft that misquotes it, for the quote pipeline tests.

The draft mixes a genuine quotation, a genuine one in other case and punctuation, a
negation-flipped one, an invented one, the model's own (wrong) [mm:ss] markers, a foreign URL,
a transcript URL, a link to this video and an empty section. `reply` answers the essay call with
the draft and each `quote_repair` call with its section re-written correctly.
"""

from __future__ import annotations

import json
from pathlib import Path

from testkit.openai_stub import last_user_text

VIDEO_ID = "dQw4w9WgXcQ"
FOREIGN_URL = "https://example.com/fake-heat-data"
TRANSCRIPT_URL = "https://heatwatch.org/accra"
VIDEO_LINK = f"https://www.youtube.com/watch?v={VIDEO_ID}"

SNIPPETS = [
    {"text": "[Music]", "start": 0.0, "duration": 4.0},
    {"text": "Welcome back. Today I'm talking with Dr. Amara Osei,", "start": 4.2, "duration": 3.1},
    {"text": "who has spent twelve years measuring heat in Accra and Lagos.", "start": 7.3, "duration": 3.9},
    {"text": "Um, thank you for having me. It's, uh, a real pleasure.", "start": 11.2, "duration": 3.5},
    {"text": "So the first thing I want to say is that shade is not a luxury.", "start": 14.7, "duration": 3.8},
    {"text": "Shade is infrastructure, just like water pipes", "start": 18.5, "duration": 2.9},
    {"text": "or electricity.", "start": 21.4, "duration": 1.6},
    {"text": "When we planted 3,000 trees in one neighbourhood,", "start": 23.0, "duration": 3.2},
    {"text": "night-time temperatures dropped by two degrees.", "start": 26.2, "duration": 2.8},
    {"text": "That's a 40% cut in heat-related hospital visits.", "start": 29.0, "duration": 3.4},
    {"text": "You can see all of our data at heatwatch.org/accra.", "start": 32.4, "duration": 3.0},
    {"text": "[Applause]", "start": 35.4, "duration": 1.5},
    {"text": "And I don't think cities need more air conditioning;", "start": 36.9, "duration": 3.3},
    {"text": "they need more trees.", "start": 40.2, "duration": 1.9},
    {"text": ">> what surprised you most about the", "start": 42.1, "duration": 2.4},
    {"text": "results in lagos", "start": 44.5, "duration": 1.8},
    {"text": ">> honestly it was how fast people", "start": 46.3, "duration": 2.5},
    {"text": "noticed the difference um within weeks", "start": 48.8, "duration": 2.6},
    {"text": "residents were sleeping outside again", "start": 51.4, "duration": 2.4},
    {"text": "and Kwame Mensah the mayor called it", "start": 53.8, "duration": 2.5},
    {"text": "the cheapest health policy we ever had", "start": 56.3, "duration": 2.7},
    {"text": "but we have to be careful uh the trees", "start": 59.0, "duration": 2.6},
    {"text": "need water for the first three years", "start": 61.6, "duration": 2.5},
    {"text": "and without that most of them die", "start": 64.1, "duration": 2.4},
    {"text": "so shade is infrastructure you have to", "start": 66.5, "duration": 2.4},
    {"text": "maintain it like any other", "start": 68.9, "duration": 2.0},
    {"text": "[Music]", "start": 70.9, "duration": 3.0},
]

GENUINE = "Shade is infrastructure, just like water pipes"  # starts at 18.5 s
ALTERED_CASE = "SHADE IS NOT A LUXURY!"  # the transcript's "shade is not a luxury." at 14.7 s
FLIPPED = "the trees do not need water for the first three years"  # the speaker said they do
INVENTED = "every city in Africa will be five degrees cooler by 2030"
CLOSING = "they need more trees"  # starts at 40.2 s
MODEL_MARKERS = ("[12:30]", "[03:10]", "(9:59)", "[1:02:03]")

_FILLER = ("The point is practical rather than poetic: a city that treats cooling as a public service plans it, "
           "budgets for it and maintains it, instead of leaving every household to buy its own relief.")

DRAFT = f"""# Shade Is Not a Luxury [12:30]

## The Claim

Dr. Amara Osei opens with a blunt line [03:10]: "{GENUINE}". Later she insists that "{ALTERED_CASE}" (9:59)
and that trees belong in the same budget as pipes and wires. {_FILLER}

## The Evidence

The numbers from Accra are striking, and she publishes them at [her data]({TRANSCRIPT_URL}). A
[survey of other cities]({FOREIGN_URL}) is cited as well. She is careful about the costs, adding that
"{FLIPPED}" [1:02:03], which would make trees the cheapest policy imaginable. {_FILLER}

## Open Questions

## Conclusion

The conversation ends on a forecast: "{INVENTED}". Whatever one makes of that, her closing advice is
plain: "{CLOSING}". Watch [the full conversation]({VIDEO_LINK}) for the details. {_FILLER}
"""

REPAIRED_EVIDENCE = f"""## The Evidence

The numbers from Accra are striking, and she publishes them at [her data]({TRANSCRIPT_URL}). A
survey of other cities is cited as well. She is careful about the costs, adding that "the trees
need water for the first three years" and that without it most of them die. {_FILLER}
"""

REPAIRED_CONCLUSION = f"""## Conclusion

The conversation ends on a hopeful note about how much cooler cities could become. Whatever one makes of
that, her closing advice is plain: "{CLOSING}". Watch [the full conversation]({VIDEO_LINK}) for the
details. {_FILLER}
"""


OPEN_QUESTIONS = ("Nobody in the conversation says who pays for the water in the dry years, or how a city "
                  "decides which streets get trees first when the budget covers only a few of them.")
# The same draft, asked again: the pipeline re-asks an essay whose sections are empty.
DRAFT_ASKED_AGAIN = DRAFT.replace("## Open Questions\n\n", f"## Open Questions\n\n{OPEN_QUESTIONS}\n\n")


class QuotingModel:
    """The loopback model: the draft (with an empty section) for the first essay call, the same
    draft with that section written when asked again, a correct section for each repair call."""

    def __init__(self) -> None:
        self.essay_calls = 0

    def __call__(self, request_json: dict) -> str:
        asked = last_user_text(request_json)
        if "<section>" in asked:
            return REPAIRED_EVIDENCE if "## The Evidence" in asked else REPAIRED_CONCLUSION
        self.essay_calls += 1
        return DRAFT if self.essay_calls == 1 else DRAFT_ASKED_AGAIN


def write_timed_transcript(data_dir: Path, video_id: str = VIDEO_ID) -> Path:
    path = data_dir / "transcripts" / f"{video_id}.json"
    path.write_text(json.dumps(SNIPPETS))
    return path


def write_text_transcript(data_dir: Path, video_id: str = VIDEO_ID) -> Path:
    """The same words as a user's .txt file: no times."""
    path = data_dir / "transcripts" / f"{video_id}.txt"
    path.write_text("\n".join(s["text"] for s in SNIPPETS) + "\n")
    return path
