"""`swarm-bench suite=<name> [model=<name>] [key=value ...]`: compose, build the suite's points,
run them (here, or with a launcher), print the summary table and say where the records are.

The top-level keys (device, dtype, seed, ...) are `TopConfig`, with their defaults and help in
`conf/config.yaml`. Exit code 0 when every point ended `ok` or `oom` (or was done before),
1 when any point ended `error`, `crashed` or `timeout`, 2 for a user mistake (a UserError).
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

import pandas as pd

from harness.errors import UserError
from harness.run import isolation, launchers, runner
from harness.run.config import compose_config, to_container
from harness.store.lock import StoreLock, check_usable
from harness.store.points import Point, point_id
from harness.structured import from_mapping
from suites import registry as suites
from suites.common import RunContext, apply_profile

DTYPES = ("auto", "fp32", "bf16", "fp16")
SUMMARY_COLUMNS = ["model", "mode", "batch_size", "seq_len", "status", "latency_ms_p50", "spread_%", "peak_mb",
                   "tokens_per_s", "backend", "note"]
DECODE_COLUMNS = ["cuda_graphs", "prefill_ms_p50", "state_mb"]  # shown when the suite has them


@dataclass
class TopConfig:
    """The top-level keys; defaults and their meaning in conf/config.yaml."""
    device: str
    dtype: str
    seed: int
    vocab_size: int
    results_dir: str
    force: bool
    progress: bool
    dry_run: bool
    isolation: str
    wait: bool
    profile: bool


def resolve_device(requested: str) -> str:
    import torch

    has_cuda = torch.cuda.is_available()
    if requested == "auto":
        return "cuda" if has_cuda else "cpu"
    kind, _, index = requested.partition(":")
    if kind not in ("cpu", "cuda") or (index and (kind == "cpu" or not index.isdigit())):
        raise UserError(f"device={requested!r}; valid: auto, cpu, cuda, cuda:N")
    if kind == "cuda" and not has_cuda:
        raise UserError(f"device={requested!r} but no CUDA device is visible; valid here: auto, cpu")
    if index and int(index) >= torch.cuda.device_count():
        raise UserError(f"device={requested!r} but only {torch.cuda.device_count()} CUDA device(s) are visible")
    return requested


def resolve_dtype(requested: str, device: str) -> str:
    if requested not in DTYPES:
        raise UserError(f"dtype={requested!r}; valid: {', '.join(DTYPES)}")
    if requested == "auto":
        return "bf16" if device.startswith("cuda") else "fp32"
    return requested


def model_choice(model_cfg: dict | None) -> dict | None:
    """The `model=` group as {name, preset, overrides} (null values mean "the preset's")."""
    if not model_cfg:
        return None
    from models import registry as models

    fixed = {"name", "preset"}
    overrides = {k: v for k, v in model_cfg.items() if k not in fixed and v is not None}
    schema = models.entry(model_cfg["name"]).config_cls
    known = {f.name for f in dataclasses.fields(schema)}
    typed = {k: v for k, v in overrides.items() if k in known}
    if typed:  # types checked against the model's config dataclass, as the suites' keys are
        checked = from_mapping(_optional_fields(schema), typed, where=f"model[{model_cfg['name']}]")
        overrides.update({k: getattr(checked, k) for k in typed})
    return {"name": model_cfg["name"], "preset": model_cfg.get("preset"), "overrides": overrides}


def _optional_fields(schema: type) -> type:
    """`schema` with every field optional (None default): overrides name only some keys."""
    from typing import Optional, get_type_hints

    hints = get_type_hints(schema)
    return dataclasses.make_dataclass(f"{schema.__name__}Overrides",
                                      [(f.name, Optional[hints[f.name]], None) for f in dataclasses.fields(schema)])


def summary_table(rows: list[dict]) -> str:
    df = pd.DataFrame(rows)
    if df.empty:
        return "(no points)"
    peak = df.get("peak_alloc_mb")
    df["peak_mb"] = peak.fillna(df.get("peak_rss_mb")) if peak is not None else df.get("peak_rss_mb")
    df["spread_%"] = 100 * df.get("latency_iqr_over_median", pd.Series(dtype=float))
    columns = SUMMARY_COLUMNS[:6] + [c for c in DECODE_COLUMNS if c in df and df[c].notna().any()] + SUMMARY_COLUMNS[6:]
    for column in columns:
        if column not in df:
            df[column] = None
    return df[columns].to_string(index=False, na_rep="-", float_format=lambda v: f"{v:,.4g}")


def suites_of(rows: list[dict], default: str) -> list[str]:
    """The store folders a sweep wrote to (suite=claims writes to its sub-runs' suites)."""
    return sorted({r["suite"] for r in rows if r.get("suite")}) or [default]


def top_config(cfg: dict) -> TopConfig:
    """The top-level keys of a composed config (the groups left out), type-checked."""
    return from_mapping(TopConfig, {k: v for k, v in cfg.items() if k not in ("suite", "model", "launcher")},
                        where="config")


def build(cfg: dict, ctx: RunContext | None = None, where: str = "suite"):
    """A composed config -> (suite entry, params, context, points, profile description)."""
    suite_cfg, model_cfg = cfg.pop("suite"), cfg.pop("model", None)
    cfg.pop("launcher", None)
    if ctx is None:
        top = top_config(cfg)
        if top.vocab_size < 2:
            raise UserError(f"vocab_size={top.vocab_size} is impossible: must be >= 2")
        device = resolve_device(top.device)
        ctx = RunContext(device=device, dtype=resolve_dtype(top.dtype, device), seed=top.seed,
                         vocab_size=top.vocab_size, model_choice=None)
        ctx = dataclasses.replace(ctx, expand=_expander(ctx))
    suite = suites.entry(suite_cfg.get("name"))
    params = from_mapping(suite.params_cls, suite_cfg, where=where)
    ctx = dataclasses.replace(ctx, model_choice=model_choice(model_cfg))
    points, description = suite.build_points(params, ctx)
    check_models(points)
    return suite, params, ctx, points, description


def check_models(points: list[Point]) -> None:
    """Every model of the points builds (on the meta device; counts are remembered, so this is
    a file read after the first run): a config no model accepts is one line here, not an
    `error` record per point after its worker started."""
    from models import matching

    seen = set()
    for point in points:
        name, config = point.config.get("model"), point.config.get("model_config")
        key = json.dumps([name, config], sort_keys=True, default=str)
        if name and config is not None and key not in seen:
            seen.add(key)
            matching.count_params(name, config)


def _expander(ctx: RunContext):
    """RunContext.expand for suite=claims: a sub-run's overrides -> its points on `ctx`."""
    def expand(overrides: list[str]) -> list[Point]:
        cfg = to_container(compose_config(overrides))
        if cfg["suite"].get("name") == "claims":
            raise UserError("suite=claims cannot run itself")
        return build(cfg, ctx, where="suite")[3]
    return expand


def show_config(cfg: dict) -> int:
    """Print the values a run of `cfg` would use: the device and dtype resolved, the suite's
    device profile applied, the number of points."""
    from omegaconf import OmegaConf

    top, launcher = top_config(cfg), cfg.get("launcher")
    _, params, ctx, points, description = build(dict(cfg))
    params = apply_profile(params, ctx.device_type, may_stay_none=tuple(f.name for f in dataclasses.fields(params)))[0]
    if ctx.model_choice and hasattr(params, "models"):  # as the suites narrow it (suites.common)
        params.models = [ctx.model_choice["name"]]
    resolved = {**dataclasses.asdict(top), "device": ctx.device, "dtype": ctx.dtype,
                "suite": {k: v for k, v in dataclasses.asdict(params).items() if k != "profiles"},
                "model": ctx.model_choice, "launcher": launcher}
    print(f"# suite {params.name!r} on {ctx.device} ({ctx.dtype}): {len(points)} points"
          + (f"; {description}" if description else ""))
    print(OmegaConf.to_yaml(resolved), end="")
    return 0


def run(cfg: dict, early: isolation.WarmWorker | None = None) -> int:
    """Run a composed config's sweep; `early`: a warm worker the command line started ahead
    (kept for a local isolation=chain run, ended otherwise)."""
    return run_many([cfg], early)


def run_many(cfgs: list[dict], early: isolation.WarmWorker | None = None, title: str | None = None,
             tags: list[str] | None = None) -> int:
    """Run the points of several composed configs (a multirun's combinations, harness.run.multirun,
    each with its `tags` appended to its points' labels) as one sweep: one store, one lock, one
    summary. They share the run-level keys."""
    try:
        top = top_config(cfgs[0])
        if not top.results_dir.strip():
            raise UserError("results_dir is empty; give the store's directory, e.g. results_dir=results")
        if top.isolation not in isolation.MODES:
            raise UserError(f"isolation={top.isolation!r}; valid: {', '.join(isolation.MODES)}")
        launcher = cfgs[0].get("launcher")
        local = not launcher or launcher.get("name", "local") == "local"
        wanted = local and top.isolation == "chain" and not top.dry_run
        if early is not None and not wanted:
            early.close()
            early = None
        if wanted and early is None:  # it imports while this process sizes the models and plans
            early = isolation.start_early()
        name, rows = _run_points(cfgs, top, launcher if not local else None, early, title, tags or [""] * len(cfgs))
    finally:
        if early is not None:
            early.close()
    if rows is None:  # dry run
        return 0
    statuses = pd.Series([r.get("status") for r in rows]).value_counts().to_dict()
    print("status: " + ", ".join(f"{k} {v}" for k, v in statuses.items())
          + f"; records in {', '.join(f'{top.results_dir}/{name}/' for name in suites_of(rows, name))}"
          " (load with harness.store.results.load())")
    return exit_code(statuses)


def _run_points(cfgs: list[dict], top: TopConfig, launcher: dict | None, early: isolation.WarmWorker | None,
                title: str | None, tags: list[str]):
    """Build every config, then plan (dry run: rows None) or run their points (each once);
    print the summary table. Returns (the first suite's name, rows)."""
    built = [build(dict(cfg)) for cfg in cfgs]
    tagged = [dataclasses.replace(p, label=f"{p.label} [{tag}]") if tag else p
              for b, tag in zip(built, tags) for p in b[3]]
    points = list({point_id(p.config): p for p in tagged}.values())
    params, ctx = built[0][1], built[0][2]
    folders = sorted({p.config["suite"] for p in points}) or [params.name]
    where = ", ".join(f"{top.results_dir}/{name}/" for name in folders)
    if title:
        print(f"multirun, {title}: {len(points)} points -> {where}")
    else:
        print(f"suite {params.name!r} on {ctx.device} ({ctx.dtype}): {len(points)} points -> {where}")
    for description in dict.fromkeys(b[4] for b in built if b[4]):
        print(description)
    if top.dry_run:
        for point, state in zip(points, runner.plan(points, top.results_dir, top.force)):
            size = sizes(point)
            print(f"  {point.label}: {state}" + (f"  [{size}]" if size else ""))
        return params.name, None
    if launcher and top.profile:
        raise UserError("profile=true runs with the local launcher; drop launcher= (or profile=true)")
    store = check_usable(top.results_dir)  # before the first point, not after it is measured
    with StoreLock(store, wait=top.wait):
        if launcher:
            rows = launchers.run(launcher, points, top.results_dir, runner.new_run_id(), top.force, top.progress,
                                 top.isolation)
        else:
            rows = runner.run_sweep(points, store=top.results_dir, force=top.force, progress=top.progress,
                                    isolation=top.isolation, worker=early, profile=top.profile)
        print(summary_table(rows))
        for each_suite, each_params in {b[1].name: (b[0], b[1]) for b in built}.values():
            if each_suite.after_run:
                each_suite.after_run(each_params, top.results_dir)
    return params.name, rows


SIZE_KEYS = ("d_model", "n_layer", "n_head", "n_encoders", "top_k", "encoder_layers", "n_experts")


def sizes(point: Point) -> str:
    """A point's model in a few words: its size keys and parameter counts (total, active)."""
    from models import matching

    name, config = point.config.get("model"), point.config.get("model_config")
    if not name or not isinstance(config, dict):
        return ""
    keys = " ".join(f"{k}={config[k]}" for k in SIZE_KEYS if k in config)
    total, active = (matching.count_params(name, config, active=a) for a in (False, True))
    counts = f"{total / 1e6:.2f}M params" + (f", {active / 1e6:.2f}M active" if active != total else "")
    return f"{keys}; {counts}"


def exit_code(statuses: dict[str, int]) -> int:
    """0 when every point ended ok or oom (or was done before, or not run after such a
    failure of its stop group); 1 when any ended error, crashed or timeout."""
    return 1 if any(statuses.get(s) for s in ("error", "crashed", "timeout")) else 0
