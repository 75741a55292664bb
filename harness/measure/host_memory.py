"""The host-memory peak of this process, per point: Linux's VmHWM, which can be reset (unlike
getrusage's ru_maxrss), so a warm worker's points each read their own peak. No torch, so the
worker can reset it before importing anything heavy."""
from __future__ import annotations

import re
import resource
from pathlib import Path


def host_peak_mb() -> float:
    """Peak resident host memory of this process (VmHWM, which `reset_host_peak` can reset;
    ru_maxrss, a lifetime peak, where /proc is missing)."""
    try:
        status = Path("/proc/self/status").read_text()
        return int(re.search(r"VmHWM:\s+(\d+)", status).group(1)) / 1024  # kB
    except (OSError, AttributeError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def reset_host_peak() -> bool:
    """Reset VmHWM to the current resident size (Linux: `5` into /proc/self/clear_refs)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False
