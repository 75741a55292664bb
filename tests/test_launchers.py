"""Launchers: the per-GPU scheduler (fake GPU list), GPU pinning and stop groups under it,
and the submitit launcher through its local executor, end to end."""
from __future__ import annotations

import threading
import time

import pytest

from harness.errors import UserError
from harness.run import launchers
from harness.store import results
from harness.store.points import Point
from tests.test_cli import run_cli


def point(i: int, group: str | None = None) -> Point:
    config = {"suite": "fake", "task": "x:y", "model": "m", "mode": "forward", "seq_len": i, "device": "cuda"}
    return Point(config, 60.0, stop_group=group, label=f"p{i}")


def test_schedule_runs_each_chain_on_one_slot_and_never_two_points_on_a_slot():
    work = [[point(0, "a"), point(1, "a"), point(2, "a")], [point(3)], [point(4, "b"), point(5, "b")], [point(6)],
            [point(7)]]
    log, lock, running = [], threading.Lock(), {"now": 0, "max": 0}

    def run_chain(slot, chain):
        rows = []
        for p in chain:
            with lock:
                running["now"] += 1
                running["max"] = max(running["max"], running["now"])
            start = time.perf_counter()
            time.sleep(0.02)
            with lock:
                running["now"] -= 1
                log.append((slot, p.config["seq_len"], start, time.perf_counter()))
            rows.append({"seq_len": p.config["seq_len"]})
        return rows

    done = launchers.schedule(work, ["gpu0", "gpu1"], run_chain)
    assert sorted(r["seq_len"] for rows in done.values() for r in rows) == list(range(8))
    assert running["max"] == 2  # both GPUs busy at once
    for slot in ("gpu0", "gpu1"):
        spans = sorted((s, e) for g, _, s, e in log if g == slot)
        assert all(a_end <= b_start for (_, a_end), (b_start, _) in zip(spans, spans[1:]))  # one point at a time
    for chain in work:
        slots = {g for g, i, _, _ in log if i in [p.config["seq_len"] for p in chain]}
        assert len(slots) == 1  # a stop group stays on one GPU, in order
    order = [i for _, i, _, _ in sorted(log, key=lambda x: x[2])]
    assert order.index(0) < order.index(1) < order.index(2)


def test_local_gpus_pins_points_and_keeps_stop_groups(monkeypatch, tmp_path):
    seen = []

    def fake_isolated(config, timeout_s, env=None):
        seen.append((config["seq_len"], env["CUDA_VISIBLE_DEVICES"], env["CUDA_DEVICE_ORDER"]))
        status = "oom" if config["seq_len"] == 1 else "ok"
        return {"status": status, "error": None, "payload": {"latency_ms": {"median": 1.0}}, "overhead_s": {},
                "wall_s": 0.1}

    monkeypatch.setattr("harness.run.isolation.run_isolated", fake_isolated)
    points = [point(0, "a"), point(1, "a"), point(2, "a"), point(3), point(4)]
    rows = launchers.run_local_gpus(launchers.LocalGpusConfig(gpus=[3, 5]), points, str(tmp_path), "run", False, False,
                                    isolation="point")
    assert [r["status"] for r in rows] == ["ok", "oom", "not run", "ok", "ok"]
    assert {gpu for _, gpu, _ in seen} <= {"3", "5"} and {o for _, _, o in seen} == {"PCI_BUS_ID"}
    assert 2 not in [i for i, _, _ in seen]
    assert len(results.load(tmp_path)) == 4  # one store, every run point recorded
    with pytest.raises(UserError, match="needs device=cuda"):
        cpu = Point({**point(9).config, "device": "cpu"}, 60.0)
        launchers.run_local_gpus(launchers.LocalGpusConfig(gpus=[0]), [cpu], str(tmp_path), "run", False, False)


