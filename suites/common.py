"""What every suite shares: the run context and device profiles.

A suite's YAML leaves sizes `null` and lists them per device type under `profiles`, so the
same `suite=scaling` runs a CPU-sized sweep on a laptop and the full sweep on a GPU; a value
set on the command line (`suite.seq_lens=[1024,4096]`) always wins over the profile.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Callable, Optional

from harness.errors import UserError
from harness.store.points import Point
from harness.structured import from_mapping


@dataclass(frozen=True)
class RunContext:
    device: str  # resolved: cpu | cuda | cuda:N
    dtype: str  # resolved: fp32 | bf16 | fp16
    seed: int
    vocab_size: int
    model_choice: dict | None  # from the `model=` group: {name, preset, overrides}, or None
    # overrides as typed after `run.py` -> that sub-run's points on this context (suite=claims);
    # given by the command line, so suites never import it
    expand: Optional[Callable[[list[str]], list[Point]]] = None

    @property
    def device_type(self) -> str:
        return self.device.split(":")[0]


@dataclass(kw_only=True)
class TimingParams:
    """Timing settings every measuring suite has; `None` means "from the device profile"."""
    warmup: Optional[int] = None  # prefill warm-up calls
    iters: Optional[int] = None  # timed prefill calls
    max_time_s: Optional[float] = None  # time cap on the timed iterations of one point (at least 3 run)
    energy_min_s: Optional[float] = None  # NVML energy window per point (GPU only)
    timeout_s: Optional[float] = None  # per point, spawn to exit; the process group is killed after it
    repeats: Optional[int] = None  # processes per point (1 when no profile sets it); verdicts read their spread
    profiles: dict = field(default_factory=dict)  # device type -> values for the None fields


def _fill(current: dict, profile: dict, nested: dict, where: str) -> dict:
    """`current` with its None values taken from `profile`; fields holding a dataclass
    (`nested`: name -> instance) are filled key by key, every other field as a whole."""
    filled = dict(current)
    for key, value in profile.items():
        if key not in current or key in ("name", "profiles"):
            valid = ", ".join(sorted(set(current) - {"name", "profiles"}))
            raise UserError(f"unknown key {where}.{key}; valid: {valid}")
        if key in nested and isinstance(value, dict):
            inner = dataclasses.asdict(nested[key])
            filled[key] = _fill(inner, value, {}, f"{where}.{key}")
        elif current[key] is None:
            filled[key] = value
    return filled


def apply_profile(params, device_type: str, may_stay_none: tuple[str, ...] = ("preset", "repeats")):
    """The one profile resolver: the `None` fields of a suite's params (and of its nested
    settings) from `params.profiles[device_type]`, checked against the params' schema; every
    field but `may_stay_none` must then be set. Values set on the command line win."""
    profile = dict(params.profiles.get(device_type) or {})
    description = profile.pop("description", None)
    nested = {f.name: getattr(params, f.name) for f in dataclasses.fields(params)
              if dataclasses.is_dataclass(getattr(params, f.name))}
    values = _fill(dataclasses.asdict(params), profile, nested, f"suite.profiles.{device_type}")
    resolved = from_mapping(type(params), values, where="suite")
    for f in dataclasses.fields(resolved):
        value = getattr(resolved, f.name)
        unset = [f.name] if value is None else \
            [f"{f.name}.{k}" for k, v in dataclasses.asdict(value).items() if v is None] if f.name in nested else []
        if unset and f.name not in may_stay_none:
            raise UserError(f"suite.{unset[0]} is not set and suite {params.name!r} has no {device_type} "
                            "profile value for it")
    if isinstance(resolved, TimingParams):
        if resolved.repeats is None:
            resolved.repeats = 1  # one process per point unless asked
        check_timing(resolved)
    return resolved, description


def check_timing(p: TimingParams) -> None:
    for key, low, strict in (("warmup", 0, False), ("iters", 1, False), ("max_time_s", 0, False),
                             ("energy_min_s", 0, False), ("timeout_s", 0, True), ("repeats", 1, False)):
        value = getattr(p, key)
        if value is not None and (value <= low if strict else value < low):
            raise UserError(f"suite.{key}={value} is impossible: must be {'>' if strict else '>='} {low}")


def apply_profile_and_model(params, ctx: RunContext):
    """`apply_profile`, then `model=` on the command line narrows `models` to that one model
    (and its preset, when given)."""
    params, description = apply_profile(params, ctx.device_type)
    if ctx.model_choice:
        params.models = [ctx.model_choice["name"]]
        params.preset = ctx.model_choice.get("preset") or params.preset
    return params, description


def require(condition: bool, message: str) -> None:
    if not condition:
        raise UserError(message)


def with_repeats(points: list[Point], repeats: int | None) -> list[Point]:
    """`points` (the first process of each) followed by `repeats - 1` more rounds of them, round r
    marked `repeat=r` in the config (the first round has no `repeat` key, so its ids are those
    of an unrepeated sweep) and its own stop groups. harness.run.isolation runs each round in
    other processes; the runner skips a repeat whose first process failed."""
    rounds = [points]
    for r in range(1, repeats or 1):
        rounds.append([Point({**p.config, "repeat": r}, p.timeout_s, None if p.stop_group is None else f"{p.stop_group}#{r}",
                             f"{p.label} #{r}") for p in points])
    return [p for round_points in rounds for p in round_points]


def measurement_point(params, ctx: RunContext, model: str, config: dict, mode: str, seq_len: int,
                      stop_group: str | None, label: str, batch_size: int | None = None,
                      task: str = "harness.measure:measure_model", **extra) -> Point:
    """One measurement point (by default `harness.measure:measure_model`) with the suite's
    timing settings (batch size: `batch_size`, else the suite's)."""
    point = {
        "suite": params.name, "task": task, "model": model,
        "model_config": config, "mode": mode, "batch_size": batch_size or params.batch_size,
        "seq_len": seq_len, "device": ctx.device, "dtype": ctx.dtype, "seed": ctx.seed,
        "warmup": params.warmup, "iters": params.iters, "max_time_s": params.max_time_s,
        "energy_min_s": params.energy_min_s, **extra,
    }
    return Point(point, params.timeout_s, stop_group=stop_group, label=label)
