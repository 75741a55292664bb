"""The torch side of the synthetic tasks (harness.quality.synthetic_tasks): seeded training
batches on a device, generated a few batches ahead in a background thread, and answer accuracy
of a model on fresh batches."""
from __future__ import annotations

import collections
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
import torch

from harness.quality.synthetic_tasks import IGNORE, Task

AHEAD = 2  # batches generated ahead of the one training


class TaskSampler:
    """Seeded training batches of one task, cycling through the training lengths.

    One worker thread generates the next AHEAD batches while the model trains on the current one
    (numpy's draws and sorts release the GIL), in order, so the batches are those of generating
    them one at a time. `state_dict` is the state after the last batch handed out, not after the
    ones generated ahead: a run resumed from it draws the batch it would have drawn next."""

    def __init__(self, task: Task, lengths: list[int], batch_size: int, seed: int, ahead: int = AHEAD):
        self.task, self.lengths, self.batch_size, self.ahead = task, lengths, batch_size, ahead
        self.rng = np.random.default_rng(seed)
        self.calls = 0  # batches generated, those ahead included
        self._handed_out = self._state()
        self._pending: collections.deque[Future] = collections.deque()  # the batches being generated ahead
        self._worker: ThreadPoolExecutor | None = None

    def _state(self) -> dict:
        return {"rng": self.rng.bit_generator.state, "calls": self.calls}

    def _generate(self) -> tuple[np.ndarray, np.ndarray, dict]:
        length = self.lengths[self.calls % len(self.lengths)]
        self.calls += 1
        inputs, targets = self.task.generate(self.rng, self.batch_size, length)  # (B, length) each
        return inputs, targets, self._state()

    def state_dict(self) -> dict:
        return dict(self._handed_out)

    def load_state_dict(self, state: dict) -> None:
        for batch in self._pending:  # the worker owns the generator until its batches are done
            batch.result()
        self._pending.clear()
        self.rng.bit_generator.state, self.calls = state["rng"], state["calls"]
        self._handed_out = self._state()

    def batch(self, device) -> tuple[torch.Tensor, torch.Tensor, None]:
        if self._worker is None:
            self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="task-batches")
        while len(self._pending) <= self.ahead:
            self._pending.append(self._worker.submit(self._generate))
        inputs, targets, self._handed_out = self._pending.popleft().result()
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