def test_visible_gpus_follows_cuda_visible_devices(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,0")
    assert launchers.visible_gpus() == [2, 0]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-1234")
    with pytest.raises(UserError, match="numeric"):
        launchers.visible_gpus()


def test_submitit_local_executor_runs_the_sweep_into_one_store(tmp_path):
    args = ["suite=smoke", "model=mamba", "suite.seq_lens=[16,32]", "suite.modes=[forward]", "launcher=slurm",
            "launcher.cluster=local", f"results_dir={tmp_path}", "progress=false"]
    out = run_cli(*args, timeout=300)
    assert out.returncode == 0, out.stderr
    df = results.load(tmp_path)
    assert len(df) == 2 and (df["status"] == "ok").all()
    assert list((tmp_path / ".submitit").iterdir())  # the jobs' logs
    assert "one at a time on this machine" in out.stderr
    again = run_cli(*args, timeout=300)
    assert again.returncode == 0 and again.stdout.count("done before") == 2


def test_slurm_without_a_partition_is_a_one_line_error():
    out = run_cli("suite=smoke", "launcher=slurm", "dry_run=false", "suite.seq_lens=[16]", "model=mamba",
                  "suite.modes=[forward]")
    assert out.returncode == 2 and "launcher.partition" in out.stderr


class _FakeExecutor:
    """submitit's AutoExecutor as a log of what was submitted and awaited, in order."""
    log: list[str] = []

    def __init__(self, folder, cluster):
        self.cluster = cluster

    def update_parameters(self, **params):
        pass

    def batch(self):
        import contextlib
        return contextlib.nullcontext()

    def submit(self, fn, chain, *args):
        n = sum(entry.startswith("submit") for entry in self.log)
        self.log.append(f"submit {n}")
        outer = self

        class Job:
            job_id = str(n)

            def result(self):
                outer.log.append(f"result {n}")
                return [{"point_id": "x", "status": "ok", "note": ""} for _ in chain]
        return Job()


@pytest.mark.parametrize("cluster,expected", [
    ("local", ["submit 0", "result 0", "submit 1", "result 1", "submit 2", "result 2"]),  # one at a time
    ("slurm", ["submit 0", "submit 1", "submit 2", "result 0", "result 1", "result 2"]),  # all queued at once
])
def test_local_cluster_jobs_run_one_at_a_time_and_slurm_ones_together(cluster, expected, tmp_path, monkeypatch):
    import submitit

    _FakeExecutor.log = []
    monkeypatch.setattr(submitit, "AutoExecutor", _FakeExecutor)
    points = [Point({"suite": "unit", "model": m, "seq_len": 1}, 10.0, stop_group=m) for m in ("a", "b", "c")]
    cfg = launchers.SlurmConfig(cluster=cluster, partition="gpu")
    launchers.run_slurm(cfg, points, str(tmp_path), "run", force=False, progress=False)
    assert _FakeExecutor.log == expected


def test_local_gpus_shares_a_gpu_between_training_points_only(monkeypatch, tmp_path):
    seen = []

    def fake_isolated(config, timeout_s, env=None):
        seen.append((config["seq_len"], env["CUDA_VISIBLE_DEVICES"], env.get("SWARM_BENCH_GPU_SHARED")))
        return {"status": "ok", "error": None, "payload": {"quality": {}}, "overhead_s": {}, "wall_s": 0.1}

    monkeypatch.setattr("harness.run.isolation.run_isolated", fake_isolated)
    training = [Point({**point(i).config, "mode": "quality"}, 60.0) for i in range(4)]
    rows = launchers.run_local_gpus(launchers.LocalGpusConfig(gpus=[0], per_gpu=3), training, str(tmp_path), "run",
                                    False, False, isolation="point")
    assert [r["status"] for r in rows] == ["ok"] * 4
    assert sorted(i for i, _, _ in seen) == [0, 1, 2, 3] and {(g, n) for _, g, n in seen} == {("0", "3")}
    with pytest.raises(UserError, match="forward points on a shared GPU"):  # a timed point never shares
        launchers.run_local_gpus(launchers.LocalGpusConfig(gpus=[0], per_gpu=2), [point(9)], str(tmp_path), "run",
                                 False, False)
    with pytest.raises(UserError, match="per_gpu=0"):
        launchers.run_local_gpus(launchers.LocalGpusConfig(gpus=[0], per_gpu=0), training, str(tmp_path), "run",
                                 False, False)


@pytest.mark.gpu
def test_a_shared_gpu_is_recorded_in_the_environment(monkeypatch):
    import torch

    from harness.measure import env

    monkeypatch.setenv(env.GPU_SHARED, "4")
    held = torch.ones(1, device="cuda")  # this process now holds a CUDA context NVML can see
    collected = env.collect(torch.device("cuda"))
    assert collected["gpu_shared_by"] == 4 and held.item() == 1.0
    assert collected["gpu_processes"] is None or collected["gpu_processes"] >= 1  # None: NVML hides processes
