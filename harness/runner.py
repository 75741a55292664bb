"""Run a sweep: every point in its own process, failures as data, resume, progress, summary.

Rules (shared/DESIGN.md "Measuring"):
- a point whose record exists with status `ok` or `oom` (deterministic outcomes) is skipped
  unless `force`; `error`, `timeout` and `crashed` points are tried again on a rerun;
- a failed point never stops the sweep; within a `stop_group` (e.g. one model's growing
  sequence lengths) the points after a failure are not run, as they could only fail slower;
- every record is written atomically as soon as its point ends, so an interrupted sweep
  keeps all finished points.
"""
from __future__ import annotations

import sys
from datetime import datetime, timezone

from tqdm import tqdm

from harness import results
from harness.env import code_version
from harness.isolation import run_isolated
from harness.points import Point, point_id

DONE_STATUSES = ("ok", "oom")


def new_run_id() -> str:
    sha = (code_version().get("git_sha") or "nogit")[:8]
    return f"{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%SZ')}-{sha}"


def run_sweep(points: list[Point], store: str, force: bool = False, progress: bool = True) -> list[dict]:
    """Run `points`; returns one summary row per point (record fields + a `note`)."""
    run_id = new_run_id()
    failed_groups: set[str] = set()
    rows = []
    bar = tqdm(total=len(points), unit="point", disable=not progress, file=sys.stderr, dynamic_ncols=True)
    try:
        for point in points:
            pid = point_id(point.config)
            path = results.record_path(store, point.config["suite"], pid)
            existing = results.read_record(path)
            if point.stop_group in failed_groups:
                rows.append({**point.config, "point_id": pid, "status": "not run",
                             "note": "a shorter point of this group failed"})
            elif existing and existing.get("status") in DONE_STATUSES and not force:
                rows.append({**results.flatten(existing), "note": "done before (force=true to redo)"})
                if existing["status"] != "ok" and point.stop_group:
                    failed_groups.add(point.stop_group)
            else:
                bar.set_postfix_str(point.label, refresh=True)
                outcome = run_isolated(point.config, point.timeout_s)
                record_file = results.write_record(store, pid, run_id, point.config, outcome)
                rows.append({**results.flatten(results.read_record(record_file)), "note": ""})
                if outcome["status"] != "ok" and point.stop_group:
                    failed_groups.add(point.stop_group)
            bar.update(1)
    finally:
        bar.close()
    return rows
