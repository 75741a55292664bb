"""A point's whole process tree, including what left its process group (`setsid`, a daemon).

Killing a point's process group reaches everything it started, unless a descendant started a
session of its own. So each point's child process is made a child subreaper (Linux
`PR_SET_CHILD_SUBREAPER`, as `tini` and systemd use it): a descendant orphaned by its parent is
re-parented to the point's child, not to init, and stays in its tree. `descendants(pid)` reads
that tree from /proc; `kill_tree` kills the tree and the group, then waits for the root.
"""
from __future__ import annotations

import os
import signal
from pathlib import Path

PR_SET_CHILD_SUBREAPER = 36  # linux/prctl.h


def _parents() -> dict[int, int]:
    """pid -> parent pid of every process visible in /proc (empty off Linux)."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()  # the name in (...) may hold spaces
            parents[int(stat.parent.name)] = int(fields[1])
        except (OSError, ValueError, IndexError):
            continue  # it ended while we read
    return parents


def descendants(pid: int) -> list[int]:
    """Every live descendant of `pid`, nearest first."""
    children: dict[int, list[int]] = {}
    for child, parent in _parents().items():
        children.setdefault(parent, []).append(child)
    found, frontier = [], [pid]
    while frontier:
        frontier = [c for p in frontier for c in children.get(p, [])]
        found += frontier
    return found


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def kill_descendants(pid: int) -> None:
    """SIGKILL every descendant of `pid` (those outside its process group included), again
    until none is left, as a dying tree may still fork."""
    for _ in range(10):
        tree = descendants(pid)
        if not tree:
            return
        for child in tree:
            _kill(child)
