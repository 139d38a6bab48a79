"""Stopping the servers the tests start (dagster dev's processes, PostgreSQL): one way for all."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator


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


def process_group_cpu_s(pgids: set[int]) -> float:
    """CPU seconds (user + system) used so far by every process in these process groups, with
    the children each has already waited for (a run worker reaped by its code server, a
    PostgreSQL backend reaped by the postmaster). Linux /proc only; for benchmarks: diff two
    readings to get what a stretch of work cost the whole deployment."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = sum(sum(int(value) for value in fields[11:15])  # utime, stime, cutime, cstime
                for _, fields in _proc_stats() if int(fields[2]) in pgids)
    return total / ticks


def _proc_stats() -> Iterator[tuple[int, list[str]]]:
    """(pid, fields of /proc/<pid>/stat after the command name) for every living process. The
    command name may hold spaces, so the fields start after its closing bracket: state is
    fields[0], ppid fields[1], pgrp fields[2], utime fields[11]."""
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as handle:
                stat = handle.read().decode(errors="replace")
        except OSError:  # gone meanwhile
            continue
        yield int(entry.name), stat[stat.rindex(")") + 2:].split()


def descendant_process_groups(pid: int) -> set[int]:
    """Process groups of `pid`'s living descendants that are not `pid`'s own: a child started in a
    session of its own (`essays ui` starts dagster dev so) survives a kill of its parent's group."""
    parents: dict[int, list[tuple[int, int]]] = {}
    for child, fields in _proc_stats():
        parents.setdefault(int(fields[1]), []).append((child, int(fields[2])))
    groups, todo = set(), [pid]
    while todo:
        for child, group in parents.get(todo.pop(), []):
            groups.add(group)
            todo.append(child)
    return groups - {pid}
