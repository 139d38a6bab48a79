"""Stopping the servers the tests start (dagster dev's processes, PostgreSQL): one way for all."""

from __future__ import annotations

import os
import signal
import subprocess


def stop_process_group(proc: subprocess.Popen, first_signal: int, timeout_s: float) -> None:
    """Send `first_signal` to proc's process group and wait for the leader; SIGKILL the group if
    it outlives `timeout_s`. A group already gone is fine."""
    if proc.poll() is not None:
        return
    for sig in (first_signal, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=timeout_s)
            return
        except subprocess.TimeoutExpired:
            continue
