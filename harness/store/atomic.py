"""Atomic JSON writes: a temp file in the same directory, fsync, rename over the target, then
fsync the directory so the rename itself survives a power loss.

A reader sees the old file or the new one, never half of one, even if the writer is killed.
Records are readable by group and others (0644, as `open` would make them under a usual
umask; mkstemp's 0600 would hide them from a dashboard or teammate running as another user).
"""
from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path


def _finite(obj):
    """NaN/inf are not JSON; store them as null."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


RECORD_MODE = 0o644


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # a platform without directory fds: the rename is as durable as it gets
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_json_atomic(path: str | os.PathLike, obj) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(_finite(obj), f, indent=1, sort_keys=True, default=str)
            f.flush()
            os.fchmod(f.fileno(), RECORD_MODE)
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_directory(path.parent)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
