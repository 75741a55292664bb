"""Launchers: where a sweep's points run (`launcher=` in the config).

    local       one point after another on this machine (harness.run.runner; the default)
    local_gpus  one worker per visible GPU, each point pinned with CUDA_VISIBLE_DEVICES
                (GPUs numbered in PCI bus order, as NVML numbers them); `per_gpu` > 1 runs
                that many training points of suite=quality at once on each GPU (never a timed
                point), each record saying how many shared it (env.gpu_shared_by)
    slurm       a SLURM job array through submitit (facebookincubator/submitit), one job per
                chain; `cluster=local` or `debug` runs the same jobs on this machine

A chain is one stop group (harness.run.runner.chains): its points run in order on one GPU or in
one job, so "stop after the first failure" keeps its meaning; different chains run in
parallel. A GPU runs one timed point at a time, so timing points never share a GPU. Every point
still runs in its own process with its timeout, and every record lands in the same store
under its point id, so parallel and cluster runs merge with local ones and resume alike.
"""
from __future__ import annotations

import os
import queue
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from tqdm import tqdm

from harness.errors import UserError
from harness.measure.env import GPU_SHARED
from harness.run.runner import ChainRunner, chains
from harness.store import results
from harness.store.points import Point, point_id
from harness.structured import from_mapping

LAUNCHERS = ("local", "local_gpus", "slurm")
SUBMITIT_CLUSTERS = ("slurm", "local", "debug")


@dataclass
class LocalGpusConfig:
    name: str = "local_gpus"
    gpus: Optional[list[int]] = None  # GPU indices (PCI bus order); None: every visible GPU
    per_gpu: int = 1  # points at once per GPU; > 1 only for training points (SHAREABLE_MODES), whose result is not a timing


SHAREABLE_MODES = ("quality", "synthetic")  # trained to a loss or an accuracy: sharing a GPU slows them, changes nothing else


@dataclass
class SlurmConfig:
    name: str = "slurm"
    partition: Optional[str] = None
    cluster: str = "slurm"  # slurm | local | debug (submitit's executors; the last two run here)
    gpus_per_node: int = 1  # per job: one chain runs on one GPU
    cpus_per_task: int = 8
    mem_gb: Optional[int] = None
    timeout_min: Optional[int] = None  # per job; None: the chain's point timeouts + 10 minutes
    array_parallelism: int = 64  # jobs of the array running at once
    folder: Optional[str] = None  # submitit logs; None: <results_dir>/.submitit/<run_id>
    setup: list[str] = field(default_factory=list)  # shell lines run before each job, e.g. module load


def visible_gpus() -> list[int]:
    """GPU indices this process may use, in PCI bus order: CUDA_VISIBLE_DEVICES when set
    (numeric ids), else every device NVML reports."""
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        ids = [s.strip() for s in listed.split(",") if s.strip()]
        if not all(s.isdigit() for s in ids):
            raise UserError(f"CUDA_VISIBLE_DEVICES={listed!r}: launcher=local_gpus needs numeric GPU indices")
        return [int(s) for s in ids]
    from harness.measure import nvml

    return list(range(nvml.device_count() or 0))


def schedule(work: list[list[Point]], slots: list, run_chain: Callable[[object, list[Point]], list[dict]],
             on_done: Callable[[int], None] = lambda n: None) -> dict[int, list[dict]]:
    """Run every chain of `work` on one of `slots` (one thread per slot, one chain at a time per
    slot, chains taken in order). Returns chain index -> its rows. An exception in a chain is
    re-raised after the other slots finish their current chain."""
    todo: queue.Queue = queue.Queue()
    for i, chain in enumerate(work):
        todo.put(i)
    done: dict[int, list[dict]] = {}
    errors: list[BaseException] = []

    def worker(slot) -> None:
        while not errors:
            try:
                i = todo.get_nowait()
            except queue.Empty:
                return
            try:
                done[i] = run_chain(slot, work[i])
                on_done(len(work[i]))
            except BaseException as exc:  # keep the others' records; report after
                errors.append(exc)

    threads = [threading.Thread(target=worker, args=(slot,), daemon=True) for slot in slots]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return done


def _in_point_order(points: list[Point], work: list[list[Point]], done: dict[int, list[dict]]) -> list[dict]:
    by_id = {}
    for i, rows in done.items():
        for point, row in zip(work[i], rows):
            by_id[id(point)] = row
    return [by_id[id(p)] for p in points if id(p) in by_id]


