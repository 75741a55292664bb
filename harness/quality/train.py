"""Training from scratch at a fixed token budget, for the quality suite.

As nanoGPT / Chinchilla-style small-model recipes: AdamW (betas 0.9/0.95) with weight decay on
matrices only (no decay on norms, biases, embeddings, nor the SSM parameters Mamba marks
`_no_weight_decay`: A_log, D, dt bias), linear warm-up then cosine decay to 10% of the peak,
bf16 autocast on CUDA, gradient-norm clipping, fixed seeds. The swarm's and Mamba-MoE's
auxiliary losses are part of their loss and logged. A loss that turns NaN/inf or grows past
`divergence_factor` x the first loss ends the run as `diverged`, recorded with its curve; with
`stop_accuracy`, an evaluation that reaches it ends the run as `converged`. The training-loss curve
keeps every step up to CURVE_POINTS steps and window means beyond, so a long calibration run's
record stays small. With `cuda_graphs`, a model that allows it (`train_step_capturable`) replays each
step from a CUDA graph (harness.quality.train_step); the record says whether one ran.

With `resume_path`, the whole training state (weights, optimizer, sampler and RNG states, the
curves so far, the wall time spent) is saved there every `checkpoint_every_s` seconds, written
whole and then renamed, and a run that finds the file continues from it: a run longer than one
process's time limit resumes where the last save left it, on the same batches, and its record
lists the steps it resumed at (`resumed_at_steps`). The file is removed when training ends; one
that cannot be read or does not fit the model is kept aside (`.unusable`) and the run starts over.
Peak memory (`peak_mem_mb`) is a harness.measure.trackers.MemoryTracker around the whole run.
"""
from __future__ import annotations

import collections
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch

from harness.measure import env as env_mod
from harness.measure.trackers import MemoryTracker
from harness.quality.evaluate import no_capacity_drops, score_stream
from harness.quality.train_step import GraphedStep, eager_step, load_optimizer, make_optimizer, max_norm, set_lr

AUX_KEPT = 50  # steps of auxiliary losses kept in a record: the last ones
CURVE_POINTS = 2048  # training-loss points kept: past that many steps, each is the mean of a window of steps


