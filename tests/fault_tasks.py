"""Point tasks that misbehave on purpose, for the runner's isolation tests."""
from __future__ import annotations

import os
import signal
import subprocess
import time


def succeed(point: dict) -> dict:
    return {"tokens_per_s": float(point.get("value", 1.0))}


def raise_error(point: dict) -> dict:
    raise ValueError("planted failure")


def exhaust_memory(point: dict) -> dict:
    import torch

    torch.empty(1 << 50, dtype=torch.uint8)  # a petabyte: the allocator refuses
    return {}


def hang(point: dict) -> dict:
    # a grandchild in the same process group: the timeout must kill it too
    child = subprocess.Popen(["sleep", "1000"])
    with open(point["pid_file"], "w") as f:
        f.write(str(child.pid))
    time.sleep(1000)
    return {}


def crash(point: dict) -> dict:
    os.kill(os.getpid(), signal.SIGSEGV)
    return {}


def report_pid(point: dict) -> dict:
    """Which process ran the point (warm workers run several)."""
    return {"tokens_per_s": float(os.getpid())}


def hold_memory(point: dict) -> dict:
    """Touch `mb` MiB of host memory inside a MemoryTracker: the record's peak_rss."""
    import torch

    from harness.measure.trackers import MemoryTracker

    with MemoryTracker(torch.device("cpu")) as memory:
        block = bytearray(point["mb"] << 20)
        block[::4096] = b"\1" * len(block[::4096])  # every page resident
    return {"memory_mb": memory.result(), "tokens_per_s": float(os.getpid())}


def fail_if_flagged(point: dict) -> dict:
    """Succeeds until the file `flag` exists: a point that starts failing between two runs."""
    if os.path.exists(point["flag"]):
        raise ValueError("planted failure: flag file present")
    return {"tokens_per_s": float(point["value"])}


def sigkill_self(point: dict) -> dict:
    """Dies as the OOM killer's victims die: SIGKILL, no word."""
    os.kill(os.getpid(), signal.SIGKILL)
    return {}


def outgrow_cgroup(point: dict) -> dict:
    """Join the memory cgroup `cgroup_procs` (its cgroup.procs file) and touch memory until
    the kernel's OOM killer ends this process."""
    with open(point["cgroup_procs"], "w") as f:
        f.write(str(os.getpid()))
    blocks = []
    while True:
        block = bytearray(16 << 20)
        block[::4096] = b"\1" * len(block[::4096])
        blocks.append(block)


def hang_with_escaped_grandchildren(point: dict) -> dict:
    """Start two processes that leave this point's process group, then hang: one in a new
    session (setsid), one orphaned in a new session by a shell that exits at once."""
    direct = subprocess.Popen(["sleep", "1000"], start_new_session=True)
    orphan_file = point["pid_file"] + ".orphan"
    subprocess.run(["sh", "-c", f"setsid sleep 1000 & echo $! > {orphan_file}"], check=True)
    with open(point["pid_file"], "w") as f:
        f.write(str(direct.pid))
    time.sleep(1000)
    return {}
