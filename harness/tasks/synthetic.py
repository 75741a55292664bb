"""The measurement of a synthetic-task point of `suite=quality`: train one model from scratch on
one task of harness.quality.synthetic_tasks (a fixed number of steps, cycling through the training
lengths, same optimiser and schedule as the corpus runs: harness.quality.train), then its accuracy at
every evaluation length on fresh batches from a seed no training batch used (and, at every probe
along training, at the point's `probe_lengths`). Lengths beyond
the longest training length measure extrapolation, as in Zoology (Arora et al. 2023) and the
Mamba paper's synthetic tasks (Gu & Dao 2023, section 4.1). Points of the calibration part add
the published settings (suites.quality_calibration): task options, schedule, weight decay and a
convergence rule.
"""
from __future__ import annotations

import torch

from harness.quality.evaluate import no_capacity_drops
from harness.quality.synthetic_batches import TaskSampler, accuracy
from harness.quality.synthetic_tasks import TASKS
from harness.quality.train import TrainConfig, run_summary, train
from harness.tasks.model_setup import DTYPES, build_model, resume_path

EVAL_SEED_OFFSET = 1_000_003  # evaluation batches come from seed + this; training from seed


def train_config(point: dict) -> TrainConfig:
    """The point's training settings. The calibration part of suite=quality may set the paper's
    schedule (`schedule: constant`: no warm-up, no decay), weight decay, a convergence rule
    (`stop_accuracy`), a wall-clock cap, CUDA graphs, Adam's betas (`adam_betas`) and the gradient
    clip (`grad_clip`, None: none); other points train as the corpus runs do."""
    constant = point.get("schedule", "cosine") == "constant"
    return TrainConfig(tokens=0, steps=point["steps"], batch_size=point["batch_size"],
                       context=max(point["train_lengths"]), lr=point["lr"], eval_every=point["eval_every"],
                       seed=point["seed"], weight_decay=point.get("weight_decay", 0.1),
                       warmup_fraction=0.0 if constant else 0.05, min_lr_ratio=1.0 if constant else 0.1,
                       stop_accuracy=point.get("stop_accuracy"), max_wall_s=point.get("max_wall_s"),
                       resume_path=resume_path(point), cuda_graphs=point.get("cuda_graphs", False),
                       betas=tuple(point.get("adam_betas", (0.9, 0.95))), clip=point.get("grad_clip", 1.0))


def train_and_probe(point: dict) -> dict:
    device, dtype = torch.device(point["device"]), DTYPES[point["dtype"]]
    task = TASKS[point["synthetic_task"]].configured(point.get("task_options"))
    train_lengths, batch = point["train_lengths"], point["batch_size"]
    model = build_model(point, train=True)
    cfg = train_config(point)
    eval_seed = point["seed"] + EVAL_SEED_OFFSET

    def probe(length: int, batches: int) -> dict:
        with no_capacity_drops(model):
            return accuracy(model, task, length, batch, batches, eval_seed + length, device, dtype)

    probe_batches = point.get("probe_batches", 1)

    def along_training() -> dict:  # {"accuracy": at the training length, "at": {length: {accuracy, scored}}}
        at = {str(n): probe(n, probe_batches) for n in point.get("probe_lengths", [])}
        return {"accuracy": probe(max(train_lengths), probe_batches)["accuracy"], **({"at": at} if at else {})}

    history = train(model, TaskSampler(task, train_lengths, batch, point["seed"]), cfg, device, dtype, along_training)
    scores = {}
    if history["status"] != "diverged":
        scores = {str(length): probe(length, point["eval_batches"]) for length in point["eval_lengths"]}
    at_train = [scores[str(n)]["accuracy"] for n in train_lengths if str(n) in scores]
    synthetic = {"task": task.name, "train_lengths": train_lengths, "training": history, "accuracy": scores,
                 "accuracy_at_train_lengths": sum(at_train) / len(at_train) if at_train else None,
                 "eval_capacity": "unlimited"}
    return {"synthetic": synthetic, **run_summary(model, history, cfg.context, device)}
