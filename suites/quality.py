"""Quality at matched budgets: every model trained from scratch on the same corpus, tokenizer,
token budget and seeds, then scored on the same held-out text (harness.tasks.corpus_quality); and, as the
`synthetic` part, every model trained on each synthetic task and probed for accuracy against
sequence length (harness.tasks.synthetic). The other parts: `lr_sweep` (every entry at each of
`lr_sweep`'s rates, scored on the validation split only; the chosen rates go to `lr_by_model`),
`features` (`feature_models`, the swarm's features against swarm-5, at `feature_size`) and
`calibration` (suites.quality_calibration: the synthetic tasks at published settings). With
`sizes`, every entry runs at each size, whose overrides apply to all entries before their own.
`only` narrows every part but calibration to some labels; the other entries still size the
matched ones (a Transformer matched to swarm-25 needs swarm-25's config, not its runs), and in
the features part a variant's baseline runs with it.

`models` entries are `{model, label, overrides, match, by, target}`: the first entry is the
reference; an entry with `match` (params_active | params_total) is sized to the entry labelled
`target` (default: the first) by depth or width. Swarms get the corpus's domains as their
specialist domains unless their overrides say otherwise, so the router learns the domains.

With `keep_checkpoints`, the corpus points of the models transformers can save (KEEPABLE) carry
`keep_checkpoint: true` and save their trained model beside their record
(harness.tasks.corpus_quality; the runner tells a task where its record goes); the key is absent
otherwise, so the ids of points that keep nothing do not change.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from harness.analysis import quality_report
from harness.quality import tokenizer
from harness.quality.corpus_build import load_manifest
from harness.quality.synthetic_tasks import TASKS
from harness.store.points import Point, point_id
from models import matching, registry
from suites import registry as suite_registry
from suites.common import RunContext, apply_profile, require
from suites.quality_calibration import CalibrationBudget, calibration_points

SWARMS = ("swarm", "transformer_swarm")
KEEPABLE = SWARMS + ("transformer",)  # save_pretrained: models.swarm.hf_swarm, or the Transformer's LlamaForCausalLM
ENTRY_KEYS = {"model", "label", "overrides", "match", "by", "target", "baseline"}  # baseline: feature_models only
PARTS = ("corpus", "synthetic", "lr_sweep", "features", "calibration")


@dataclass(kw_only=True)
class SyntheticSettings:
    """The synthetic part's settings (harness.quality.synthetic_tasks); None: from the profile."""
    tasks: list[str] = field(default_factory=lambda: list(TASKS))
    train_lengths: Optional[list[int]] = None  # training cycles through these
    eval_lengths: Optional[list[int]] = None  # accuracy at each; beyond max(train_lengths) is extrapolation
    steps: Optional[int] = None
    batch_size: Optional[int] = None
    lr: Optional[float] = None
    eval_every: Optional[int] = None  # steps between accuracy probes at the longest training length
    eval_batches: Optional[int] = None  # batches scored per evaluation length


