"""Parameter counts remembered across processes, so a sweep's start does not rebuild models.

A count is a pure function of the model's name, its config and the code that builds it. The
file `$XDG_CACHE_HOME/swarm-bench/param_counts.json` (default `~/.cache/...`) holds the counts
of one code fingerprint (the bytes of every `models/**/*.py`, the versions of torch and
transformers), keyed by name, config and kind: editing any model file or upgrading either
package forgets every count, and the file never grows past one version's counts. What it saves: the first build on PyTorch's meta device imports
`torch._dynamo` (several meta initialisers live in `torch._refs`; about 2.5 s) and the first
Transformer imports transformers' Llama (about 3 s), both in the parent of a sweep, before any
point can start. An unreadable file is ignored and rewritten.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Callable

MODELS_DIR = Path(__file__).resolve().parent
FILE_NAME = "param_counts.json"


def cache_file() -> Path:
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return root / "swarm-bench" / FILE_NAME


@functools.cache
def code_fingerprint() -> str:
    digest = hashlib.sha256()
    for path in sorted(MODELS_DIR.rglob("*.py")):
        digest.update(path.relative_to(MODELS_DIR).as_posix().encode())
        digest.update(path.read_bytes())
    for package in ("torch", "transformers"):
        try:
            digest.update(f"{package}=={metadata.version(package)}".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"{package} absent".encode())
    return digest.hexdigest()[:16]


def _key(name: str, config: dict, active: bool) -> str:
    text = json.dumps([name, config, active], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _read(path: Path) -> dict:
    """The counts of this code's fingerprint ({} when the file is absent, damaged or older)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("fingerprint") != code_fingerprint():
        return {}
    counts = data.get("counts")
    return counts if isinstance(counts, dict) else {}


def _write(path: Path, data: dict) -> None:
    """Atomically; a cache that cannot be written (read-only home, full disk) is skipped."""
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(fd, "w") as f:
            json.dump(data, f)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


def remembered(name: str, config: dict, active: bool, count: Callable[[], int]) -> int:
    """The count for (name, config, active): from the file, else `count()` (then stored)."""
    path = cache_file()
    key = _key(name, config, active)
    data = _read(path)
    value = data.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    value = count()
    counts = {**_read(path), key: value}  # re-read: a concurrent sweep may have added counts
    _write(path, {"fingerprint": code_fingerprint(), "counts": counts})
    return value
