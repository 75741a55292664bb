"""Autoregressive generation: prefill latency, per-token decode latency, tokens/s and the bytes
of the KV cache or recurrent state, per model, context length and batch size; and per model the
largest batch that fits, as a throughput point (harness.tasks.decode measures each point).

Points:
- latency: models x cuda_graphs x batch_sizes x contexts, contexts shortest first and stopped
  at the first failure per (model, graphs, batch). `cuda_graphs=true` points exist for models
  whose step can have static shapes: Mamba, the Mamba swarm, and the Transformer, which then
  decodes from transformers' StaticCache (preallocated for prompt + generated tokens) instead
  of its DynamicCache; so the Transformer comparisons exist graphed on both sides and eager on
  both sides (Mamba-MoE has no graphed step).
- max batch: per model and cuda_graphs setting, `max_batch_sizes` in increasing order at
  `max_batch_context` with `max_batch_gen_tokens` generated (the setting of Mamba's "5x
  generation throughput", prompt 2048 / 128 generated), stopped at the first failure per
  (model, graphs): the last `ok` is the largest batch that fits, its generation tokens/s the
  model's throughput with and without CUDA graphs; each in `max_batch_repeats` processes
  (suites.common.with_repeats), the spread the throughput verdict reads.
Baselines with a depth (`n_layer`) are sized to the first model by `match`; the swarm keeps its
preset, and every record carries its parameter counts.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch

from harness.store.points import Point
from models import generation, matching, registry
from suites import registry as suite_registry
from suites.common import (
    RunContext,
    TimingParams,
    apply_profile_and_model,
    measurement_point,
    require,
    with_repeats,
)

MATCHES = ("none", "params_total", "params_active")
TASK = "harness.decode:measure_decode"


@dataclass(kw_only=True)
class DecodeParams(TimingParams):
    name: str
    models: Optional[list[str]] = None  # the first is the reference; baselines with n_layer are matched to it
    match: str = "params_active"
    preset: Optional[str] = None  # tiny | small | base
    contexts: Optional[list[int]] = None  # prompt lengths
    batch_sizes: Optional[list[int]] = None
    gen_tokens: Optional[int] = None  # decode steps timed per generation
    decode_repeats: Optional[int] = None  # timed generations, after one untimed
    cuda_graphs: Optional[list[bool]] = None  # settings to measure, e.g. [false, true]; true only where the step is static
    max_batch_context: Optional[int] = None  # largest-batch sweep: prompt length,
    max_batch_sizes: Optional[list[int]] = None  # batch sizes in order per (model, graphs) until one fails ([] skips),
    max_batch_gen_tokens: Optional[int] = None  # and tokens generated
    max_batch_repeats: int = 1  # processes per largest-batch point (the throughput verdict reads their spread)


def _validate(p: DecodeParams) -> None:
    require(bool(p.models), "suite.models is empty; valid: " + ", ".join(registry.MODELS))
    for model in p.models:
        registry.entry(model)
    require(p.match in MATCHES, f"suite.match={p.match!r}; valid: {', '.join(MATCHES)}")
    for key in ("contexts", "batch_sizes", "max_batch_sizes"):
        values = getattr(p, key)
        require(bool(values) or key == "max_batch_sizes", f"suite.{key} is empty")
        bad = [v for v in values if v < 1]
        require(not bad, f"suite.{key} has impossible values {bad}: must be >= 1")
    for key in ("gen_tokens", "decode_repeats", "iters", "max_batch_context", "max_batch_gen_tokens"):
        require(getattr(p, key) >= 1, f"suite.{key}={getattr(p, key)} is impossible: must be >= 1")
    require(p.warmup >= 0, f"suite.warmup={p.warmup} is impossible: must be >= 0")
    require(p.timeout_s > 0, f"suite.timeout_s={p.timeout_s} is impossible: must be > 0")
    require(bool(p.cuda_graphs), "suite.cuda_graphs is empty; valid: [false], [true] or [false, true]")
    require(p.max_batch_repeats >= 1, f"suite.max_batch_repeats={p.max_batch_repeats} is impossible: must be >= 1")


def _configs(p: DecodeParams, ctx: RunContext) -> dict[str, dict]:
    choice = ctx.model_choice or {}
    overrides = {"vocab_size": ctx.vocab_size, **choice.get("overrides", {})}
    configs = {name: registry.resolve_config(name, p.preset, overrides) for name in p.models}
    if p.match != "none":
        active = p.match == "params_active"
        target = matching.count_params(p.models[0], configs[p.models[0]], active=active)
        for name in p.models[1:]:
            if "n_layer" in configs[name]:
                configs[name] = matching.match_depth(name, configs[name], target, active=active)
    return configs


def _graph_settings(p: DecodeParams, name: str, config: dict) -> list[bool]:
    """The requested cuda_graphs settings this model can run (True only with a static-shape step)."""
    with torch.device("meta"):
        capturable = generation.supports_cuda_graphs(registry.build(name, config))
    return [g for g in dict.fromkeys(p.cuda_graphs) if capturable or not g]


def build_points(params: DecodeParams, ctx: RunContext) -> tuple[list[Point], str | None]:
    params, description = apply_profile_and_model(params, ctx)
    _validate(params)
    require(ctx.device_type == "cuda" or not any(params.cuda_graphs),
            f"suite.cuda_graphs={params.cuda_graphs}: CUDA graphs need device=cuda; use [false] on {ctx.device}")
    configs = _configs(params, ctx)
    points, max_batch = [], []
    for name in params.models:
        settings = _graph_settings(params, name, configs[name])
        for graphs in settings:
            for batch in params.batch_sizes:
                group = f"{name}/graphs={graphs}/B={batch}"
                for context in sorted(set(params.contexts)):
                    points.append(measurement_point(
                        params, ctx, name, configs[name], "decode", context, stop_group=group, batch_size=batch,
                        label=f"{name} decode L={context} B={batch}{' graphs' if graphs else ''}", task=TASK,
                        gen_tokens=params.gen_tokens, decode_repeats=params.decode_repeats, cuda_graphs=graphs,
                        sweep="latency"))
        for graphs in settings:
            for batch in sorted(set(params.max_batch_sizes)):
                max_batch.append(measurement_point(
                    params, ctx, name, configs[name], "decode", params.max_batch_context,
                    stop_group=f"{name}/graphs={graphs}/max_batch", batch_size=batch, task=TASK,
                    label=f"{name} max-batch L={params.max_batch_context} B={batch}{' graphs' if graphs else ''}",
                    gen_tokens=params.max_batch_gen_tokens, decode_repeats=1, cuda_graphs=graphs,
                    sweep="max_batch"))
    max_batch_processes = max(params.repeats, params.max_batch_repeats)
    return with_repeats(points, params.repeats) + with_repeats(max_batch, max_batch_processes), description


suite_registry.register("decode", DecodeParams, build_points,
                        summary="prefill and per-token decode latency, state bytes, largest batch")