@dataclass(kw_only=True)
class QualityParams:
    name: str
    corpus: str = "data/corpus"
    tokenizer: str = "bpe16384"
    models: list[dict] = field(default_factory=list)
    parts: list[str] = field(default_factory=lambda: list(PARTS))
    synthetic: SyntheticSettings = field(default_factory=SyntheticSettings)
    preset: Optional[str] = None
    seeds: Optional[list[int]] = None
    train_tokens: Optional[int] = None
    batch_size: Optional[int] = None
    context: Optional[int] = None
    lr: Optional[float] = None
    eval_every: Optional[int] = None
    eval_tokens: Optional[int] = None  # validation tokens per domain at each
    test_tokens: Optional[int] = None  # per domain; null: the whole test split
    max_wall_s: Optional[float] = None  # optional wall-clock cap per model
    sizes: Optional[list[dict]] = None  # [{label, overrides}]: every entry at each size; None or []: one size
    # typed Any, checked in _lr: OmegaConf cannot merge a command-line mapping into a None dict node
    lr_by_model: Any = None  # label or model name -> learning rate (else `lr`)
    lr_by_size: Any = None  # size label -> {label or model name -> rate}, read before lr_by_model
    lr_sweep: list[float] = field(default_factory=list)  # the lr_sweep part: these rates, scored on val only
    lr_sweep_tokens: Optional[int] = None  # its token budget per run
    lr_sweep_sizes: Optional[list[str]] = None  # the size labels it runs at; None: the first size
    feature_models: list[dict] = field(default_factory=list)  # the features part: entries as `models`
    feature_size: Optional[str] = None  # the label in `sizes` the features part runs at; None: the last
    calibration: list[dict] = field(default_factory=list)  # the calibration part (suites.quality_calibration)
    calibration_seeds: Optional[list[int]] = None  # its seeds
    calibration_only: list[str] = field(default_factory=list)  # run only these "<setting>" or "<setting>/<label>"
    calibration_lrs: list[float] = field(default_factory=list)  # each selected model at each rate, not its own
    only: list[str] = field(default_factory=list)  # labels of models/feature_models to run; the rest still size the matched ones
    calibration_budget: CalibrationBudget = field(default_factory=CalibrationBudget)
    keep_checkpoints: bool = False  # save each trained KEEPABLE model of the corpus part beside its record
    timeout_s: Optional[float] = None
    profiles: dict = field(default_factory=dict)


def _synthetic_settings(params: QualityParams) -> SyntheticSettings:
    settings = params.synthetic
    missing = [k for k, v in dataclasses.asdict(settings).items() if v is None]
    require(not missing, f"suite.synthetic.{missing[0] if missing else ''} is not set and has no profile value")
    for name in settings.tasks:
        require(name in TASKS, f"suite.synthetic.tasks: unknown task {name!r}; valid: {', '.join(TASKS)}")
        task = TASKS[name]
        for length in settings.train_lengths + settings.eval_lengths:
            require(task.min_length <= length <= task.max_length,
                    f"suite.synthetic: length {length} is impossible for {name} "
                    f"(valid: {task.min_length}..{task.max_length})")
    for key in ("steps", "batch_size", "eval_every", "eval_batches"):
        require(getattr(settings, key) >= 1, f"suite.synthetic.{key}={getattr(settings, key)}: must be >= 1")
    require(settings.train_lengths and settings.eval_lengths, "suite.synthetic: train_lengths and eval_lengths are empty")
    return settings


def _configs(params: QualityParams, vocab: int, domains: list[str], size: dict | None = None,
             models: list[dict] | None = None) -> list[tuple[str, str, dict]]:
    """(label, model name, resolved config) per entry of `models` (default suite.models) at one
    size (its overrides apply to every entry), matched entries sized to their target."""
    entries = []
    for i, entry in enumerate(params.models if models is None else models):
        require(set(entry) <= ENTRY_KEYS and "model" in entry,
                f"suite.models[{i}]={entry}: expected keys {', '.join(sorted(ENTRY_KEYS))} (model required)")
        registry.entry(entry["model"])
        overrides = {"vocab_size": vocab, **(size or {}), **(entry.get("overrides") or {})}
        if entry["model"] in SWARMS and "domains" not in overrides:
            overrides["domains"] = domains
        config = registry.resolve_config(entry["model"], params.preset, overrides)
        entries.append([entry.get("label", entry["model"]), entry, config])
    labels = [label for label, _, _ in entries]
    require(len(set(labels)) == len(labels), f"suite.models labels repeat: {labels}; give each a `label`")
    for slot in entries:
        label, entry, config = slot
        if entry.get("match"):
            target = entry.get("target", labels[0])
            require(target in labels, f"suite.models {label}: target {target!r}; valid: {', '.join(labels)}")
            goal_entry = entries[labels.index(target)]
            slot[2] = matching.match_to(entry["model"], config, goal_entry[1]["model"], goal_entry[2],
                                        kind=entry["match"], by=entry.get("by", "depth"))
    return [(label, entry["model"], config) for label, entry, config in entries]


