"""The CI regression set: a small fixed grid of points whose numbers a change must not worsen.

Points: models x presets x shapes (batch, seq_len) x modes (forward, train), each repeated in
`repeats` fresh processes, plus per model a seeded short training run (`loss_steps` AdamW
steps, `harness.tasks.fixed_seed_loss`) repeated `loss_repeats` times. Repeats are interleaved
(every point once, then every point again), so slow drift of the machine spreads over all
points instead of biasing one. `python run.py compare` reads them back (harness.analysis.compare).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from harness.store.points import Point
from models import registry
from suites import registry as suite_registry
from suites.common import RunContext, TimingParams, apply_profile, measurement_point, require

MODES = ("forward", "train")


@dataclass(kw_only=True)
class RegressionParams(TimingParams):
    name: str
    modes: list[str]
    models: Optional[list[str]] = None
    presets: Optional[list[str]] = None  # tiny | small | base, each model at each preset
    shapes: Optional[list[list[int]]] = None  # [batch, seq_len] pairs
    repeats: Optional[int] = None  # fresh processes per timing point: run-to-run spread
    loss_steps: Optional[int] = None  # seeded AdamW steps on bigram data (0: no loss points)
    loss_shape: Optional[list[int]] = None  # [batch, seq_len] of the loss run
    loss_repeats: Optional[int] = None
    loss_lr: Optional[float] = None  # AdamW learning rate of the loss run
    loss_branching: int = 4
    loss_data_vocab: int = 64


def _validate(p: RegressionParams) -> None:
    require(bool(p.models), "suite.models is empty; valid: " + ", ".join(registry.MODELS))
    for model in p.models:
        registry.entry(model)
        for preset in p.presets:
            registry.resolve_config(model, preset)
    bad = [m for m in p.modes if m not in MODES]
    require(not bad and bool(p.modes), f"suite.modes has {bad or 'nothing'}; valid: {', '.join(MODES)}")
    for key in ("shapes", "loss_shape"):
        shapes = getattr(p, key) if key == "shapes" else [p.loss_shape]
        for shape in shapes:
            require(len(shape) == 2 and min(shape) >= 1,
                    f"suite.{key} has {shape}: expected [batch, seq_len], both >= 1")
    require(bool(p.shapes), "suite.shapes is empty")
    for key in ("repeats", "iters", "loss_repeats"):
        require(getattr(p, key) >= 1, f"suite.{key}={getattr(p, key)} is impossible: must be >= 1")
    require(p.loss_steps >= 0, f"suite.loss_steps={p.loss_steps} is impossible: must be >= 0 (0: no loss points)")
    require(p.loss_branching >= 1, f"suite.loss_branching={p.loss_branching} is impossible: must be >= 1")
    require(p.loss_lr > 0, f"suite.loss_lr={p.loss_lr} is impossible: must be > 0")
    require(p.loss_data_vocab >= 2, f"suite.loss_data_vocab={p.loss_data_vocab} is impossible: must be >= 2")
    require(p.timeout_s > 0, f"suite.timeout_s={p.timeout_s} is impossible: must be > 0")


def _loss_point(params: RegressionParams, ctx: RunContext, model: str, preset: str, config: dict, repeat: int) -> Point:
    batch, seq_len = params.loss_shape
    point = {
        "suite": params.name, "task": "harness.fixed_seed_loss:train_loss", "model": model, "preset": preset,
        "model_config": config, "mode": "loss", "batch_size": batch, "seq_len": seq_len,
        "device": ctx.device, "dtype": ctx.dtype, "seed": ctx.seed, "loss_steps": params.loss_steps,
        "lr": params.loss_lr, "branching": params.loss_branching, "data_vocab": params.loss_data_vocab,
        "repeat": repeat,
    }
    return Point(point, params.timeout_s, label=f"{model}/{preset} loss B={batch} L={seq_len} #{repeat}")


def build_points(params: RegressionParams, ctx: RunContext) -> tuple[list[Point], str | None]:
    params, description = apply_profile(params, ctx.device_type)
    if ctx.model_choice:
        params.models = [ctx.model_choice["name"]]
    _validate(params)
    overrides = {"vocab_size": ctx.vocab_size, **((ctx.model_choice or {}).get("overrides") or {})}
    configs = {(m, p): registry.resolve_config(m, p, overrides) for m in params.models for p in params.presets}
    points = []
    for repeat in range(max(params.repeats, params.loss_repeats if params.loss_steps else 0)):
        for (model, preset), config in configs.items():
            if repeat < params.repeats:
                for batch, seq_len in params.shapes:
                    for mode in params.modes:
                        point = measurement_point(params, ctx, model, config, mode, seq_len, stop_group=None,
                                                  label=f"{model}/{preset} {mode} B={batch} L={seq_len} #{repeat}",
                                                  batch_size=batch, preset=preset, repeat=repeat)
                        points.append(point)
            if params.loss_steps and repeat < params.loss_repeats:
                points.append(_loss_point(params, ctx, model, preset, config, repeat))
    return points, description


suite_registry.register("regression", RegressionParams, build_points,
                        summary="the CI gate's points (compare them with `compare`)")
