"""A sweep of fault_tasks points run as its own process, the way run.py runs one (same exit
codes and signal handling), for the parent-death tests:

    python -m tests.sweep_driver STORE ISOLATION PID_FILE
"""
from __future__ import annotations

import sys

from harness.run.cli import guarded
from harness.run.runner import run_sweep
from harness.store.points import Point


def points(pid_file: str) -> list[Point]:
    task = "tests.fault_tasks:"
    return [Point({"suite": "unit", "task": task + "succeed", "value": 1.0}, 60.0),
            Point({"suite": "unit", "task": task + "hang", "pid_file": pid_file}, 600.0),
            Point({"suite": "unit", "task": task + "succeed", "value": 2.0}, 60.0)]


if __name__ == "__main__":
    store, isolation, pid_file = sys.argv[1:4]
    sys.exit(guarded(lambda: run_sweep(points(pid_file), store=store, progress=False, isolation=isolation) and 0))
