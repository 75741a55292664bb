"""Size a baseline to a target parameter count by solving for its depth.

Counts come from building the model on PyTorch's `meta` device (no memory, no init cost), so
the helper works for any registered model, sizes included that would not fit in memory.
Parameter count is affine in depth (embeddings + depth x per-layer), so two builds give the
answer; the result is the depth whose count is closest to the target.
"""
from __future__ import annotations

import torch

from harness.errors import UserError
from models import registry


def count_params(name: str, config: dict, active: bool = False) -> int:
    with torch.device("meta"):
        model = registry.build(name, config)
    return model.num_params(active=active)


def match_depth(name: str, config: dict, target: int, active: bool = False) -> dict:
    """`config` with `n_layer` chosen so that the (active) parameter count is closest to `target`."""
    if "n_layer" not in config:
        raise UserError(f"model {name!r} has no n_layer to solve for")
    one = count_params(name, {**config, "n_layer": 1}, active)
    two = count_params(name, {**config, "n_layer": 2}, active)
    per_layer, base = two - one, 2 * one - two
    n_layer = max(1, round((target - base) / per_layer))
    return {**config, "n_layer": n_layer}
