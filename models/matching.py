"""Size a baseline to a target parameter count (total or active) by solving for depth or width.

Counts come from building the model on PyTorch's `meta` device (no memory, no init cost), so
the helper works for any registered model, sizes included that would not fit in memory; they
are remembered across processes (models.param_counts).
Depth: the count is affine in depth (embeddings + depth x per-layer), so two builds give the
answer. Width: the count grows monotonically with d_model, so a bisection over multiples of
64 finds it (heads follow the width at 64 dimensions each). Either way the result is the
size whose count is closest to the target.
"""
from __future__ import annotations

import torch

from models import param_counts, registry
from models.errors import ModelConfigError

MATCH_BY = ("depth", "width")
MATCH_KINDS = ("params_active", "params_total")
WIDTH_STEP = 64


def count_params(name: str, config: dict, active: bool = False) -> int:
    def build_and_count() -> int:
        with torch.device("meta"):
            model = registry.build(name, config)
        return model.num_params(active=active)
    return param_counts.remembered(name, config, active, build_and_count)


def match_depth(name: str, config: dict, target: int, active: bool = False) -> dict:
    """`config` with `n_layer` chosen so that the (active) parameter count is closest to `target`."""
    if "n_layer" not in config:
        raise ModelConfigError(f"model {name!r} has no n_layer to solve for")
    one = count_params(name, {**config, "n_layer": 1}, active)
    two = count_params(name, {**config, "n_layer": 2}, active)
    per_layer, base = two - one, 2 * one - two
    n_layer = max(1, round((target - base) / per_layer))
    return {**config, "n_layer": n_layer}


def _at_width(config: dict, d_model: int) -> dict:
    sized = {**config, "d_model": d_model}
    if "n_head" in config:
        sized["n_head"] = max(1, d_model // 64)
    return sized


def match_width(name: str, config: dict, target: int, active: bool = False) -> dict:
    """`config` with `d_model` (a multiple of 64) closest in (active) parameters to `target`."""
    lo, hi = 1, 2
    while count_params(name, _at_width(config, hi * WIDTH_STEP), active) < target and hi < 1024:
        lo, hi = hi, hi * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if count_params(name, _at_width(config, mid * WIDTH_STEP), active) < target:
            lo = mid
        else:
            hi = mid
    best = min((lo, hi), key=lambda m: abs(count_params(name, _at_width(config, m * WIDTH_STEP), active) - target))
    return _at_width(config, best * WIDTH_STEP)


def match(name: str, config: dict, target: int, active: bool = False, by: str = "depth") -> dict:
    if by not in MATCH_BY:
        raise ModelConfigError(f"match by {by!r}; valid: {', '.join(MATCH_BY)}")
    return (match_depth if by == "depth" else match_width)(name, config, target, active)


def match_to(name: str, config: dict, target_name: str, target_config: dict, kind: str = "params_active",
             by: str = "depth") -> dict:
    """`config` of model `name` sized so that its `kind` count (active or total parameters) is
    closest to the same count of the target: like against like. (Sizing a routed candidate by
    its total count to a target's active count shrinks it: that was Mamba-MoE at one layer.)"""
    if kind not in MATCH_KINDS:
        raise ModelConfigError(f"match {kind!r}; valid: {', '.join(MATCH_KINDS)}")
    active = kind == "params_active"
    goal = count_params(target_name, target_config, active=active)
    return match(name, config, goal, active=active, by=by)
