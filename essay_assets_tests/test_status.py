"""`essays status`: each video current, stale, failed or missing, by the schedule's own rule."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from essay_assets.cli.main import main
from essay_assets.cli.status import VideoStatus, render_statuses, video_statuses
from essay_assets.settings import LOCAL_MODEL, Settings
from essay_assets.storage.staleness import videos_needing_essays
from essay_assets.storage.warehouse import warehouse_for
from essay_assets.writing.prompts import load_prompts
from testkit import warehouse_rows as wr

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)
MODEL = "openai/gpt-4o"


def _failure(video_id: str, stage: str, reason: str, failed_at: datetime) -> dict:
    return {"failure_id": f"{video_id}-{reason}", "video_id": video_id, "stage": stage, "reason": reason,
            "message": "...", "run_id": "run-x", "failed_at": failed_at}


@pytest.fixture
def warehouse(data_dir: Path):
    warehouse = warehouse_for(Settings.from_env())
    parts = [
        wr.synthetic_video("current0001", created_at=NOW, model=MODEL, revision=2, cost_usd_per_call=0.01),
        # an older revision beside the current one does not make it stale
        wr.synthetic_video("current0001", created_at=NOW - timedelta(days=9), model=MODEL, revision=1),
        wr.synthetic_video("oldprompt01", created_at=NOW, model=MODEL, revision=1),
        wr.synthetic_video("othermodel1", created_at=NOW, model="openai/gpt-4o-mini", revision=2,
                           cost_usd_per_call=None),
        wr.synthetic_video("refailed001", created_at=NOW - timedelta(days=2), model=MODEL, revision=1),
        wr.synthetic_video("oldfailure1", created_at=NOW, model=MODEL, revision=2),
    ]
    for table, rows in wr.merge(parts).items():
        warehouse.write(table, rows)
    warehouse.write("failures", [
        _failure("refailed001", "llm_response", "budget_exceeded", NOW - timedelta(days=1)),  # after its essay
        _failure("neverworked", "transcript", "transcripts_disabled", NOW),  # no essay at all
        _failure("oldfailure1", "transcript", "request_blocked", NOW - timedelta(days=5)),  # fixed since
    ])
    return warehouse


VIDEOS = ["current0001", "oldprompt01", "othermodel1", "refailed001", "neverworked", "oldfailure1", "nothingyet1"]


def test_each_video_gets_its_state_and_why(warehouse):
    by_id = {s.video_id: s for s in video_statuses(warehouse, VIDEOS, revision=2, model=MODEL)}
    assert {v: s.state for v, s in by_id.items()} == {
        "current0001": "current", "oldprompt01": "stale", "othermodel1": "stale", "refailed001": "failed",
        "neverworked": "failed", "oldfailure1": "current", "nothingyet1": "missing"}
    assert by_id["current0001"].prompt_revision == 2 and by_id["current0001"].estimated_cost_cents == pytest.approx(2.0)
    assert by_id["oldprompt01"].why == "written with prompt r1, now r2"
    assert by_id["othermodel1"].why == "written with model openai/gpt-4o-mini, now openai/gpt-4o"
    assert by_id["othermodel1"].estimated_cost_cents is None
    assert by_id["refailed001"].why == "llm_response failed: budget_exceeded (2026-10-31 12:00 UTC)"
    assert by_id["refailed001"].prompt_revision == 1  # the essay it still has
    assert by_id["neverworked"].why.startswith("transcript failed: transcripts_disabled")
    assert by_id["current0001"].title == "Conversation current0001"


def test_everything_not_current_is_what_the_schedule_would_run(warehouse):
    for revision, model in ((2, MODEL), (1, MODEL), (2, "openai/gpt-4o-mini"), (3, LOCAL_MODEL)):
        not_current = [s.video_id for s in video_statuses(warehouse, VIDEOS, revision, model) if s.state != "current"]
        assert not_current == videos_needing_essays(warehouse, VIDEOS, revision, model)


def test_the_table_says_unknown_for_an_unknown_cost_and_tallies_states():
    text = render_statuses([
        VideoStatus("aaaaaaaaaaa", "current", "A talk", 2, MODEL, 1.25),
        VideoStatus("bbbbbbbbbbb", "stale", None, 1, "openai/gpt-4o-mini", None, why="written with prompt r1, now r2"),
        VideoStatus("ccccccccccc", "current", "Local", 2, LOCAL_MODEL, 0.0),
        VideoStatus("ddddddddddd", "missing"),
    ])
    lines = text.splitlines()
    assert lines[0].split() == ["video", "state", "rev", "model", "cost", "title", "/", "why"]
    assert lines[1].split() == ["aaaaaaaaaaa", "current", "r2", MODEL, "1.25¢", "A", "talk"]
    assert "unknown" in lines[2] and "0¢" not in lines[2]
    assert lines[3].split()[4] == "0¢"  # the embedded model's true zero
    assert lines[4].split() == ["ddddddddddd", "missing"]
    assert lines[-1] == "4 video(s): 2 current, 1 stale, 0 failed, 1 missing"


def test_essays_status_lists_registered_and_remembered_videos(warehouse, capsys, monkeypatch):
    monkeypatch.setenv("ESSAYS_MODEL", MODEL)
    assert main(["add", "nothingyet1", "https://youtu.be/current0001"]) == 0
    capsys.readouterr()
    assert main(["status"]) == 0
    out = capsys.readouterr().out.splitlines()
    revision = load_prompts().revision
    assert out[0] == f"Current: prompt r{revision}, model {MODEL}"
    listed = [line.split()[0] for line in out[2:-1]]
    # registered partitions first, in their order; then what only the warehouse remembers
    assert listed == ["nothingyet1", "current0001", "neverworked", "oldfailure1", "oldprompt01", "othermodel1",
                      "refailed001"]
    assert out[-1].startswith("7 video(s): ")

    assert main(["status", "https://www.youtube.com/watch?v=oldprompt01"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in out[2:-1]] == [["oldprompt01", "stale" if revision != 1 else "current"]]


def test_essays_status_refuses_a_bad_reference(data_dir, capsys):
    assert main(["status", "not a video"]) == 2
    assert "not a video" in capsys.readouterr().err
