"""The torch side of the synthetic tasks (harness.quality.synthetic_tasks): seeded training
batches on a device, and answer accuracy of a model on fresh batches."""
from __future__ import annotations

import numpy as np
import torch

from harness.quality.synthetic_tasks import IGNORE, Task


class TaskSampler:
    """Seeded training batches of one task, cycling through the training lengths."""

    def __init__(self, task: Task, lengths: list[int], batch_size: int, seed: int):
        self.task, self.lengths, self.batch_size = task, lengths, batch_size
        self.rng = np.random.default_rng(seed)
        self.calls = 0

    def state_dict(self) -> dict:
        return {"rng": self.rng.bit_generator.state, "calls": self.calls}

    def load_state_dict(self, state: dict) -> None:
        self.rng.bit_generator.state, self.calls = state["rng"], state["calls"]

    def batch(self, device) -> tuple[torch.Tensor, torch.Tensor, None]:
        length = self.lengths[self.calls % len(self.lengths)]
        self.calls += 1
        inputs, targets = self.task.generate(self.rng, self.batch_size, length)
        return torch.from_numpy(inputs).to(device), torch.from_numpy(targets).to(device), None


@torch.no_grad()
def accuracy(model, task: Task, length: int, batch_size: int, batches: int, seed: int, device,
             dtype: torch.dtype) -> dict:
    """Fraction of scored positions whose argmax is the answer, on `batches` fresh batches."""
    rng = np.random.default_rng(seed)
    correct = scored = 0
    model.eval()
    for _ in range(batches):
        inputs, targets = (torch.from_numpy(a).to(device) for a in task.generate(rng, batch_size, length))
        with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
            logits, _ = model(inputs)  # (B, L, V)
        mask = targets != IGNORE
        correct += (logits.argmax(-1)[mask] == targets[mask]).sum().item()
        scored += mask.sum().item()
    model.train()
    return {"accuracy": correct / scored, "scored": scored}
