"""The model registry: every measurable model family, its presets and how to build it.

Adding a model is one file plus one `ModelEntry` here. A name may be a variant of a family
with fixed options (e.g. `transformer_eager`).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable

from harness.errors import UserError
from harness.run.typed_config import from_mapping
from models import mamba_lm, mamba_moe, swarm, transformer


@dataclass(frozen=True)
class ModelEntry:
    name: str
    config_cls: type
    build: Callable[[Any], Any]
    presets: dict[str, dict]
    linear_time: bool  # cost grows linearly in sequence length: scaling sweeps extend its lengths
    fixed: dict = field(default_factory=dict)  # options a variant pins


MODELS: dict[str, ModelEntry] = {e.name: e for e in [
    ModelEntry("mamba", mamba_lm.MambaConfig, mamba_lm.MambaLM, mamba_lm.PRESETS, linear_time=True),
    ModelEntry("transformer", transformer.TransformerConfig, transformer.TransformerLM, transformer.PRESETS,
               linear_time=False, fixed={"attn_implementation": "sdpa"}),
    ModelEntry("transformer_eager", transformer.TransformerConfig, transformer.TransformerLM,
               transformer.PRESETS, linear_time=False, fixed={"attn_implementation": "eager"}),
    ModelEntry("swarm", swarm.SwarmConfig, swarm.SwarmLM, swarm.PRESETS, linear_time=True,
               fixed={"encoder_type": "mamba"}),
    ModelEntry("transformer_swarm", swarm.SwarmConfig, swarm.SwarmLM, swarm.PRESETS, linear_time=True,
               fixed={"encoder_type": "transformer"}),  # attention inside chunks only: O(L * chunk_len)
    ModelEntry("mamba_moe", mamba_moe.MambaMoEConfig, mamba_moe.MambaMoE, mamba_moe.PRESETS, linear_time=True),
]}


def entry(name: str) -> ModelEntry:
    if name not in MODELS:
        raise UserError(f"unknown model {name!r}; valid: {', '.join(MODELS)}")
    return MODELS[name]


def resolve_config(name: str, preset: str, overrides: dict | None = None) -> dict:
    """The full, validated config of model `name` at `preset` with `overrides`, as a plain dict."""
    e = entry(name)
    if preset not in e.presets:
        raise UserError(f"unknown preset {preset!r} for model {name!r}; valid: {', '.join(e.presets)}")
    values = {**e.presets[preset], **(overrides or {}), **e.fixed}
    cfg = from_mapping(e.config_cls, values, where=f"model[{name}]")
    for key, value in dataclasses.asdict(cfg).items():
        if isinstance(value, int) and not isinstance(value, bool) and value < 0:
            raise UserError(f"model[{name}].{key}={value} is impossible: must be >= 0")
    return dataclasses.asdict(cfg)


def build(name: str, config: dict):
    """Instantiate model `name` from a resolved config dict (see resolve_config)."""
    e = entry(name)
    try:
        return e.build(e.config_cls(**config))
    except ValueError as exc:
        raise UserError(f"model[{name}]: {exc}") from exc
