"""Faults around a sweep, each checked on disk afterwards: the parent killed by SIGTERM or
SIGKILL mid-point leaves no orphan and keeps what finished; a dead parent's temp folders are
removed by the next run. (More of the fault table: tests/test_runner.py.)"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.measure.env import REPO_ROOT
from harness.run.isolation import clean_stale_temp_dirs
from harness.store import results

pytestmark = pytest.mark.slow
WAIT_S = 120.0  # generous: a loaded 2-core machine imports torch slowly; the tests poll, never sleep it out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split()[2] != "Z"


def _wait(condition, what: str, timeout_s: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _start(tmp_path: Path, isolation: str) -> tuple[subprocess.Popen, Path, Path]:
    store, pid_file, tmpdir = tmp_path / "store", tmp_path / "grandchild.pid", tmp_path / "tmp"
    tmpdir.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "tests.sweep_driver", str(store), isolation, str(pid_file)],
                            cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "TMPDIR": str(tmpdir)})
    _wait(lambda: pid_file.exists() and pid_file.read_text().strip(), "the hanging point to start")
    return proc, store, pid_file


@pytest.mark.parametrize("isolation", ["chain", "point"])
def test_sigterm_stops_the_running_point_keeps_finished_ones_and_exits_143(tmp_path, isolation):
    proc, store, pid_file = _start(tmp_path, isolation)
    grandchild = int(pid_file.read_text())
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=WAIT_S)
    assert proc.returncode == 128 + signal.SIGTERM, stderr
    assert "terminated by SIGTERM" in stderr and "Traceback" not in stderr
    _wait(lambda: not _alive(grandchild), "the running point's grandchild to die", 10.0)
    df = results.load(store)
    assert list(df["status"]) == ["ok"], "only the finished point is recorded; nothing half-done"


@pytest.mark.parametrize("isolation", ["chain", "point"])
def test_sigkill_of_the_parent_leaves_no_orphan_and_the_next_run_cleans_its_temp_folders(tmp_path, isolation):
    proc, store, pid_file = _start(tmp_path, isolation)
    grandchild = int(pid_file.read_text())
    proc.kill()
    proc.wait(timeout=WAIT_S)
    _wait(lambda: not _alive(grandchild), "the orphaned point to die with its parent", 10.0)
    leftovers = list((tmp_path / "tmp").glob("swarm-bench-*"))
    assert leftovers, "a SIGKILLed parent cannot clean up: its folders stay until the next run"
    assert sorted(clean_stale_temp_dirs(str(tmp_path / "tmp"))) == sorted(map(str, leftovers))
    assert not list((tmp_path / "tmp").glob("swarm-bench-*"))
    assert list(results.load(store)["status"]) == ["ok"]


def test_folders_of_a_live_parent_are_kept(tmp_path):
    mine = tmp_path / f"swarm-bench-worker-{os.getpid()}-abc"
    mine.mkdir()
    assert clean_stale_temp_dirs(str(tmp_path)) == [] and mine.exists()