def run_local_gpus(cfg: LocalGpusConfig, points: list[Point], store: str, run_id: str, force: bool,
                   progress: bool, isolation: str = "chain") -> list[dict]:
    devices = {p.config.get("device") for p in points}
    if devices - {"cuda"}:
        raise UserError(f"launcher=local_gpus pins each point to one GPU and needs device=cuda (or auto on a GPU "
                        f"machine); got {', '.join(sorted(map(str, devices - {'cuda'})))}")
    gpus = cfg.gpus if cfg.gpus is not None else visible_gpus()
    if not gpus:
        raise UserError("launcher=local_gpus: no GPU is visible; valid here: launcher=local")
    if cfg.per_gpu < 1:
        raise UserError(f"launcher.per_gpu={cfg.per_gpu}: must be >= 1")
    timed = sorted({str(p.config.get("mode")) for p in points} - set(SHAREABLE_MODES))
    if cfg.per_gpu > 1 and timed:
        raise UserError(f"launcher.per_gpu={cfg.per_gpu} would time {', '.join(timed)} points on a shared GPU; "
                        f"sharing is for training points only (modes {', '.join(SHAREABLE_MODES)}): "
                        "use launcher.per_gpu=1 for this sweep")
    work = chains(points)
    bar = tqdm(total=len(points), unit="point", disable=not progress, file=sys.stderr, dynamic_ncols=True)
    lock = threading.Lock()
    shared = f", {cfg.per_gpu} points at once on each" if cfg.per_gpu > 1 else ""
    print(f"launcher local_gpus: {len(work)} chains on GPUs {gpus}{shared}", file=sys.stderr)
    sharing = {GPU_SHARED: str(cfg.per_gpu)} if cfg.per_gpu > 1 else {}

    def run_chain(gpu: int, chain: list[Point]) -> list[dict]:
        runner = ChainRunner(store, run_id, force, env={"CUDA_DEVICE_ORDER": "PCI_BUS_ID",
                                                        "CUDA_VISIBLE_DEVICES": str(gpu), **sharing},
                             isolation=isolation)
        try:
            return [{**runner.run(p), "gpu_slot": gpu} for p in chain]
        finally:
            runner.close()

    def advance(n: int) -> None:
        with lock:
            bar.update(n)

    try:
        done = schedule(work, [gpu for _ in range(cfg.per_gpu) for gpu in gpus], run_chain, advance)
    finally:
        bar.close()
    return _in_point_order(points, work, done)


def run_chain_job(chain: list[Point], store: str, run_id: str, force: bool, isolation: str = "chain") -> list[dict]:
    """A cluster job: one chain, in child processes (`isolation`), records into the shared store."""
    runner = ChainRunner(store, run_id, force, isolation=isolation)
    try:
        return [runner.run(p) for p in chain]
    finally:
        runner.close()


def run_slurm(cfg: SlurmConfig, points: list[Point], store: str, run_id: str, force: bool,
              progress: bool, isolation: str = "chain") -> list[dict]:
    import submitit

    if cfg.cluster not in SUBMITIT_CLUSTERS:
        raise UserError(f"launcher.cluster={cfg.cluster!r}; valid: {', '.join(SUBMITIT_CLUSTERS)}")
    if cfg.cluster == "slurm" and not cfg.partition:
        raise UserError("launcher=slurm needs launcher.partition=<name> (sinfo lists them)")
    work = chains(points)
    folder = Path(cfg.folder or Path(store) / ".submitit" / run_id)
    executor = submitit.AutoExecutor(folder=folder, cluster=cfg.cluster)
    longest = max((sum(p.timeout_s for p in chain) for chain in work), default=0)
    params = dict(name="swarm-bench", timeout_min=cfg.timeout_min or int(longest // 60) + 10,
                  gpus_per_node=cfg.gpus_per_node, cpus_per_task=cfg.cpus_per_task)
    if cfg.cluster == "slurm":
        params.update(slurm_partition=cfg.partition, slurm_array_parallelism=cfg.array_parallelism,
                      slurm_setup=list(cfg.setup), **({"mem_gb": cfg.mem_gb} if cfg.mem_gb else {}))
    executor.update_parameters(**params)
    absolute_store = str(Path(store).resolve())

    def submit(chain: list[Point]):
        return executor.submit(run_chain_job, chain, absolute_store, run_id, force, isolation)

    if cfg.cluster == "slurm":
        with executor.batch():
            jobs = [submit(chain) for chain in work]
        print(f"launcher slurm: {len(jobs)} jobs, logs in {folder}", file=sys.stderr)
    else:  # submitit runs local jobs at once, on this machine: timed points would share it
        jobs = None
        print(f"launcher slurm ({cfg.cluster}): {len(work)} jobs, one at a time on this machine (timed points "
              f"never share it), logs in {folder}", file=sys.stderr)
    done = {}
    bar = tqdm(total=len(points), unit="point", disable=not progress, file=sys.stderr, dynamic_ncols=True)
    try:
        for i in range(len(work)):
            job = jobs[i] if jobs is not None else submit(work[i])  # locally: the next job after this one ends
            try:
                done[i] = job.result()
            except Exception as exc:  # a job that died: its unfinished points are recorded as crashed
                done[i] = [_crashed_row(p, store, run_id, f"cluster job {job.job_id} failed: {exc}") for p in work[i]]
            bar.update(len(work[i]))
    finally:
        bar.close()
    return _in_point_order(points, work, done)


def _crashed_row(point: Point, store: str, run_id: str, error: str) -> dict:
    pid = point_id(point.config)
    existing = results.read_record(results.record_path(store, point.config["suite"], pid))
    if existing and existing.get("run_id") == run_id:  # finished before the job died: keep it
        return {**results.flatten(existing), "note": ""}
    path = results.write_record(store, pid, run_id, point.config, {"status": "crashed", "error": error})
    return {**results.flatten(results.read_record(path)), "note": "job failed"}


def run(launcher: dict, points: list[Point], store: str, run_id: str, force: bool, progress: bool,
        isolation: str = "chain") -> list[dict]:
    name = launcher.get("name")
    if name == "local_gpus":
        return run_local_gpus(from_mapping(LocalGpusConfig, launcher, where="launcher"), points, store, run_id,
                              force, progress, isolation)
    if name == "slurm":
        return run_slurm(from_mapping(SlurmConfig, launcher, where="launcher"), points, store, run_id, force,
                         progress, isolation)
    raise UserError(f"unknown launcher {name!r}; valid: {', '.join(LAUNCHERS)}")
