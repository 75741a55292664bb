"""Encoder-count scaling of the swarm: latency, memory and tokens/s vs N (encoders) and k (top-k),
next to a single Mamba LM and Transformers matched to the swarm's active or total parameters.

Points:
- swarm: every (N, k) with k <= N, at each sequence length, forward and training step
  (`train_top_k` restricts which k get a training point); the seeds claim cost is set by k,
  not N, so these should be flat in N;
- `loop_n_encoders`: the same swarm with the per-encoder loop instead of grouped dispatch, to
  show what grouping buys;
- baselines, each `{model, match, by}`: `params_active` ones are sized to the swarm with the
  largest N at each k, `params_total` ones to the swarm with the largest k at each N in
  `total_match_n_encoders` (their size grows with N, so width is the natural knob);
- `repeats`: every point in that many processes (suites.common.with_repeats).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from harness.store.points import Point, point_id
from models import matching, registry
from suites import registry as suite_registry
from suites.common import RunContext, TimingParams, apply_profile, measurement_point, require, with_repeats

MODES = ("forward", "train")
MATCHES = ("params_active", "params_total")
SWARMS = ("swarm", "mamba2_swarm", "transformer_swarm")


@dataclass(kw_only=True)
class EncodersParams(TimingParams):
    name: str
    modes: list[str]
    swarm_model: str = "swarm"  # swarm (Mamba encoders) | mamba2_swarm (run encoder by encoder) | transformer_swarm
    swarm: Optional[dict] = None  # SwarmConfig overrides on top of `preset`
    baselines: list[dict] = field(default_factory=list)  # {model, match, by}
    preset: Optional[str] = None
    n_encoders: Optional[list[int]] = None
    top_k: Optional[list[int]] = None
    train_top_k: Optional[list[int]] = None  # k values that also get a training-step point (null: all)
    loop_n_encoders: Optional[list[int]] = None  # N values also measured with the per-encoder loop (forward)
    total_match_n_encoders: Optional[list[int]] = None  # N values that get a total-parameter-matched baseline (null: all)
    seq_lens: Optional[list[int]] = None
    batch_size: Optional[int] = None


def _validate(p: EncodersParams) -> None:
    require(p.swarm_model in SWARMS, f"suite.swarm_model={p.swarm_model!r}; valid: {', '.join(SWARMS)}")
    bad = [m for m in p.modes if m not in MODES]
    require(not bad and bool(p.modes), f"suite.modes has {bad or 'nothing'}; valid: {', '.join(MODES)}")
    for key in ("n_encoders", "top_k", "seq_lens"):
        values = getattr(p, key)
        require(bool(values), f"suite.{key} is empty")
        require(min(values) >= 1, f"suite.{key} has impossible values {[v for v in values if v < 1]}: must be >= 1")
    require(p.batch_size >= 1, f"suite.batch_size={p.batch_size} is impossible: must be >= 1")
    for key in ("train_top_k", "loop_n_encoders", "total_match_n_encoders"):  # filters: may name unswept values
        bad = [v for v in getattr(p, key) or [] if v < 1]
        require(not bad, f"suite.{key} has impossible values {bad}: must be >= 1")
    for b in p.baselines:
        require(set(b) <= {"model", "match", "by"} and "model" in b,
                f"suite.baselines entry {b}: expected keys model, match (params_active|params_total), by (depth|width)")
        registry.entry(b["model"])
        require(b.get("match", "params_active") in MATCHES,
                f"suite.baselines match={b.get('match')!r}; valid: {', '.join(MATCHES)}")
        require(b.get("by", "depth") in matching.MATCH_BY,
                f"suite.baselines by={b.get('by')!r}; valid: {', '.join(matching.MATCH_BY)}")


def _swarm_config(params: EncodersParams, ctx: RunContext, n: int, k: int, **more) -> dict:
    overrides = {"vocab_size": ctx.vocab_size, **params.swarm, "n_encoders": n, "top_k": k, **more}
    return registry.resolve_config(params.swarm_model, params.preset, overrides)


def _baseline_config(params: EncodersParams, ctx: RunContext, baseline: dict, target: dict) -> dict:
    width = {"d_model": params.swarm["d_model"]} if "d_model" in params.swarm else {}
    base = registry.resolve_config(baseline["model"], params.preset, {"vocab_size": ctx.vocab_size, **width})
    return matching.match_to(baseline["model"], base, params.swarm_model, target,
                             kind=baseline.get("match", "params_active"), by=baseline.get("by", "depth"))


def build_points(params: EncodersParams, ctx: RunContext) -> tuple[list[Point], str | None]:
    params, description = apply_profile(params, ctx.device_type)
    _validate(params)
    points, seen = [], set()

    def add(model, config, tag, modes=params.modes, **extra):
        for mode in modes:
            for seq_len in params.seq_lens:
                point = measurement_point(params, ctx, model, config, mode, seq_len, stop_group=f"{tag}/{mode}/L={seq_len}",
                                          label=f"{tag} {mode} L={seq_len}", **extra)
                if point_id(point.config) not in seen:  # one baseline may match several swarms
                    seen.add(point_id(point.config))
                    points.append(point)

    for k in params.top_k:
        for n in params.n_encoders:
            if k > n:
                continue
            modes = [m for m in params.modes if m == "forward" or params.train_top_k is None or k in params.train_top_k]
            add(params.swarm_model, _swarm_config(params, ctx, n, k), f"{params.swarm_model} N={n} k={k}", modes)
    for n in params.loop_n_encoders or []:
        k = max(x for x in params.top_k if x <= n)
        add(params.swarm_model, _swarm_config(params, ctx, n, k, pool_backend="loop"),
            f"{params.swarm_model}-loop N={n} k={k}", ["forward"])
    n_max, k_max = max(params.n_encoders), max(params.top_k)
    for b in params.baselines:
        if b.get("match", "params_active") == "params_active":
            for k in params.top_k:
                target = _swarm_config(params, ctx, n_max, min(k, n_max))
                add(b["model"], _baseline_config(params, ctx, b, target), f"{b['model']} active(k={k})",
                    matched_to=f"params_active of swarm N={n_max} k={min(k, n_max)}")
        else:
            for n in params.total_match_n_encoders or params.n_encoders:
                target = _swarm_config(params, ctx, n, min(k_max, n))
                add(b["model"], _baseline_config(params, ctx, b, target), f"{b['model']} total(N={n})",
                    matched_to=f"params_total of swarm N={n} k={min(k_max, n)}")
    return with_repeats(points, params.repeats), description


suite_registry.register("encoders", EncodersParams, build_points,
                        summary="the swarm's encoder count N and top-k vs matched baselines")
