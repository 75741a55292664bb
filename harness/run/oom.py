"""Did the kernel's OOM killer end a child? Linux counts its kills; a point's status reads them.

A process the OOM killer ends dies of SIGKILL without a word, like one killed by hand. Linux
counts the OOM killer's kills: `oom_kill` in /proc/vmstat for the whole machine (4.13+) and in
the memory cgroup this process runs in (v2 `memory.events`, v1 `memory.oom_control`). A child
that died of SIGKILL while one of those counters rose is recorded `oom`, with the counter as
its reason; any other death stays `crashed`. (Another process of the same machine or cgroup
killed by the OOM killer at the same moment would be taken for ours: the reason names the
counter, so a reader can judge.)
"""
from __future__ import annotations

import signal
from pathlib import Path

VMSTAT = Path("/proc/vmstat")
CGROUP_ROOT = Path("/sys/fs/cgroup")


def _read_counter(path: Path, key: str = "oom_kill") -> int | None:
    try:
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key and value.strip().isdigit():
                return int(value)
    except OSError:
        pass
    return None


def _cgroup_files() -> list[Path]:
    """This process's memory cgroup counter files (v2 and v1), where they exist."""
    files = []
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return files
    for line in lines:
        _, controllers, path = line.split(":", 2)
        rel = path.lstrip("/")
        if controllers == "":  # v2 unified hierarchy
            files.append(CGROUP_ROOT / rel / "memory.events")
        elif "memory" in controllers.split(","):
            files.append(CGROUP_ROOT / "memory" / rel / "memory.oom_control")
    return [f for f in files if f.exists()]


def counters() -> dict[str, int]:
    """Every readable OOM-kill counter now, by file."""
    found = {str(VMSTAT): _read_counter(VMSTAT)}
    found.update({str(f): _read_counter(f) for f in _cgroup_files()})
    return {k: v for k, v in found.items() if v is not None}


def oom_kill_reason(before: dict[str, int], returncode: int | None) -> str | None:
    """Why a child that ended with `returncode` counts as OOM-killed (counters read `before`
    it ran, compared with now), or None."""
    if returncode != -signal.SIGKILL:
        return None
    after = counters()
    rose = [f"{name} oom_kill {before[name]} -> {after[name]}" for name in before
            if name in after and after[name] > before[name]]
    if not rose:
        return None
    return "killed by the kernel's OOM killer (SIGKILL while " + "; ".join(rose) + ")"
