"""The process tag of runs: who executes a run, and whether that process is gone."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import dagster as dg

from essay_assets.defs.resources import EssaySettings
from essay_assets.run_process import PROCESS_TAG, process_is_gone, process_tag


def test_this_process_is_named_and_not_gone():
    value = process_tag()[PROCESS_TAG]
    host, pid, ticks = value.rsplit(":", 2)
    assert (host, int(pid)) == (socket.gethostname(), os.getpid()) and ticks.isdigit()
    assert not process_is_gone(value)


def test_a_process_that_ended_is_gone():
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    assert process_is_gone(f"{socket.gethostname()}:{int(child.stdout)}:123")


def test_a_reused_pid_is_gone_and_what_cannot_be_judged_is_not():
    host, pid, ticks = process_tag()[PROCESS_TAG].rsplit(":", 2)
    assert process_is_gone(f"{host}:{pid}:{int(ticks) + 1}")  # same pid, started at another time
    assert not process_is_gone(f"another-host:{pid}:{int(ticks) + 1}")  # not ours to judge
    assert not process_is_gone("garbage")


def test_the_run_worker_tags_a_run_launched_without_the_tag(tmp_path, monkeypatch):
    """A run the UI, a schedule or a sensor launched names its worker when the settings resource is set up."""
    monkeypatch.setenv("ESSAYS_DATA_DIR", str(tmp_path))

    @dg.asset
    def needs_settings(essay_settings: EssaySettings) -> None:
        essay_settings.get()

    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize([needs_settings], resources={"essay_settings": EssaySettings()}, instance=instance)
        tags = instance.get_run_by_id(result.run_id).tags
    assert tags[PROCESS_TAG] == process_tag()[PROCESS_TAG]
