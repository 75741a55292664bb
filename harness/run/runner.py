"""Run a sweep: every point in its own process, failures as data, resume, progress, summary.

Rules:
- a point whose record exists with status `ok` or `oom` (deterministic outcomes) is skipped
  unless `force`; `error`, `timeout` and `crashed` points are tried again on a rerun, and so is
  an `oom` that happened while other points shared the GPU (env.gpu_shared_by > 1: their memory
  may have been the cause, so it says nothing about the point);
- a failed point never stops the sweep; within a `stop_group` (e.g. one model's growing
  sequence lengths) the points after a failure are not run, as they could only fail slower;
  a repeat (config `repeat` >= 1: the same point in another process) whose first process
  (the config without `repeat`) failed is not run either;
- every record is written atomically as soon as its point ends, so an interrupted sweep
  keeps all finished points.

A stop group is therefore a chain that runs in order; the launchers (harness.run.launchers) run
whole chains in parallel, one GPU or one cluster job each, with these same rules.
"""
from __future__ import annotations

import secrets
import sys
from datetime import datetime, timezone
from typing import Callable

from tqdm import tqdm

from harness.measure.env import code_version
from harness.run.isolation import Isolation, WarmWorker
from harness.store import results
from harness.store.points import Point, point_id
from harness.store.schema import DONE_STATUSES, NOT_RUN


def new_run_id() -> str:
    """UTC time, short git sha and a random part: two sweeps started in the same second differ."""
    sha = (code_version().get("git_sha") or "nogit")[:8]
    return f"{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%SZ')}-{sha}-{secrets.token_hex(3)}"


def _oom_beside_others(record: dict) -> bool:
    """An out-of-memory record from a GPU other points were sharing: not a property of the point."""
    return record.get("status") == "oom" and int((record.get("env") or {}).get("gpu_shared_by") or 1) > 1


class ChainRunner:
    """Runs points in order, skipping finished ones and the rest of a stop group after a failure."""

    def __init__(self, store: str, run_id: str, force: bool = False, env: dict | None = None,
                 isolation: str = "chain", worker: WarmWorker | None = None, profile: bool = False):
        self.store, self.run_id, self.force, self.env, self.profile = store, run_id, force, env, profile
        self.failed_groups: set[str] = set()
        self.isolation = Isolation(isolation, env, worker)

    def close(self) -> None:
        """End the warm worker, if any."""
        self.isolation.close()

    def skip(self, point: Point, dry: bool = False) -> dict | None:
        """The summary row of a point that will not run (done before, or a shorter point of its
        stop group failed); None when it must run. An unreadable record of the point is kept
        aside as `<id>.json.unreadable` and the point counts as not done; with `force`, the
        record of a point skipped after a failure in its group is kept aside as
        `<id>.json.stale` (neither happens under `dry`)."""
        pid = point_id(point.config)
        path = results.record_path(self.store, point.config["suite"], pid)
        if point.stop_group in self.failed_groups:
            if self.force and not dry and path.exists():  # an old ok past a new failure would show a false feasible length
                stale = path.with_name(path.name + ".stale")
                path.rename(stale)
                print(f"warning: {path} kept as {stale.name}: with force=true a shorter point of its group failed, "
                      "so its old result no longer stands", file=sys.stderr)
            return {**point.config, "point_id": pid, "status": NOT_RUN, "note": "a shorter point of this group failed"}
        first = self._first_process_failed(point)
        if first:
            return {**point.config, "point_id": pid, "status": NOT_RUN, "note": f"its first process ended {first}"}
        existing, problem = results.inspect_record(path) if path.exists() or path.is_symlink() else (None, None)
        if problem and dry:
            return None
        if problem:
            kept = path.with_name(path.name + ".unreadable")
            path.rename(kept)
            print(f"warning: {path} {problem}; kept as {kept.name}, the point runs again", file=sys.stderr)
        if existing and existing.get("status") in DONE_STATUSES and not self.force and not _oom_beside_others(existing):
            if existing["status"] != "ok" and point.stop_group:
                self.failed_groups.add(point.stop_group)
            return {**results.flatten(existing), "note": "done before (force=true to redo)"}
        return None

    def _first_process_failed(self, point: Point) -> str | None:
        """The status of the first process of a repeated point when that one failed, else None."""
        if not point.config.get("repeat"):
            return None
        first = {k: v for k, v in point.config.items() if k != "repeat"}
        path = results.record_path(self.store, first["suite"], point_id(first))
        record, problem = results.inspect_record(path) if path.exists() else (None, None)
        status = (record or {}).get("status")
        return status if status and status != "ok" and not problem else None

    def run(self, point: Point, before: Callable[[Point], None] = lambda p: None) -> dict:
        """One point: its summary row (record fields + a `note`)."""
        skipped = self.skip(point)
        if skipped is not None:
            return skipped
        before(point)
        # out of band, beside the point's identity: where its record goes (a task may keep files
        # beside it, e.g. a quality checkpoint) and, with profile, where its trace goes
        path = results.record_path(self.store, point.config["suite"], point_id(point.config))
        request = {**point.config, "record_path": str(path.resolve())}
        if self.profile:
            request["profile_trace"] = str(path.with_name(f"{path.stem}.trace.json.gz"))
        outcome = self.isolation.run(request, point.timeout_s)
        record_file = results.write_record(self.store, point_id(point.config), self.run_id, point.config, outcome)
        if outcome["status"] != "ok" and point.stop_group:
            self.failed_groups.add(point.stop_group)
        return {**results.flatten(results.read_record(record_file)), "note": ""}


def plan(points: list[Point], store: str, force: bool = False) -> list[str]:
    """What a sweep would do with each point, without running any: "to run", or the note of
    a skipped one ("done before ...", "a shorter point of this group failed")."""
    runner = ChainRunner(store, run_id="plan", force=force)
    return ["to run" if (row := runner.skip(point, dry=True)) is None else row["note"] for point in points]


def chains(points: list[Point]) -> list[list[Point]]:
    """Points grouped into chains: each stop group in order, every ungrouped point alone;
    chains ordered by their first point."""
    grouped: dict[str, list[Point]] = {}
    out: list[list[Point]] = []
    for point in points:
        if point.stop_group is None:
            out.append([point])
        elif point.stop_group in grouped:
            grouped[point.stop_group].append(point)
        else:
            grouped[point.stop_group] = [point]
            out.append(grouped[point.stop_group])
    return out


def run_sweep(points: list[Point], store: str, force: bool = False, progress: bool = True,
              run_id: str | None = None, isolation: str = "chain", worker: WarmWorker | None = None,
              profile: bool = False) -> list[dict]:
    """Run `points` one after another here (other launchers: harness.run.launchers) under
    `isolation` (harness.run.isolation), the first of them in `worker` if given (one from
    isolation.start_early); with `profile`, each point that runs also writes a torch.profiler trace
    beside its record (tasks that support it: harness.measure.profiling); returns one summary
    row per point, in order."""
    runner = ChainRunner(store, run_id or new_run_id(), force, isolation=isolation, worker=worker, profile=profile)
    bar = tqdm(total=len(points), unit="point", disable=not progress, file=sys.stderr, dynamic_ncols=True)
    rows = []
    try:
        for point in points:
            rows.append(runner.run(point, before=lambda p: bar.set_postfix_str(p.label, refresh=True)))
            bar.update(1)
    finally:
        bar.close()
        runner.close()
    return rows