def _sizes(params: QualityParams) -> list[tuple[str | None, dict]]:
    """(size label, overrides) per model size; [(None, {})] when suite.sizes is empty."""
    if not params.sizes:
        return [(None, {})]
    out = []
    for i, size in enumerate(params.sizes):
        require(isinstance(size, dict) and set(size) <= {"label", "overrides"} and "label" in size,
                f"suite.sizes[{i}]={size}: expected {{label, overrides}}")
        out.append((str(size["label"]), dict(size.get("overrides") or {})))
    labels = [label for label, _ in out]
    require(len(set(labels)) == len(labels), f"suite.sizes labels repeat: {labels}")
    return out


def _named_sizes(params: QualityParams, key: str, names: list[str]) -> list[tuple[str | None, dict]]:
    """[(size label, overrides)] of the sizes suite.<key> names."""
    sizes = _sizes(params)
    labels = [label for label, _ in sizes]
    valid = ", ".join(map(str, labels)) if params.sizes else "none (suite.sizes is empty)"
    for name in names:
        require(name in labels, f"suite.{key}={name!r} is not a size; valid: {valid}")
    return [sizes[labels.index(name)] for name in names]


def _check_sizes_and_rates(params: QualityParams) -> None:
    """Before the corpus is read: the sizes suite.lr_sweep_sizes and suite.feature_size name
    exist (when their part runs), and suite.lr_by_model and suite.lr_by_size are mappings, the
    latter keyed by sizes."""
    if "lr_sweep" in params.parts:
        _sweep_sizes(params)
    if "features" in params.parts:
        _feature_size(params)
    if params.only:
        labels = [entry.get("label", entry.get("model")) for entry in params.models + params.feature_models]
        unknown = [label for label in params.only if label not in labels]
        require(not unknown, f"suite.only: {', '.join(map(repr, unknown))} names no entry of suite.models or "
                             f"suite.feature_models; valid: {', '.join(map(str, labels))}")
    for key in ("lr_by_size", "lr_by_model"):
        value = getattr(params, key)
        require(value is None or isinstance(value, dict), f"suite.{key}: expected a mapping, got {value!r}")
    for size, rates in (params.lr_by_size or {}).items():
        _named_sizes(params, "lr_by_size", [size])
        require(isinstance(rates, dict), f"suite.lr_by_size.{size}: expected a mapping, got {rates!r}")


def _feature_size(params: QualityParams) -> list[tuple[str | None, dict]]:
    """[(size label, overrides)] of the size the features part runs at (default: the last)."""
    if params.feature_size is None:
        return _sizes(params)[-1:]
    return _named_sizes(params, "feature_size", [params.feature_size])


def _sweep_sizes(params: QualityParams) -> list[tuple[str | None, dict]]:
    """[(size label, overrides)] of the sizes the lr_sweep part runs at (default: the first)."""
    if not params.lr_sweep_sizes:
        return _sizes(params)[:1]
    return _named_sizes(params, "lr_sweep_sizes", list(params.lr_sweep_sizes))


def _lr(params: QualityParams, label: str, model: str, size: str | None) -> float:
    """The rate of an entry at a size, the most specific first: its label in
    suite.lr_by_size[size], its label in suite.lr_by_model, its model family in the same two,
    else suite.lr. (A label beats a family: `transformer-total` keeps its own rate when a size
    sets one for `transformer`.)"""
    levels = ((f"lr_by_size.{size}", (params.lr_by_size or {}).get(size) or {}), ("lr_by_model", params.lr_by_model or {}))
    for name in (label, model):
        for key, chosen in levels:
            if name in chosen:
                lr = chosen[name]
                require(isinstance(lr, (int, float)) and lr > 0,
                        f"suite.{key}: {name}: lr={lr} is impossible: must be > 0")
                return float(lr)
    return float(params.lr)


