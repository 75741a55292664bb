"""The runner, under both isolation modes (a fresh process per point, a warm worker per
chain): raise / out-of-memory / hang / crash become statuses while the other points finish;
resume skips finished points; force redoes them; a warm worker runs several points, each with
its own peak memory, and any failure hands the next point a fresh worker."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from harness.run.runner import run_sweep
from harness.store import results
from harness.store.points import Point, point_id
from tests.limits import limit

pytestmark = pytest.mark.slow
MODES = pytest.mark.parametrize("isolation", ["chain", "point"])


def _point(task: str, timeout_s: float = limit(60.0), group: str | None = None, **extra) -> Point:
    return Point({"suite": "unit", "task": f"tests.fault_tasks:{task}", **extra}, timeout_s, stop_group=group)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie is dead for our purpose
        return f.read().split()[2] != "Z"


@MODES
def test_failures_become_statuses_and_the_sweep_goes_on(tmp_path, isolation):
    pid_file = tmp_path / "grandchild.pid"
    points = [
        _point("raise_error"), _point("exhaust_memory"),
        _point("hang", timeout_s=8.0, pid_file=str(pid_file)), _point("crash"), _point("succeed", value=3.0),
    ]
    rows = run_sweep(points, store=str(tmp_path), progress=False, isolation=isolation)
    assert [r["status"] for r in rows] == ["error", "oom", "timeout", "crashed", "ok"]
    assert "planted failure" in rows[0]["error"]
    assert "SIGSEGV" in rows[3]["error"]
    assert rows[4]["tokens_per_s"] == 3.0
    time.sleep(0.5)
    assert not _alive(int(pid_file.read_text())), "the hung point's grandchild survived the timeout"
    df = results.load(tmp_path)
    assert df.loc[df["status"] == "oom", "torch_version"].notna().all(), "failures must carry the environment"
    assert sorted(df["status"]) == sorted(["error", "oom", "timeout", "crashed", "ok"])


@MODES
def test_rerun_skips_done_points_retries_failed_and_force_redoes(tmp_path, isolation):
    points = [_point("succeed", value=1.0), _point("raise_error")]
    first = run_sweep(points, store=str(tmp_path), progress=False, isolation=isolation)
    path = results.record_path(tmp_path, "unit", point_id(points[0].config))
    written = results.read_record(path)["run_id"]
    second = run_sweep(points, store=str(tmp_path), progress=False, isolation=isolation)
    assert second[0]["note"].startswith("done before") and second[0]["run_id"] == written
    assert second[1]["status"] == "error" and second[1]["note"] == ""  # errors are retried
    third = run_sweep(points[:1], store=str(tmp_path), progress=False, force=True, isolation=isolation)
    assert third[0]["note"] == "" and results.read_record(path)["run_id"] != written
    assert first[0]["point_id"] == point_id(points[0].config)


def test_an_oom_beside_other_points_is_retried_an_oom_alone_is_not(tmp_path):
    alone, shared = _point("exhaust_memory"), _point("exhaust_memory", tag="shared")
    run_sweep([alone, shared], store=str(tmp_path), progress=False)
    path = results.record_path(tmp_path, "unit", point_id(shared.config))
    record = json.loads(path.read_text())
    record["env"]["gpu_shared_by"] = 3  # what a CUDA point records under launcher=local_gpus launcher.per_gpu=3
    path.write_text(json.dumps(record))
    rerun = run_sweep([alone, shared], store=str(tmp_path), progress=False)
    assert rerun[0]["note"].startswith("done before")  # out of memory on its own: a property of the point
    assert rerun[1]["status"] == "oom" and rerun[1]["note"] == ""  # the others' memory may have caused it


@MODES
def test_a_failure_stops_the_rest_of_its_group_only(tmp_path, isolation):
    points = [_point("succeed", group="a", value=1.0), _point("exhaust_memory", group="a"),
              _point("succeed", group="a", value=2.0), _point("succeed", group="b", value=4.0)]
    rows = run_sweep(points, store=str(tmp_path), progress=False, isolation=isolation)
    assert [r["status"] for r in rows] == ["ok", "oom", "not run", "ok"]
    assert len(results.load(tmp_path)) == 3  # nothing is recorded for a point that did not run


def test_a_warm_worker_runs_several_points_and_a_failure_gets_a_fresh_one(tmp_path):
    points = [_point("report_pid", value=i) for i in range(2)] + [_point("raise_error")] + \
             [_point("report_pid", value=3), _point("crash"), _point("report_pid", value=5),
              _point("hang", timeout_s=8.0, pid_file=str(tmp_path / "g.pid")), _point("report_pid", value=7)]
    rows = run_sweep(points, store=str(tmp_path), progress=False, isolation="chain")
    assert [r["status"] for r in rows] == ["ok", "ok", "error", "ok", "crashed", "ok", "timeout", "ok"]
    pids = [r["tokens_per_s"] for r in rows]
    assert pids[0] == pids[1], "the first two points share one warm worker"
    assert len({pids[0], pids[3], pids[5], pids[7]}) == 4, "after every failure the next point gets a fresh worker"
    df = results.load(tmp_path)
    assert set(df["isolation"]) == {"chain"}
    assert not _alive(int((tmp_path / "g.pid").read_text())), "the hung point's grandchild survived the timeout"


def test_each_point_of_a_warm_worker_reads_its_own_peak_memory(tmp_path):
    points = [_point("hold_memory", mb=256), _point("hold_memory", mb=16)]
    rows = run_sweep(points, store=str(tmp_path), progress=False, isolation="chain")
    assert rows[0]["tokens_per_s"] == rows[1]["tokens_per_s"], "one worker ran both"
    big, small = rows[0]["peak_rss_mb"], rows[1]["peak_rss_mb"]
    assert big - small > 200, f"the second point's peak ({small:.0f} MiB) carries the first's ({big:.0f} MiB)"


@MODES
def test_a_timeout_kills_what_left_the_process_group(tmp_path, isolation):
    pid_file = tmp_path / "escaped.pid"
    rows = run_sweep([_point("hang_with_escaped_grandchildren", timeout_s=8.0, pid_file=str(pid_file)),
                      _point("succeed", value=1.0)], store=str(tmp_path), progress=False, isolation=isolation)
    assert [r["status"] for r in rows] == ["timeout", "ok"]
    escaped = [int(pid_file.read_text()), int(Path(str(pid_file) + ".orphan").read_text())]
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in escaped) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(pid) for pid in escaped), "a process in its own session survived the timeout"
