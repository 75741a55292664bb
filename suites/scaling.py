"""Sequence-length scaling: latency, memory, tokens/s and energy vs L, per model, forward and
training step, at matched parameter count.

Points: models x modes x seq_lens, plus `extend_seq_lens` for linear-time models (mamba),
run shortest first and stopped at the first failure per (model, mode), so the longest
feasible length is found without waiting for every longer one to fail. Baselines are sized
to the first model's parameter count (`match`), by solving for their depth. Routed models (the
swarms, Mamba-MoE) run without a capacity limit (`capacity_factor`, 0 by default), as in
suite=encoders: with a limit an untrained router drops 12-25% of the swarm's assignments and a
row's logits depend on the other rows of the batch. `repeats` runs every point in that many
processes (suites.common.with_repeats).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from harness.store.points import Point
from models import matching, registry
from suites import registry as suite_registry
from suites.common import (
    RunContext,
    TimingParams,
    apply_profile_and_model,
    measurement_point,
    require,
    with_repeats,
)

MODES = ("forward", "train")
MATCHES = ("none", "params_total", "params_active")


@dataclass(kw_only=True)
class ScalingParams(TimingParams):
    name: str
    modes: list[str]
    models: Optional[list[str]] = None  # first model is the reference; the others are matched to it
    match: str = "params_total"
    preset: Optional[str] = None  # tiny | small | base
    seq_lens: Optional[list[int]] = None
    extend_seq_lens: Optional[list[int]] = None  # linear-time models only, until the first failure
    batch_size: Optional[int] = None
    capacity_factor: float = 0.0  # routed models' capacity limit (0: none, no assignment dropped)


def _validate(p: ScalingParams) -> None:
    for model in p.models:
        registry.entry(model)
    require(bool(p.models), "suite.models is empty; valid: " + ", ".join(registry.MODELS))
    bad = [m for m in p.modes if m not in MODES]
    require(not bad and bool(p.modes), f"suite.modes has {bad or 'nothing'}; valid: {', '.join(MODES)}")
    require(p.match in MATCHES, f"suite.match={p.match!r}; valid: {', '.join(MATCHES)}")
    for key in ("seq_lens", "extend_seq_lens"):
        bad = [n for n in getattr(p, key) if n < 1]
        require(not bad, f"suite.{key} has impossible lengths {bad}: must be >= 1")
    require(bool(p.seq_lens), "suite.seq_lens is empty")
    require(p.batch_size >= 1, f"suite.batch_size={p.batch_size} is impossible: must be >= 1")
    require(p.iters >= 1, f"suite.iters={p.iters} is impossible: must be >= 1")
    require(p.warmup >= 0, f"suite.warmup={p.warmup} is impossible: must be >= 0")
    require(p.timeout_s > 0, f"suite.timeout_s={p.timeout_s} is impossible: must be > 0")
    require(p.capacity_factor >= 0, f"suite.capacity_factor={p.capacity_factor} is impossible: must be >= 0")


def model_configs(names: list[str], preset: str, match: str, ctx: RunContext,
                  capacity_factor: float | None = None) -> dict[str, dict]:
    """Resolved configs; routed models get `capacity_factor` unless `model.capacity_factor` is set
    on the command line; with `match`, every model after the first is sized to the first."""
    choice = ctx.model_choice or {}
    overrides = {"vocab_size": ctx.vocab_size, **choice.get("overrides", {})}
    configs = {}
    for name in names:
        config = registry.resolve_config(name, preset, overrides)
        if capacity_factor is not None and "capacity_factor" in config and "capacity_factor" not in overrides:
            config = registry.resolve_config(name, preset, {**overrides, "capacity_factor": capacity_factor})
        configs[name] = config
    if match != "none" and len(names) > 1:
        active = match == "params_active"
        target = matching.count_params(names[0], configs[names[0]], active=active)
        for name in names[1:]:
            configs[name] = matching.match_depth(name, configs[name], target, active=active)
    return configs


def build_points(params: ScalingParams, ctx: RunContext) -> tuple[list[Point], str | None]:
    params, description = apply_profile_and_model(params, ctx)
    _validate(params)
    configs = model_configs(params.models, params.preset, params.match, ctx, params.capacity_factor)
    points = []
    for name in params.models:
        lengths = params.seq_lens + (params.extend_seq_lens if registry.entry(name).linear_time else [])
        for mode in params.modes:
            for seq_len in sorted(set(lengths)):
                points.append(measurement_point(params, ctx, name, configs[name], mode, seq_len,
                                                stop_group=f"{name}/{mode}", label=f"{name} {mode} L={seq_len}"))
    return with_repeats(points, params.repeats), description


suite_registry.register("smoke", ScalingParams, build_points,
                        summary="tiny models, seconds, any device: checks the whole pipeline")
suite_registry.register("scaling", ScalingParams, build_points,
                        summary="sequence-length scaling: latency, memory, tokens/s, energy vs L")
