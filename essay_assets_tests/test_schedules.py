"""The daily schedule `missing_or_stale_essays` and prompt-revision staleness, against a real
instance under a temporary DAGSTER_HOME, a real warehouse and litellm over loopback HTTP."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
import pytest

from essay_assets.cli.runner import register_videos
from essay_assets.defs.build import build_definitions
from essay_assets.defs.resources import EssaySettings
from essay_assets.settings import Settings
from essay_assets.storage.staleness import videos_needing_essays
from essay_assets.storage.warehouse import utc_now, warehouse_for
from essay_assets.writing.prompts import BUNDLED_PROMPTS_DIR as PROMPTS_DIR
from essay_assets.writing.prompts import load_prompts
from essay_assets.writing.rendering import parse_essay
from essay_assets_tests.support.chain import run_chain, write_transcript

TICK = datetime(2026, 11, 27, 6, 0, tzinfo=timezone.utc)
MODEL = "openai/gpt-4o"
PROMPT_REVISION = load_prompts().revision

# Evaluates the schedule in a fresh process, so it sees the prompt revision of ESSAYS_PROMPTS_DIR.
_EVALUATE_SCHEDULE = """
import json, dagster as dg
from essay_assets.defs.build import build_definitions
from essay_assets.defs.resources import EssaySettings
defs = build_definitions()
schedule = defs.resolve_schedule_def("missing_or_stale_essays")
result = schedule(dg.build_schedule_context(instance=dg.DagsterInstance.get()), essay_settings=EssaySettings())
requested = [r.partition_key for r in result] if isinstance(result, list) else None
revision = int(defs.resolve_assets_def("essay").code_versions_by_key[dg.AssetKey("essay")].removeprefix("r"))
print(json.dumps({"revision": revision, "requested": requested}))
"""


def evaluate(instance: dg.DagsterInstance):
    schedule = build_definitions().resolve_schedule_def("missing_or_stale_essays")
    # Resources given to the context, and the context used as a context manager, as the daemon
    # does: the context opens its own handle on the instance (Dagster makes it the current one)
    # and must close it, or a later test in this process finds a dead instance as the current
    # one. (Resources passed to the call instead make Dagster copy the context, never closed.)
    with dg.build_schedule_context(instance=instance, scheduled_execution_time=TICK,
                                   resources={"essay_settings": EssaySettings()}) as context:
        return schedule(context)


def test_schedule_requests_exactly_the_missing_essay_then_skips(llm_server, data_dir, monkeypatch):
    write_transcript(data_dir, "writtenvid1", seed=1)
    write_transcript(data_dir, "missingvid1", seed=2)
    assert run_chain(["writtenvid1"]).ok
    instance = dg.DagsterInstance.get()
    assert register_videos(instance, ["missingvid1"]) == ["missingvid1"]

    requests = evaluate(instance)
    assert [r.partition_key for r in requests] == ["missingvid1"]
    assert requests[0].run_key == f"missingvid1:r{PROMPT_REVISION}:2026-11-27"  # one per video, revision, day

    assert run_chain(["missingvid1"]).ok
    skipped = evaluate(instance)
    assert isinstance(skipped, dg.SkipReason)
    assert "All 2 essays are current" in skipped.skip_message
    assert llm_server.call_count == 2

    # an essay from another model is not current either
    monkeypatch.setenv("ESSAYS_MODEL", "openai/gpt-4o-mini")
    assert sorted(r.partition_key for r in evaluate(instance)) == ["missingvid1", "writtenvid1"]


def test_schedule_requests_essays_of_an_older_prompt_revision(llm_server, data_dir):
    write_transcript(data_dir, "currentvid1")
    assert run_chain(["currentvid1"]).ok
    instance = dg.DagsterInstance.get()
    register_videos(instance, ["oldrevvid01"])
    warehouse = warehouse_for(Settings.from_env())
    warehouse.write("essays", [{"video_id": "oldrevvid01", "prompt_revision": PROMPT_REVISION - 1,
                                "llm_model": MODEL, "created_at": utc_now(), "path": "old.md"}])

    assert [r.partition_key for r in evaluate(instance)] == ["oldrevvid01"]
    assert videos_needing_essays(warehouse, ["currentvid1", "oldrevvid01"], PROMPT_REVISION, MODEL) == ["oldrevvid01"]


@pytest.mark.slow  # three fresh processes (dagster + litellm imports)
def test_prompt_revision_bump_marks_stale_and_keeps_the_older_essay(llm_server, data_dir, tmp_path):
    write_transcript(data_dir, "revisedvid1", words=450)
    assert run_chain(["revisedvid1"]).ok
    essays = data_dir / "essays"
    first = PROMPT_REVISION
    assert parse_essay((essays / "revisions" / f"revisedvid1.r{first}.md").read_text())[0]["systemPromptRevision"] == first

    # A real next revision, served from ESSAYS_PROMPTS_DIR to fresh processes.
    prompts = tmp_path / "prompts"
    shutil.copytree(PROMPTS_DIR, prompts)
    second = first + 1
    (prompts / f"third_guest.r{second}.md").write_text(
        (PROMPTS_DIR / f"third_guest.r{first}.md").read_text() + "\n\nKeep every section under 200 words.\n")
    env = {**os.environ, "ESSAYS_PROMPTS_DIR": str(prompts)}

    scheduled = _run_python(["-c", _EVALUATE_SCHEDULE], env)
    assert json.loads(scheduled.stdout.strip().splitlines()[-1]) == {"revision": second, "requested": ["revisedvid1"]}
    warehouse = warehouse_for(Settings.from_env())
    assert videos_needing_essays(warehouse, ["revisedvid1"], second, MODEL) == ["revisedvid1"]

    _run_python(["-m", "essay_assets.cli", "run", "revisedvid1"], env)
    assert llm_server.call_count == 2  # a new prompt is a new request: answered, not reused

    old_fields, old_body = parse_essay((essays / "revisions" / f"revisedvid1.r{first}.md").read_text())
    new_fields, _ = parse_essay((essays / "revisions" / f"revisedvid1.r{second}.md").read_text())
    current_fields, _ = parse_essay((essays / "revisedvid1.md").read_text())
    assert old_fields["systemPromptRevision"] == first and old_body.startswith("# ")
    assert new_fields["systemPromptRevision"] == current_fields["systemPromptRevision"] == second

    rows = warehouse.query("SELECT prompt_revision, path FROM essays WHERE video_id = 'revisedvid1' ORDER BY 1")
    assert [(r["prompt_revision"], Path(r["path"]).relative_to(essays).as_posix()) for r in rows] == [
        (first, f"revisions/revisedvid1.r{first}.md"), (second, f"revisions/revisedvid1.r{second}.md")]
    current = warehouse.query('SELECT "systemPromptRevision" AS rev FROM essay_metadata')
    assert [r["rev"] for r in current] == [second]
    assert videos_needing_essays(warehouse, ["revisedvid1"], second, MODEL) == []


def _run_python(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{args} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    return done
