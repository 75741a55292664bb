"""The measurement of a `suite=distributed` point: the swarm with its encoders spread over the
GPUs of one host (models.swarm.distributed), started with torchrun, checked against the
single-device swarm and timed.

The point's own child process (harness.run.worker) runs `measure`, which launches, as
optimum-benchmark's torchrun launcher does (one process per GPU, rank 0's result returned),

    torchrun --standalone --nproc_per_node=W -m harness.tasks.distributed <request> <result>

with NVLink multicast off (NCCL_NVLS_ENABLE=0, TORCH_SYMM_MEM_DISABLE_MULTICAST=1). Every rank
builds the same swarm from the same seed and the same batch. Rank 0 first runs the whole swarm
on the whole batch on its own device: the reference logits and the single-device latency.
Then each rank keeps its block of encoders and runs its shard of the batch; per iteration
(after a barrier) the forward is timed by a LatencyTracker (harness.measure.trackers: CUDA
events on a GPU), which the pool also marks around each exchange for the all-to-all time.
The logits are gathered on rank 0 and compared. A MemoryTracker per rank spans the
distributed phase, warm-up and gather included (static: the rank's block of the swarm).
NCCL on CUDA, gloo on CPU (the CPU profile and the tests).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
import torch.distributed as dist

from harness.measure import env as env_mod
from harness.measure.stats import summarize
from harness.measure.trackers import LatencyTracker, MemoryTracker
from harness.tasks.model_setup import build_model, random_tokens
from models.swarm import expert_parallel

NO_MULTICAST = {"NCCL_NVLS_ENABLE": "0", "TORCH_SYMM_MEM_DISABLE_MULTICAST": "1"}
MATCH_REL_ERR = {"fp32": 1e-4, "bf16": 3e-2, "fp16": 1e-2}  # ||distributed - single|| / ||single||


def measure(point: dict) -> dict:
    """The task: launch the ranks, return rank 0's result."""
    with tempfile.TemporaryDirectory(prefix="swarm-bench-dist-") as tmp:
        request, result = Path(tmp, "request.json"), Path(tmp, "result.json")
        request.write_text(json.dumps(point))
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={point['world_size']}",
               "-m", "harness.tasks.distributed", str(request), str(result)]
        env = {**os.environ, **NO_MULTICAST, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if proc.returncode != 0 or not result.exists():
            raise RuntimeError(f"torchrun exited with {proc.returncode}:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
        return json.loads(result.read_text())


def rank_main(request: str, result: str) -> None:
    point = json.loads(Path(request).read_text())
    cuda = point["device"].startswith("cuda")
    local_rank = int(os.environ["LOCAL_RANK"])
    device = torch.device("cuda", local_rank) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if cuda else "gloo", **({"device_id": device} if cuda else {}))
    rank, world = dist.get_rank(), dist.get_world_size()
    clock = LatencyTracker(device)

    model = build_model(point, train=False)  # on the current device: this rank's GPU
    params = {"params_total": model.num_params(), "params_active": model.num_params(active=True)}
    batch, seq_len = point["batch_size"], point["seq_len"]
    tokens = random_tokens(point, seq_len)  # (B, L)
    shard = tokens.chunk(world)[rank]  # (B/W, L)

    single, reference = {}, None
    with torch.inference_mode():
        if rank == 0:  # the single-device swarm: reference output and latency
            reference = model(tokens)[0]
            for _ in range(point["warmup"]):
                model(tokens)
            single = summarize([clock.time_once(lambda: model(tokens)) for _ in range(point["iters"])])
        dist.barrier()
        model = expert_parallel(model)
        if cuda:
            torch.cuda.empty_cache()  # the other ranks' encoders, freed
        pool = model.encoders
        with MemoryTracker(device, sample_nvml=False) as memory:
            for _ in range(point["warmup"]):
                model(shard)
            pool.clock = clock
            samples, comm = [], []
            for _ in range(point["iters"]):
                dist.barrier()
                samples.append(clock.time_once(lambda: model(shard)))
                comm.append(pool.collect_comm_ms())
            pool.clock = None
            logits = model(shard)[0].contiguous()  # (B/W, L, V)
            gathered = torch.empty((world, *logits.shape), dtype=logits.dtype, device=device)  # (W, B/W, L, V)
            dist.all_gather_into_tensor(gathered, logits) if cuda else dist.all_gather(list(gathered.unbind()), logits)
    gpu_memory = {"peak_alloc": memory.peak_alloc, "allocated": memory.final_alloc} if cuda else {}
    mine = {"rank": rank, "latency_ms": summarize(samples), "all_to_all_ms": summarize(comm),
            "static_mb": memory.static_alloc, **gpu_memory, "chunks_received": pool.last_dispatch.get("chunks_in"),
            "encoders": [pool.lo, pool.lo + pool.n_local]}
    ranks = [None] * world
    dist.all_gather_object(ranks, mine)
    if rank == 0:
        full = gathered.flatten(0, 1).float()  # (B, L, V)
        ref = reference.float()
        rel_err = (torch.linalg.norm(full - ref) / torch.linalg.norm(ref)).item()
        latency = summarize(samples)
        payload = {
            "samples_ms": samples, "latency_ms": latency,
            "tokens_per_s": batch * seq_len / (latency["median"] / 1e3),
            "memory_mb": {"peak_alloc": max((r.get("peak_alloc") or 0) for r in ranks) or None,
                          "static_alloc": max((r.get("static_mb") or 0) for r in ranks) or None},
            "model_info": {**params, "backend": pool.last_dispatch.get("pool"),
                           "flops_per_token": model.flops_per_token(seq_len)},
            "distributed": {
                "world_size": world, "backend": dist.get_backend(), "per_rank": ranks,
                "single_device_latency_ms": single,
                "all_to_all_ms_median": summarize(comm)["median"],
                "all_to_all_fraction": summarize(comm)["median"] / latency["median"],
                "rel_err_vs_single": rel_err, "max_abs_err_vs_single": (full - ref).abs().max().item(),
                "matches_single": rel_err <= MATCH_REL_ERR[point["dtype"]],
                "nvls_disabled": os.environ.get("NCCL_NVLS_ENABLE") == "0",
            },
            "env": env_mod.collect(device),
        }
        Path(result).write_text(json.dumps(payload, default=str))
    dist.destroy_process_group()


if __name__ == "__main__":
    rank_main(sys.argv[1], sys.argv[2])