def _corpus_points(params: QualityParams, ctx: RunContext, sweep: bool = False, features: bool = False) -> list[Point]:
    """The corpus runs: every entry at every size and seed; with `sweep`, the learning-rate sweep
    instead: every entry at suite.lr_sweep_sizes (default: the first size), the first seed and
    each suite.lr_sweep rate, scored on the validation split only (the test split never chooses
    a setting); with `features`, the entries of suite.feature_models at suite.feature_size
    (default: the last) and every seed, with their baselines at the variants' rate."""
    for key in ("train_tokens", "batch_size", "context", "lr", "eval_every", "eval_tokens"):
        require(getattr(params, key) not in (None, []), f"suite.{key} is not set and has no {ctx.device_type} profile value")
    for key in ("train_tokens", "batch_size", "context", "eval_every", "eval_tokens", "test_tokens"):
        value = getattr(params, key)
        require(value is None or value >= 1, f"suite.{key}={value} is impossible: must be >= 1")
    require(params.lr > 0, f"suite.lr={params.lr} is impossible: must be > 0")
    tokens = params.lr_sweep_tokens if sweep else params.train_tokens
    if sweep:
        require(params.lr_sweep and all(lr > 0 for lr in params.lr_sweep),
                f"suite.lr_sweep={params.lr_sweep}: the lr_sweep part needs positive rates")
        require(tokens is not None and tokens >= 1, "suite.lr_sweep_tokens is not set and has no profile value")
    require(tokens >= params.batch_size * params.context,
            f"suite.train_tokens={tokens} is less than one batch ({params.batch_size} x {params.context})")
    corpus = Path(params.corpus)
    manifest = load_manifest(corpus)
    codec = tokenizer.load(corpus, params.tokenizer)
    domains = sorted(manifest["domains"])
    sizes = _sweep_sizes(params) if sweep else _feature_size(params) if features else _sizes(params)
    require(not features or params.feature_models, "suite.parts has features but suite.feature_models is empty")
    runs_at = {}  # size -> [(label, model, config, rates)], resolved and matched once for every seed
    for size, size_overrides in sizes:
        runs = [(label, model, config, params.lr_sweep if sweep else [_lr(params, label, model, size)])
                for label, model, config in _configs(params, codec.vocab_size, domains, size_overrides,
                                                     params.feature_models if features else None)
                if _selected(params, label)]
        if features:
            runs += _baseline_runs(params, runs, _configs(params, codec.vocab_size, domains, size_overrides))
        runs_at[size] = runs
    points = []
    for seed in params.seeds[:1] if sweep else params.seeds:
        for size, _ in sizes:
            for label, model, config, rates in runs_at[size]:
                for lr in rates:
                    point = {"suite": params.name, "task": "harness.quality:train_and_evaluate", "model": model,
                             "label": label, "model_config": config, "mode": "quality",
                             "batch_size": params.batch_size, "seq_len": params.context, "device": ctx.device,
                             "dtype": ctx.dtype, "seed": seed, "corpus": str(corpus.resolve()),
                             "corpus_id": manifest["corpus_id"], "tokenizer": codec.name,
                             "tokenizer_sha256": codec.sha256, "train_tokens": tokens, "lr": lr,
                             "eval_every": params.eval_every, "eval_tokens": params.eval_tokens,
                             "test_tokens": params.test_tokens, "max_wall_s": params.max_wall_s}
                    if size is not None:
                        point["size"] = size
                    if sweep:
                        point["score_split"] = "val"
                    if params.keep_checkpoints and model in KEEPABLE and not sweep:
                        point["keep_checkpoint"] = True
                    what = f"lr_sweep lr={lr:g} " if sweep else ""
                    points.append(Point(point, params.timeout_s,
                                        label=f"{what}{label}{f' {size}' if size else ''} seed={seed}"))
    return points


def _selected(params: QualityParams, label: str) -> bool:
    """Whether suite.only (empty: every label) lets the entry labelled so run."""
    return not params.only or label in params.only


