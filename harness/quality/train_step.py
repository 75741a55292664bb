"""One training step (forward, backward, gradient clipping, AdamW), eager or replayed from a CUDA
graph, for harness.quality.train.

The graphed step is for the tiny synthetic-task models whose step is bound by the host launching
hundreds of small kernels: benchmarks.synthetic_step measured 10-13 ms a step around 1.5-2 ms of
kernels for the Mamba paper's induction-heads models (batch 8, H200). It follows PyTorch's
whole-network capture recipe (CUDA semantics notes, "CUDA Graphs"; torch.cuda.graphs): eager
warm-up steps on a side stream, then one capture with static input buffers; the gradients are
allocated by the captured backward and written in place by every replay; the optimizer is
capturable and its learning rate a device tensor the loop fills before each replay; autocast runs
without its weight cache. Only models whose step has fixed shapes and no host synchronisation
(`train_step_capturable`) are captured. `eager_step` is the reference twin: a GPU test trains both
from one seed and compares their losses (tests/test_gpu.py).
"""
from __future__ import annotations

import torch

WARMUP_STEPS = 3  # eager steps before the capture (lazy initialisations, the optimizer's state)


def make_optimizer(groups: list[dict], lr: float, device: torch.device, graphed: bool,
                   betas: tuple[float, float] = (0.9, 0.95)) -> torch.optim.AdamW:
    """AdamW, fused on CUDA; capturable with a tensor learning rate when graphed."""
    betas = tuple(betas)
    if graphed:
        return torch.optim.AdamW(groups, lr=torch.tensor(lr, device=device), betas=betas, fused=True,
                                 capturable=True)
    return torch.optim.AdamW(groups, lr=lr, betas=betas, fused=device.type == "cuda")


def max_norm(clip: float | None) -> float:
    """The gradient-norm clip for `clip_grad_norm_`: infinity (measure, never scale) for None."""
    return float("inf") if clip is None else clip


def load_optimizer(optimizer: torch.optim.Optimizer, state: dict, device: torch.device) -> None:
    """`optimizer.load_state_dict(state)`, keeping a graphed optimizer's learning rate a tensor on
    `device` (a saved state read onto the CPU would move it there)."""
    tensors = [isinstance(group["lr"], torch.Tensor) for group in optimizer.param_groups]
    optimizer.load_state_dict(state)
    for group, was_tensor in zip(optimizer.param_groups, tensors):
        if was_tensor:
            group["lr"] = torch.tensor(float(group["lr"]), device=device)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        if isinstance(group["lr"], torch.Tensor):
            group["lr"].fill_(lr)  # in place: the captured step reads this tensor
        else:
            group["lr"] = lr


def eager_step(model, optimizer, autocast, clip: float, idx, targets, labels: dict):
    """-> (loss, gradient norm), both 0-dim tensors; the parameters updated."""
    optimizer.zero_grad(set_to_none=True)
    with autocast:
        _, loss = model(idx, targets, **labels)  # idx, targets (B, L)
    loss.backward()
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    optimizer.step()
    return loss.detach(), grad_norm


class GraphedStep:
    """`eager_step` for WARMUP_STEPS steps, then captured once and replayed. Every batch must have
    the shape of the first; the returned tensors are the graph's outputs, overwritten by the next
    replay (read or clone them before it)."""

    def __init__(self, model, optimizer, dtype: torch.dtype, clip: float):
        self.model, self.optimizer, self.clip = model, optimizer, clip
        self.autocast = torch.autocast("cuda", dtype=dtype, enabled=dtype != torch.float32, cache_enabled=False)
        self.graph: torch.cuda.CUDAGraph | None = None
        self.warmed = 0
        self.static: dict = {}

    def __call__(self, idx, targets, labels: dict):
        if self.graph is None and self.warmed < WARMUP_STEPS:
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                out = eager_step(self.model, self.optimizer, self.autocast, self.clip, idx, targets, labels)
            torch.cuda.current_stream().wait_stream(side)
            self.warmed += 1
            return out
        if self.graph is None:
            self._capture(idx, targets, labels)
        elif idx.shape != self.static["idx"].shape:
            raise ValueError(f"graphed step: a batch of shape {tuple(idx.shape)} after the captured "
                             f"{tuple(self.static['idx'].shape)}; graphs need one training length")
        else:
            self.static["idx"].copy_(idx)
            self.static["targets"].copy_(targets)
            for name, value in labels.items():
                self.static["labels"][name].copy_(value)
        self.graph.replay()
        return self.static["loss"], self.static["grad_norm"]

    def _capture(self, idx, targets, labels: dict) -> None:
        if idx.shape != targets.shape:
            raise ValueError(f"graphed step: inputs {tuple(idx.shape)} and targets {tuple(targets.shape)} differ")
        self.static = {"idx": idx.clone(), "targets": targets.clone(),
                       "labels": {name: value.clone() for name, value in labels.items()}}
        self.optimizer.zero_grad(set_to_none=True)  # the captured backward allocates the gradients
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            with self.autocast:
                _, loss = self.model(self.static["idx"], self.static["targets"], **self.static["labels"])
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.clip)
            self.optimizer.step()
        self.static.update(loss=loss.detach(), grad_norm=grad_norm)
