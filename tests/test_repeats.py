"""Repeats are other processes: `with_repeats` keeps the first round's point ids, a warm worker
serves one repeat index only, a repeat whose first process failed is not run, and the gate picks
the baseline of the candidate's GPU from a directory of several."""
from __future__ import annotations

import pytest

from harness.analysis import compare
from harness.run.runner import run_sweep
from harness.store.points import Point, point_id
from suites.common import with_repeats
from tests.limits import limit


def _point(task: str, group: str | None = "g", **extra) -> Point:
    return Point({"suite": "unit", "task": f"tests.fault_tasks:{task}", **extra}, limit(60.0), stop_group=group,
                 label=task)


def test_with_repeats_appends_rounds_and_keeps_the_first_rounds_ids():
    first = [_point("succeed", value=1.0), _point("succeed", value=2.0)]
    points = with_repeats(first, 3)
    assert len(points) == 6 and points[:2] == first
    assert [p.config.get("repeat") for p in points] == [None, None, 1, 1, 2, 2]
    assert [p.stop_group for p in points] == ["g", "g", "g#1", "g#1", "g#2", "g#2"]
    assert point_id(points[0].config) != point_id(points[2].config)
    assert with_repeats(first, None) == first and with_repeats(first, 1) == first


@pytest.mark.slow
def test_each_repeat_runs_in_another_process(tmp_path):
    points = with_repeats([_point("report_pid", value=i) for i in range(2)], 3)
    rows = run_sweep(points, store=str(tmp_path), progress=False, isolation="chain")
    pids = [r["tokens_per_s"] for r in rows]
    assert [r["status"] for r in rows] == ["ok"] * 6
    assert pids[0] == pids[1] and pids[2] == pids[3] and pids[4] == pids[5], "a round shares its warm worker"
    assert len({pids[0], pids[2], pids[4]}) == 3, "each repeat index gets its own process"


@pytest.mark.slow
def test_a_repeat_of_a_failed_first_process_is_not_run(tmp_path):
    points = with_repeats([_point("raise_error", group=None), _point("succeed", value=1.0, group=None)], 2)
    rows = run_sweep(points, store=str(tmp_path), progress=False, isolation="chain")
    assert [r["status"] for r in rows] == ["error", "ok", "not run", "ok"]
    assert rows[2]["note"] == "its first process ended error"


def _record(gpu: str | None, run: str, status: str = "ok") -> dict:
    env = {"gpu_name": gpu, "packages": {"torch": "2"}} if gpu else None
    return {"run_id": run, "status": status, "env": env, "config": {"suite": "regression", "dtype": "bf16"}}


def test_the_gate_narrows_a_baseline_of_several_gpus_to_the_candidates():
    baseline = [_record("H100", "a"), _record("H100", "a"), _record(None, "a", "oom"), _record("H200", "b"),
                _record(None, "b", "oom")]
    kept = compare.on_candidate_device(baseline, [_record("H200", "c")])
    assert [(r["run_id"], r["status"]) for r in kept] == [("b", "ok"), ("b", "oom")]
    assert compare.on_candidate_device(baseline[:3], [_record("H200", "c")]) == baseline[:3]  # one GPU: untouched
    other_suite = {**_record("H200", "b"), "config": {"suite": "scaling", "dtype": "bf16"}}
    assert other_suite not in compare.on_candidate_device(baseline + [other_suite], [_record("H200", "c")])
