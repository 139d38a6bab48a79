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


def process_group_cpu_s(pgids: set[int]) -> float:
    """CPU seconds (user + system) used so far by every process in these process groups, with
    the children each has already waited for (a run worker reaped by its code server, a
    PostgreSQL backend reaped by the postmaster). Linux /proc only; for benchmarks: diff two
    readings to get what a stretch of work cost the whole deployment."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as handle:
                stat = handle.read().decode(errors="replace")
        except OSError:  # gone meanwhile
            continue
        # Fields after the command name (which may hold spaces): state is field 3, pgrp 5, utime 14.
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[2]) in pgids:
            total += sum(int(value) for value in fields[11:15])  # utime, stime, cutime, cstime
    return total / ticks


def descendant_process_groups(pid: int) -> set[int]:
    """Process groups of `pid`'s living descendants that are not `pid`'s own: a child started in a
    session of its own (`essays ui` starts dagster dev so) survives a kill of its parent's group."""
    parents: dict[int, list[tuple[int, int]]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as handle:
                stat = handle.read().decode(errors="replace")
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        parents.setdefault(int(fields[1]), []).append((int(entry.name), int(fields[2])))
    groups, todo = set(), [pid]
    while todo:
        for child, group in parents.get(todo.pop(), []):
            groups.add(group)
            todo.append(child)
    return groups - {pid}