@dataclass
class TrainConfig:
    tokens: int  # budget: steps = tokens // (batch_size * context), unless `steps` is set
    batch_size: int
    context: int
    lr: float = 1e-3
    min_lr_ratio: float = 0.1
    warmup_fraction: float = 0.05
    weight_decay: float = 0.1
    clip: Optional[float] = 1.0  # gradient-norm clip; None: none (the norm is still recorded)
    betas: tuple[float, float] = (0.9, 0.95)  # AdamW's; the synthetic-task papers used (0.9, 0.999)
    eval_every: int = 100  # steps between validation bpb points
    eval_tokens: int = 16384  # validation tokens per domain at each of them
    max_wall_s: Optional[float] = None
    divergence_factor: float = 3.0
    seed: int = 0
    steps: Optional[int] = None  # a fixed step count instead (synthetic tasks, whose lengths vary)
    stop_accuracy: Optional[float] = None  # end as `converged` once an evaluation's accuracy reaches it (Zoology's early stop)
    resume_path: Optional[str] = None  # save the training state here every checkpoint_every_s; resume from it
    checkpoint_every_s: float = 60.0
    cuda_graphs: bool = False  # replay each step from a CUDA graph where the model allows (train_step.GraphedStep)

    @property
    def planned_steps(self) -> int:
        return self.steps or max(1, self.tokens // (self.batch_size * self.context))


class TokenSampler:
    """Random training windows (context + 1 tokens) from the concatenated train streams, with
    each token's domain id; seeded, so every model sees the same batches."""

    def __init__(self, streams: dict[str, np.ndarray], context: int, batch_size: int, seed: int):
        self.domains = sorted(streams)
        self.tokens = np.concatenate([streams[d] for d in self.domains])
        self.domain_ids = np.concatenate([np.full(len(streams[d]), i) for i, d in enumerate(self.domains)])
        self.context, self.batch_size = context, batch_size
        self.rng = np.random.default_rng(seed)

    def state_dict(self) -> dict:
        return {"rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        self.rng.bit_generator.state = state["rng"]

    def batch(self, device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        starts = self.rng.integers(0, len(self.tokens) - self.context - 1, self.batch_size)
        rows = np.stack([self.tokens[s:s + self.context + 1] for s in starts]).astype(np.int64)
        domains = np.stack([self.domain_ids[s:s + self.context] for s in starts])
        t = torch.from_numpy(rows).to(device)
        return t[:, :-1], t[:, 1:], torch.from_numpy(domains).to(device)


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """AdamW's groups: weight decay on the matrices, none on vectors (norms, biases), on what a block
    marks `_no_weight_decay` (the SSM's A and D) or on embeddings, found by their module (GPT-2
    calls its token and position tables `wte` and `wpe`) and tied heads with them."""
    embeddings = {id(m.weight) for m in model.modules() if isinstance(m, torch.nn.Embedding)}
    decay, no_decay = [], []
    for p in model.parameters():  # each shared (tied) parameter once
        if not p.requires_grad:
            continue
        skip = p.dim() < 2 or getattr(p, "_no_weight_decay", False) or id(p) in embeddings
        (no_decay if skip else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def lr_at(step: int, steps: int, cfg: TrainConfig) -> float:
    warmup = max(1, int(cfg.warmup_fraction * steps))
    if step < warmup:
        return cfg.lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    floor = cfg.lr * cfg.min_lr_ratio
    return floor + (cfg.lr - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def validation_bpb(model, val: dict[str, np.ndarray], token_bytes, context: int, device, dtype, max_tokens: int) -> dict:
    model.eval()
    with no_capacity_drops(model):
        scores = {d: score_stream(model, s, token_bytes, context, device, dtype=dtype, max_tokens=max_tokens)["bpb"]
                  for d, s in sorted(val.items())}
    model.train()
    return {"mean": float(np.mean(list(scores.values()))), **scores}


def _rng_states(device: torch.device) -> dict:
    return {"cpu": torch.get_rng_state(), "cuda": torch.cuda.get_rng_state_all() if device.type == "cuda" else None}


def _set_rng_states(states: dict, device: torch.device) -> None:
    torch.set_rng_state(states["cpu"])
    if device.type == "cuda" and states["cuda"] is not None:
        torch.cuda.set_rng_state_all(states["cuda"])


def _save_resume(path: Path, state: dict) -> None:
    partial = path.with_name(path.name + ".partial")
    path.parent.mkdir(parents=True, exist_ok=True)  # a fresh store: no record has made the folder yet
    torch.save(state, partial)
    os.replace(partial, path)  # whole or not at all


def _load_resume(path: Path, model) -> dict | None:
    """The saved state, read onto the CPU, if it fits `model` (same parameter names and shapes);
    else it is kept aside as `<name>.unusable` with a warning and the run starts from scratch.
    On the CPU, because the RNG states must stay CPU ByteTensors; the model and optimizer copy
    their tensors to the parameters' device when they load them."""
    try:
        saved = torch.load(path, map_location="cpu", weights_only=False)
        expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
        if {k: tuple(v.shape) for k, v in saved["model"].items()} == expected:
            return saved
        problem = "its weights do not fit this model"
    except Exception as error:  # an unreadable file must not stop the run, only its resume
        problem = f"unreadable ({type(error).__name__}: {error})"
    kept = path.with_name(path.name + ".unusable")
    os.replace(path, kept)
    print(f"warning: {path}: {problem}; kept as {kept.name}, training starts from scratch", file=sys.stderr)
    return None


def train(model, sampler, cfg: TrainConfig, device: torch.device, dtype: torch.dtype,
          evaluate: Callable[[], dict]) -> dict:
    """Train `model` on `sampler.batch(device)` -> (idx, targets, domain ids or None); `evaluate()`
    every `cfg.eval_every` steps and at the end gives the learning curve's validation points."""
    torch.manual_seed(cfg.seed)
    steps = cfg.planned_steps
    graphed = cfg.cuda_graphs and device.type == "cuda" and getattr(model, "train_step_capturable", False)
    optimizer = make_optimizer(param_groups(model, cfg.weight_decay), cfg.lr, device, graphed, cfg.betas)
    autocast = torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32)
    graphed_step = GraphedStep(model, optimizer, dtype, max_norm(cfg.clip)) if graphed else None
    routes_domains = bool(getattr(getattr(model, "cfg", None), "domains", None))
    model.train()
    curve, val_curve = [], []
    aux_tail = collections.deque(maxlen=AUX_KEPT)  # (tokens, grad norm, aux) tensors: no host sync per step
    status, first_loss, last_loss, seen, done = "ok", None, None, 0, 0
    window, pending = math.ceil(steps / CURVE_POINTS), []  # a 200K-step calibration run keeps ~2K points, not 200K
    resume = Path(cfg.resume_path) if cfg.resume_path else None
    start, wall_before, resumed_at = 0, 0.0, []
    saved = _load_resume(resume, model) if resume is not None and resume.exists() else None
    if saved is not None:
        model.load_state_dict(saved["model"])
        load_optimizer(optimizer, saved["optimizer"], device)
        sampler.load_state_dict(saved["sampler"])
        _set_rng_states(saved["rng"], device)
        curve, val_curve, pending = saved["curve"], saved["val_curve"], saved["pending"]
        aux_tail.extend(saved["aux_tail"])
        first_loss, last_loss, seen, done = saved["first_loss"], saved["last_loss"], saved["seen"], saved["done"]
        start, wall_before, resumed_at = saved["step"], saved["wall_s"], saved["resumed_at"] + [saved["step"]]
    with MemoryTracker(device, sample_nvml=False) as memory:  # peak_mem_mb: the whole run, evaluations included
        t0 = last_save = time.perf_counter()
        for step in range(start, steps):
            set_lr(optimizer, lr_at(step, steps, cfg))
            idx, targets, domains = sampler.batch(device)
            labels = {"domain_labels": domains} if routes_domains and domains is not None else {}
            if graphed_step is not None:
                loss, grad_norm = graphed_step(idx, targets, labels)
            else:
                loss, grad_norm = eager_step(model, optimizer, autocast, max_norm(cfg.clip), idx, targets, labels)
            value = loss.item()
            first_loss, last_loss = (first_loss if first_loss is not None else value), value
            seen, done = seen + idx.numel(), done + 1
            pending.append(value)
            if len(pending) == window:
                curve.append([seen, sum(pending) / window])
                pending = []
            if not math.isfinite(value) or value > cfg.divergence_factor * first_loss:
                status = "diverged"  # recorded as of this step's loss; its update is not evaluated
                break
            if getattr(model, "last_aux", None):  # cloned: a graph's outputs change at its next replay
                aux = {k: torch.as_tensor(v).detach().clone() for k, v in model.last_aux.items()}
                aux_tail.append((seen, grad_norm.detach().clone(), aux))
            if (step + 1) % cfg.eval_every == 0 or step + 1 == steps:
                val_curve.append([seen, evaluate()])
                if cfg.stop_accuracy is not None and val_curve[-1][1].get("accuracy", 0.0) >= cfg.stop_accuracy:
                    status = "converged"
                    break
            if cfg.max_wall_s and wall_before + time.perf_counter() - t0 > cfg.max_wall_s:
                status = "time_cap"
                break
            if resume is not None and time.perf_counter() - last_save >= cfg.checkpoint_every_s:
                _save_resume(resume, {
                    "step": step + 1, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "sampler": sampler.state_dict(), "rng": _rng_states(device), "curve": curve,
                    "val_curve": val_curve, "pending": pending, "first_loss": first_loss, "last_loss": last_loss,
                    "seen": seen, "done": done, "wall_s": wall_before + time.perf_counter() - t0,
                    "resumed_at": resumed_at,
                    "aux_tail": [(n, float(g), {k: float(v) for k, v in a.items()}) for n, g, a in aux_tail]})
                last_save = time.perf_counter()
    wall = wall_before + time.perf_counter() - t0
    if resume is not None:
        resume.unlink(missing_ok=True)
    if pending:  # the last, partial window (a run that stopped early)
        curve.append([seen, sum(pending) / len(pending)])
    return {"status": status, "steps": done, "steps_planned": steps, "tokens": seen, "wall_s": wall,
            "tokens_per_s": seen / wall if wall else None, "train_curve": curve, "val_curve": val_curve,
            "aux_curve": [{"tokens": seen, "grad_norm": float(norm), **{k: float(v) for k, v in aux.items()}}
                          for seen, norm, aux in aux_tail], "initial_loss": first_loss, "final_loss": last_loss,
            "peak_mem_mb": memory.peak_alloc, "cuda_graphs": graphed,
            **({"resumed_at_steps": resumed_at} if resumed_at else {})}


def run_summary(model, history: dict, context: int, device: torch.device) -> dict:
    """The record fields every training point shares: throughput, peak memory, model size, env."""
    return {
        "tokens_per_s": history["tokens_per_s"],
        "memory_mb": {"peak_alloc": history["peak_mem_mb"]},
        "model_info": {"params_total": model.num_params(), "params_active": model.num_params(active=True),
                       "flops_per_token": model.flops_per_token(context), "backend": model.kernel_backend()},
        "env": env_mod.collect(device),
    }
