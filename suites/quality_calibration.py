"""The calibration part of `suite=quality` (`suite.parts=[calibration]`): the synthetic tasks at
published settings, so our training and tasks can be checked against published tables before any
synthetic-task verdict is read.

Each entry of `suite.calibration` is one published setting: the task and its options
(harness.quality.synthetic_tasks), training length, batch, schedule, weight decay, the paper's
step budget, and per model its size, learning rate and published accuracies by evaluation length.
The settings in conf/suite/quality.yaml follow Gu & Dao 2023 ("Mamba", section 4.1 and appendix
E.1: selective copying, Table 1; induction heads, Table 11) and Arora et al. 2023 ("Zoology",
the Figure 2 MQAR sweep of zoology/experiments/paper/figure2.py).

Our budget may be below the paper's: `calibration_budget.max_steps` caps the steps, and a run
ends early once its accuracy at the training length reaches `stop_accuracy` (Zoology's early
stop; `calibration_budget.early_stop=false` turns it off, as the Mamba paper trained to its full
budget, which extrapolation may need); each record keeps how many steps it ran and why it stopped, and the report
(harness.analysis.calibration_report) sets both beside the published figures. `calibration_budget.probe_lengths`
probes those evaluation lengths too at every probe along training, so a record shows how extrapolation
moves once the training length is learned.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Optional

from harness.errors import UserError
from harness.quality.synthetic_tasks import TASKS
from harness.store.points import Point
from harness.structured import from_mapping
from models import registry
from suites.common import RunContext, require

SCHEDULES = ("constant", "cosine")


@dataclass(kw_only=True)
class CalibrationModel:
    model: str
    label: str
    lr: float
    overrides: dict = field(default_factory=dict)
    max_eval_length: Optional[int] = None  # the paper tested no further (attention: memory)
    paper_steps: Optional[int] = None  # this model's published budget where it differs from the setting's
    batch_size: Optional[int] = None  # a batch other than the setting's (the paper's), on purpose: say so in the label
    train_lengths: Optional[list[int]] = None  # lengths training cycles through instead of the setting's, on purpose
    published_as: str = ""  # the paper's row name, e.g. "MHA-RoPE (137K)"
    variant_of: Optional[str] = None  # the label of the entry this one changes on purpose (its batch, say)
    published: dict = field(default_factory=dict)  # evaluation length -> published accuracy (0..1)


@dataclass(kw_only=True)
class CalibrationSetting:
    name: str
    task: str
    source: str  # paper, section and table
    train_length: int
    eval_lengths: list[int]
    batch_size: int
    paper_steps: int  # the published budget
    schedule: str = "constant"
    weight_decay: float = 0.0
    stop_accuracy: Optional[float] = 0.99
    eval_every: int = 500
    probe_batches: int = 8  # batches of the convergence probe at the training length
    eval_batches: int = 16  # batches scored per evaluation length at the end
    options: dict = field(default_factory=dict)  # the task's keyword options
    figure_precision: float = 0.0  # the published figures' own precision (read off a plot, a stop rule)
    models: list[CalibrationModel] = field(default_factory=list)


@dataclass(kw_only=True)
class CalibrationBudget:
    """What this machine affords; None: from the profile."""
    max_steps: Optional[int] = None  # cap on every setting's paper_steps
    max_eval_length: Optional[int] = None  # evaluation lengths beyond it are not scored
    max_wall_s: Optional[float] = None  # per run; the record then says `time_cap`
    early_stop: bool = True  # false: no setting's stop_accuracy applies; runs go to the step or time cap
    cuda_graphs: bool = False  # replay each training step from a CUDA graph where the model allows it
    probe_lengths: list[int] = field(default_factory=list)  # evaluation lengths also probed along training


def settings(entries: list[dict]) -> list[CalibrationSetting]:
    out = [from_mapping(CalibrationSetting, dict(e), where=f"suite.calibration[{i}]") for i, e in enumerate(entries)]
    names = [s.name for s in out]
    require(len(set(names)) == len(names), f"suite.calibration names repeat: {names}")
    for s in out:
        require(s.task in TASKS, f"suite.calibration {s.name}: unknown task {s.task!r}; valid: {', '.join(TASKS)}")
        require(s.schedule in SCHEDULES, f"suite.calibration {s.name}: schedule {s.schedule!r}; valid: "
                f"{', '.join(SCHEDULES)}")
        try:
            task = TASKS[s.task].configured(s.options)
        except ValueError as exc:
            raise UserError(f"suite.calibration {s.name}: {exc}") from None
        for length in [s.train_length, *s.eval_lengths]:
            require(task.min_length <= length <= task.max_length,
                    f"suite.calibration {s.name}: length {length} is impossible for {s.task} with {s.options} "
                    f"(valid: {task.min_length}..{task.max_length})")
        for m in s.models:
            require(m.train_lengths is None or (m.train_lengths and all(
                task.min_length <= n <= task.max_length for n in m.train_lengths)),
                    f"suite.calibration {s.name} {m.label}: train_lengths={m.train_lengths!r}: must be a non-empty "
                    f"list of lengths in {task.min_length}..{task.max_length}")
            require(m.batch_size is None or (isinstance(m.batch_size, int) and m.batch_size >= 1),
                    f"suite.calibration {s.name} {m.label}: batch_size={m.batch_size!r}: must be a positive integer")
        labels = [m.label for m in s.models]
        require(labels and len(set(labels)) == len(labels), f"suite.calibration {s.name}: model labels {labels} "
                "must be given and distinct")
        for m in s.models:
            require(m.variant_of is None or m.variant_of in set(labels) - {m.label},
                    f"suite.calibration {s.name} {m.label}: variant_of={m.variant_of!r} names no other entry; "
                    f"valid: {', '.join(sorted(set(labels) - {m.label}))}")
    return out


def calibration_points(entries: list[dict], budget: CalibrationBudget, seeds: list[int], suite: str,
                       ctx: RunContext, timeout_s: float, only: list[str] = (), lrs: list[float] = ()) -> list[Point]:
    """Points of every setting and model, or of those `only` names ("<setting>" or "<setting>/<label>");
    with `lrs`, each model at each of those rates instead of its own (Zoology takes the best of four)."""
    require(budget.max_steps is not None and budget.max_steps >= 1,
            f"suite.calibration_budget.max_steps={budget.max_steps}: must be >= 1")
    require(all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in budget.probe_lengths),
            f"suite.calibration_budget.probe_lengths={list(budget.probe_lengths)}: must be positive lengths")
    require(all(isinstance(lr, (int, float)) and not isinstance(lr, bool) and lr > 0 for lr in lrs),
            f"suite.calibration_lrs={list(lrs)}: rates must be positive numbers")
    parsed = settings(entries)
    valid = [s.name for s in parsed] + [f"{s.name}/{m.label}" for s in parsed for m in s.models]
    unknown = [name for name in only if name not in valid]
    if unknown:
        raise UserError(f"suite.calibration_only: unknown {unknown[0]!r}; valid: {', '.join(valid)}")
    points = []
    for s in parsed:
        task = TASKS[s.task].configured(s.options)
        for m in s.models:
            if only and s.name not in only and f"{s.name}/{m.label}" not in only:
                continue
            paper_steps = m.paper_steps or s.paper_steps
            steps = min(paper_steps, budget.max_steps)
            registry.entry(m.model)
            config = registry.resolve_config(m.model, "tiny", {"vocab_size": task.vocab_size, **m.overrides})
            caps = [x for x in (m.max_eval_length, budget.max_eval_length) if x is not None]
            lengths = [n for n in s.eval_lengths if not caps or n <= min(caps)]
            trained = list(m.train_lengths or [s.train_length])
            probed = [n for n in lengths if n in budget.probe_lengths and n not in trained]
            for seed, lr in itertools.product(seeds, lrs or [m.lr]):
                point = {"suite": suite, "task": "harness.synthetic_quality:train_and_probe", "model": m.model,
                         "label": m.label, "model_config": config, "mode": "synthetic", "synthetic_task": s.task,
                         "calibration": s.name, "task_options": dict(s.options), "batch_size": m.batch_size or s.batch_size,
                         "seq_len": max(trained), "device": ctx.device, "dtype": ctx.dtype, "seed": seed,
                         "train_lengths": trained, "eval_lengths": lengths, "steps": steps,
                         "paper_steps": paper_steps, "lr": lr, "eval_every": min(s.eval_every, steps),
                         "eval_batches": s.eval_batches, "probe_batches": s.probe_batches,
                         "weight_decay": s.weight_decay, "schedule": s.schedule,
                         "stop_accuracy": s.stop_accuracy if budget.early_stop else None,
                         "max_wall_s": budget.max_wall_s, **({"cuda_graphs": True} if budget.cuda_graphs else {}),
                         **({"probe_lengths": probed} if probed else {})}
                rate = f" lr={lr:g}" if lrs else ""
                points.append(Point(point, timeout_s, label=f"calibration {s.name} {m.label} seed={seed}{rate}"))
    return points
