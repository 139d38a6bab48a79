"""How often the embedded model's essay sections come back empty, with and without the prose grammar.

    .venv/bin/python bench/section_yield.py [--samples 30] [--data-dir <a data dir after `essays demo`>]

The demo writes its essay section by section (the 135M model cannot hold the outline) and asks a
section again when cleanup leaves no prose in it (writing/drafting.py, SECTION_RETRIES). A section
broken on every attempt fails the video. This samples each section's request --samples times per
mode, the two modes alternating so the box's load falls on both alike, through the pipeline's own
call (model_calls/client.call_model) and its own verdict (cleanup after the published sections
before it, as drafting does): "free" is the endpoint's usual sampling, "prose" adds the grammar
(local_model.PROSE_GRAMMAR). Without --data-dir it runs `essays demo` in a temporary folder first,
for the notes the section requests are built from.

Prints, per section and mode: answers left empty, seconds per call, output tokens per second.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from essay_assets.model_calls.client import call_model, resolve_endpoint  # noqa: E402
from essay_assets.settings import Settings  # noqa: E402
from essay_assets.writing.cleanup import broken_sections, clean_body  # noqa: E402
from essay_assets.writing.drafting import section_messages  # noqa: E402
from essay_assets.writing.prompts import (  # noqa: E402
    VideoContext,
    essay_from_notes_messages,
    essay_sections,
    load_prompts,
)
from essay_assets.writing.rendering import parse_essay, section_prose  # noqa: E402

VIDEO = "demo-sample"
MODES = {"free": False, "prose": True}


def demo_data_dir() -> Path:
    home = Path(tempfile.mkdtemp(prefix="section-yield-"))
    env = {**os.environ, "ESSAYS_DATA_DIR": str(home / "data"), "DAGSTER_HOME": str(home / "dagster")}
    env = {k: v for k, v in env.items() if k != "ESSAYS_MODEL" and not k.endswith("_API_KEY")}
    subprocess.run([sys.executable, "-m", "essay_assets.cli", "demo"], env=env, check=True, cwd=REPO)
    return home / "data"


def section_requests(data_dir: Path) -> list[tuple[str, list[dict[str, str]], list[str]]]:
    """(heading, the section's request, the published sections before it) per section."""
    stored = [json.loads(p.read_text()) for p in (data_dir / "raw" / "llm_calls" / VIDEO).glob("*.json")]
    notes = [c["content"] for c in sorted((c for c in stored if c["row"]["stage"] == "chunk_notes"
                                           and c["row"]["chunk_index"] < 1000), key=lambda c: c["row"]["chunk_index"])]
    meta = json.loads((data_dir / "raw" / "videos" / f"{VIDEO}.json").read_text())
    video = VideoContext(VIDEO, meta.get("title"), meta.get("channel_name"), meta.get("published_at"))
    prompts = load_prompts()
    messages = essay_from_notes_messages(prompts, video, notes)
    _, body = parse_essay((data_dir / "essays" / f"{VIDEO}.md").read_text())
    published = ["## " + part for part in body.split("\n## ")[1:]]
    return [(heading, section_messages(messages, heading, description), published[:index])
            for index, (heading, description) in enumerate(essay_sections(prompts))]


async def sample(samples: int, requests, max_tokens: int) -> dict[tuple[str, str], dict[str, float]]:
    settings = Settings.from_env()
    endpoint = resolve_endpoint(settings)
    results: dict[tuple[str, str], dict[str, float]] = {}
    for heading, messages, before in requests:
        for _ in range(samples):
            for mode, prose_only in MODES.items():
                started = time.perf_counter()
                outcome = await call_model(endpoint, messages, settings=settings, max_tokens=max_tokens,
                                           prose_only=prose_only)
                seconds = time.perf_counter() - started
                section = f"## {heading}\n\n{section_prose(outcome.content)}"
                broken = bool(broken_sections(clean_body("\n\n".join(before + [section])).body))
                totals = results.setdefault((heading, mode), {"empty": 0, "seconds": 0.0, "tokens": 0})
                totals["empty"] += broken
                totals["seconds"] += seconds
                totals["tokens"] += outcome.usage.output_tokens or 0
        for mode in MODES:  # as it goes: a section takes minutes
            print(_row(heading, mode, results[(heading, mode)], samples), flush=True)
    return results


def _row(heading: str, mode: str, r: dict[str, float], samples: int) -> str:
    return (f"{heading:<30} {mode:<6} {int(r['empty']):>3}/{samples:<3} "
            f"{r['seconds'] / samples:>7.2f} {r['tokens'] / r['seconds']:>6.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--data-dir", type=Path)
    args = parser.parse_args()
    data_dir = args.data_dir or demo_data_dir()
    os.environ["ESSAYS_DATA_DIR"] = str(data_dir)
    os.environ.pop("ESSAYS_MODEL", None)  # the embedded model: the grammar is its own
    requests = section_requests(data_dir)
    settings = Settings.from_env()
    max_tokens = max(64, settings.essay_max_tokens // len(requests))  # as drafting sizes a section
    print(f"{args.samples} answers per section and mode, max_tokens {max_tokens}, load {os.getloadavg()[0]:.1f}")
    print(f"{'section':<30} {'mode':<6} {'empty':>7} {'s/call':>7} {'tok/s':>6}")
    results = asyncio.run(sample(args.samples, requests, max_tokens))
    for mode in MODES:
        totals = {key: sum(r[key] for (_, m), r in results.items() if m == mode)
                  for key in ("empty", "seconds", "tokens")}
        print(_row("all sections", mode, totals, args.samples * len(requests)))
    print(f"load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
