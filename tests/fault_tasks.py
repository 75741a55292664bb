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