def _baseline_runs(params: QualityParams, variants: list[tuple], models: list[tuple]) -> list[tuple]:
    """The features part's baselines: each entry of suite.models (sized as the corpus part sizes
    it) that a variant about to run names as its `baseline`, at every rate of those variants, so
    each pair shares budget and rate. (label, model, config, rates) as the variants'."""
    rates: dict[str, set] = {}
    by_label = {entry.get("label", entry.get("model")): entry for entry in params.feature_models}
    labels = [label for label, _, _ in models]
    for label, _, _, variant_rates in variants:
        baseline = by_label[label].get("baseline")
        if baseline:
            require(baseline in labels, f"suite.feature_models {label}: baseline {baseline!r} is not in suite.models; "
                                        f"valid: {', '.join(map(str, labels))}")
            rates.setdefault(baseline, set()).update(variant_rates)
    return [(label, model, config, sorted(rates[label])) for label, model, config in models if label in rates]


def _synthetic_points(params: QualityParams, ctx: RunContext) -> list[Point]:
    settings = _synthetic_settings(params)
    points = []
    for seed in params.seeds:
        for name in settings.tasks:
            for label, model, config in _configs(params, TASKS[name].vocab_size, []):
                if not _selected(params, label):
                    continue
                point = {"suite": params.name, "task": "harness.synthetic_quality:train_and_probe", "model": model,
                         "label": label, "model_config": config, "mode": "synthetic", "synthetic_task": name,
                         "batch_size": settings.batch_size, "seq_len": max(settings.train_lengths),
                         "device": ctx.device, "dtype": ctx.dtype, "seed": seed,
                         "train_lengths": settings.train_lengths, "eval_lengths": settings.eval_lengths,
                         "steps": settings.steps, "lr": settings.lr, "eval_every": settings.eval_every,
                         "eval_batches": settings.eval_batches}
                points.append(Point(point, params.timeout_s, label=f"{name} {label} seed={seed}"))
    return points


def build_points(params: QualityParams, ctx: RunContext) -> tuple[list[Point], str | None]:
    # quality checks what each part needs itself (below), so any field may stay None here
    params, description = apply_profile(params, ctx.device_type,
                                        may_stay_none=tuple(f.name for f in dataclasses.fields(params)))
    require(not ctx.model_choice, "suite=quality trains the models in suite.models; drop model=")
    unknown = sorted(set(params.parts) - set(PARTS))
    require(params.parts and not unknown, f"suite.parts={params.parts}: valid parts are {', '.join(PARTS)}")
    for key in ("seeds", "timeout_s"):
        require(getattr(params, key) not in (None, []), f"suite.{key} is not set and has no {ctx.device_type} profile value")
    _check_sizes_and_rates(params)
    points = _corpus_points(params, ctx) if "corpus" in params.parts else []
    if "lr_sweep" in params.parts:
        points += _corpus_points(params, ctx, sweep=True)
    if "features" in params.parts:
        points += _corpus_points(params, ctx, features=True)
    if "synthetic" in params.parts:
        points += _synthetic_points(params, ctx)
    unique = {point_id(p.config): p for p in reversed(points)}  # a baseline may also be a corpus point
    points = [p for p in points if unique.get(point_id(p.config)) is p]
    if "calibration" in params.parts:
        require(params.calibration, "suite.parts has calibration but suite.calibration lists no settings")
        require(params.calibration_seeds, "suite.calibration_seeds is not set and has no profile value")
        points += calibration_points(params.calibration, params.calibration_budget, params.calibration_seeds, params.name, ctx,
                                     params.timeout_s, params.calibration_only, params.calibration_lrs)
    return points, description


def write_report(params: QualityParams, store: str) -> None:
    """Print the bpb and synthetic-accuracy tables and write them to <store>/<suite>/report.md."""
    for line in quality_report.write(Path(store) / params.name, params.calibration, params.feature_models):
        print(line)


suite_registry.register("quality", QualityParams, build_points, write_report,
                        summary="training from scratch: held-out bits per byte, synthetic tasks")
