"""Sweep points: the resolved config of one measurement and its identity.

A point's id is the sha256 of its canonical JSON (sorted keys, no whitespace) together with
the schema version, so the same resolved config always lands in the same record and a rerun
can skip it; changing any measured setting, or the schema, gives a new id.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from harness.store.schema import SCHEMA_VERSION


def point_id(config: dict) -> str:
    canonical = json.dumps({"schema_version": SCHEMA_VERSION, **config}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


@dataclass
class Point:
    config: dict  # JSON-serialisable; must contain "suite" and "task"
    timeout_s: float
    stop_group: str | None = None  # once a point of this group fails, later ones are not run
    label: str = ""  # short human description for progress and summaries
