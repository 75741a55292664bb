"""A point the kernel's OOM killer ends is recorded `oom` with that reason (harness.run.oom),
not `crashed`, under both isolations; a SIGKILL from anyone else stays `crashed`. One test
makes the kernel do it for real, in a memory cgroup of 64 MiB, where cgroups can be created."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.run import oom
from harness.run.runner import run_sweep
from harness.store import results
from harness.store.points import Point
from tests.limits import limit

pytestmark = pytest.mark.slow
MODES = pytest.mark.parametrize("isolation", ["chain", "point"])


def _point(task: str, **extra) -> Point:
    return Point({"suite": "unit", "task": f"tests.fault_tasks:{task}", **extra}, limit(120.0))


class _RisingCounter:
    """oom.counters() as the kernel would show them: `rise` kills counted during each point."""

    def __init__(self, rise: int):
        self.value, self.rise, self.calls = 7, rise, 0

    def __call__(self) -> dict[str, int]:
        self.calls += 1
        if self.calls % 2 == 0:  # the read after a death: the kill was counted meanwhile
            self.value += self.rise
        return {"/proc/vmstat": self.value}


@MODES
def test_a_sigkill_while_the_oom_counter_rose_is_oom_and_not_retried(tmp_path, isolation, monkeypatch):
    monkeypatch.setattr(oom, "counters", _RisingCounter(rise=1))
    points = [_point("sigkill_self"), _point("succeed", value=2.0)]
    rows = run_sweep(points, store=str(tmp_path), progress=False, isolation=isolation)
    assert [r["status"] for r in rows] == ["oom", "ok"]
    assert "OOM killer" in rows[0]["error"] and "/proc/vmstat oom_kill 7 -> 8" in rows[0]["error"]
    again = run_sweep(points, store=str(tmp_path), progress=False, isolation=isolation)
    assert again[0]["note"].startswith("done before")  # oom is a deterministic outcome: not retried


@MODES
def test_a_sigkill_without_an_oom_kill_stays_crashed(tmp_path, isolation, monkeypatch):
    monkeypatch.setattr(oom, "counters", _RisingCounter(rise=0))
    rows = run_sweep([_point("sigkill_self")], store=str(tmp_path), progress=False, isolation=isolation)
    assert rows[0]["status"] == "crashed" and "SIGKILL" in rows[0]["error"]


def test_the_reason_needs_sigkill():
    assert oom.oom_kill_reason({"/proc/vmstat": -1}, returncode=-11) is None
    assert oom.oom_kill_reason({"/proc/vmstat": -1}, returncode=1) is None


def _memory_cgroup() -> tuple[Path, str, str] | None:
    """(our memory cgroup dir, the limit file, the limit) where a child cgroup can be made."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, rel = line.split(":", 2)
        if "memory" in controllers.split(","):
            base = oom.CGROUP_ROOT / "memory" / rel.lstrip("/")
            if (base / "memory.limit_in_bytes").exists():
                return base, "memory.limit_in_bytes", str(64 << 20)
        subtree = oom.CGROUP_ROOT / rel.lstrip("/") / "cgroup.subtree_control"
        if controllers == "" and subtree.exists() and "memory" in subtree.read_text().split():
            return subtree.parent, "memory.max", str(64 << 20)
    return None


@pytest.fixture
def small_cgroup():
    found = _memory_cgroup()
    if found is None:
        pytest.skip("no memory cgroup controller here")
    base, limit_file, limit = found
    group = base / f"swarm-bench-test-{os.getpid()}"
    try:
        group.mkdir()
        (group / limit_file).write_text(limit)
        if limit_file == "memory.max" and (group / "memory.swap.max").exists():
            (group / "memory.swap.max").write_text("0")
    except OSError as exc:
        pytest.skip(f"cannot make a memory cgroup here: {exc}")
    yield group
    try:
        group.rmdir()
    except OSError:
        pass


@MODES
def test_the_kernels_oom_killer_is_recorded_as_oom(tmp_path, isolation, small_cgroup):
    if "/proc/vmstat" not in oom.counters():
        pytest.skip("this kernel does not count OOM kills")
    rows = run_sweep([_point("outgrow_cgroup", cgroup_procs=str(small_cgroup / "cgroup.procs"))],
                     store=str(tmp_path), progress=False, isolation=isolation)
    assert rows[0]["status"] == "oom", rows[0].get("error")
    assert "OOM killer" in rows[0]["error"]
    (record,) = [r for _, r in results.iter_records(tmp_path)]
    assert record["status"] == "oom"
