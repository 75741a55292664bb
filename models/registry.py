"""The model registry: every measurable model family, its presets and how to build it.

Adding a model is one file plus one `ModelEntry` here. A name may be a variant of a family
with fixed options (e.g. `transformer_eager`). Values arrive type-checked by the caller (the
harness checks overrides against the config dataclass); this module checks names and ranges.
"""
from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any, Callable

from models import hf_model, mamba_lm, mamba_moe, swarm, transformer
from models.errors import ModelConfigError
from models.swarm import full_attention_pool


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
    ModelEntry("transformer_swarm_full", swarm.SwarmConfig, full_attention_pool.FullAttentionSwarmLM,
               full_attention_pool.PRESETS, linear_time=False,
               fixed={"encoder_type": "transformer"}),  # every encoder over the whole prefix, eager: runs x O(L^2)
    ModelEntry("hf", hf_model.HFConfig, hf_model.HFCausalLM, hf_model.PRESETS,
               linear_time=False),  # any transformers causal LM; its lengths are not extended, even for a Mamba
]}


# Integer config fields where 0 means something (off, or "the default size"); every other
# integer field (sizes, counts, lengths) must be >= 1.
ZERO_ALLOWED = frozenset({"d_ff", "generalists", "share_rank", "min_capacity", "capacity_window"})


def entry(name: str) -> ModelEntry:
    if name not in MODELS:
        raise ModelConfigError(f"unknown model {name!r}; valid: {', '.join(MODELS)}")
    return MODELS[name]


def _config(cls: type, values: dict, where: str):
    """The default `cls` with `values` replaced; an unknown key names the valid ones. An int
    given for a float field becomes a float, so a resolved config has one spelling."""
    hints = typing.get_type_hints(cls)
    names = sorted(f.name for f in dataclasses.fields(cls) if f.init)
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise ModelConfigError(f"unknown key {where}.{unknown[0]}; valid keys: {', '.join(names)}")
    widened = {k: float(v) if hints[k] is float and type(v) is int else v for k, v in values.items()}
    return dataclasses.replace(cls(), **widened)


def resolve_config(name: str, preset: str, overrides: dict | None = None) -> dict:
    """The full, validated config of model `name` at `preset` with `overrides`, as a plain dict."""
    e = entry(name)
    if preset not in e.presets:
        raise ModelConfigError(f"unknown preset {preset!r} for model {name!r}; valid: {', '.join(e.presets)}")
    cfg = _config(e.config_cls, {**e.presets[preset], **(overrides or {}), **e.fixed}, where=f"model[{name}]")
    for key, value in dataclasses.asdict(cfg).items():
        if isinstance(value, int) and not isinstance(value, bool) and value < (0 if key in ZERO_ALLOWED else 1):
            raise ModelConfigError(f"model[{name}].{key}={value} is impossible: must be >= "
                                   f"{0 if key in ZERO_ALLOWED else 1}")
    return dataclasses.asdict(cfg)


def build(name: str, config: dict):
    """Instantiate model `name` from a resolved config dict (see resolve_config)."""
    e = entry(name)
    try:
        return e.build(e.config_cls(**config))
    except ValueError as exc:
        raise ModelConfigError(f"model[{name}]: {exc}") from exc
