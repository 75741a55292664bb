"""The swarm with its encoders spread over the GPUs of one host (expert parallelism,
models.swarm.distributed; harness.tasks.distributed measures each point with torchrun).

Points: world_sizes x n_encoders at one top-k, batch and length. Each record holds the
distributed forward latency, the all-to-all time inside it, per-GPU memory, the single-device
latency of the same swarm on the same batch, and the error against its outputs.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from harness.store.points import Point
from models import registry
from suites import registry as suite_registry
from suites.common import RunContext, TimingParams, apply_profile, measurement_point, require


@dataclass(kw_only=True)
class DistributedParams(TimingParams):
    name: str
    preset: Optional[str] = None
    swarm: Optional[dict] = None  # SwarmConfig overrides on top of `preset`
    n_encoders: Optional[list[int]] = None
    top_k: Optional[int] = None
    world_sizes: Optional[list[int]] = None  # processes (GPUs on CUDA)
    seq_len: Optional[int] = None
    batch_size: Optional[int] = None  # the whole batch; each rank routes batch_size / world of it


def build_points(params: DistributedParams, ctx: RunContext) -> tuple[list[Point], str | None]:
    params, description = apply_profile(params, ctx.device_type)
    require(not ctx.model_choice, "suite=distributed always runs the swarm; drop model=")
    require(bool(params.world_sizes) and min(params.world_sizes) >= 2,
            f"suite.world_sizes={params.world_sizes}: each must be >= 2")
    for key in ("seq_len", "batch_size", "top_k"):
        require(getattr(params, key) >= 1, f"suite.{key}={getattr(params, key)} is impossible: must be >= 1")
    require(all(params.batch_size % w == 0 for w in params.world_sizes),
            f"suite.batch_size={params.batch_size} must split evenly over world sizes {params.world_sizes}")
    require(ctx.device in ("cpu", "cuda"), f"device={ctx.device}: suite=distributed uses every GPU itself; "
            "use device=cuda (or cpu)")
    if ctx.device_type == "cuda":
        import torch

        visible = torch.cuda.device_count()
        require(max(params.world_sizes) <= visible,
                f"suite.world_sizes={params.world_sizes} but only {visible} GPU(s) are visible")
    points = []
    for world in params.world_sizes:
        for n in params.n_encoders:
            require(params.top_k <= n, f"suite.top_k={params.top_k} exceeds n_encoders={n}")
            config = registry.resolve_config("swarm", params.preset, {"vocab_size": ctx.vocab_size, **params.swarm,
                                                                      "n_encoders": n, "top_k": params.top_k})
            points.append(measurement_point(params, ctx, "swarm", config, "forward", params.seq_len, stop_group=None,
                                            label=f"swarm N={n} k={params.top_k} over {world} ranks",
                                            task="harness.distributed_swarm:measure", world_size=world))
    return points, description


suite_registry.register("distributed", DistributedParams, build_points,
                        summary="the swarm's encoders spread over GPUs (torchrun)")
