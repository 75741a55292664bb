"""Synthetic capability tasks, generated on the fly from a seed (nothing to ship):

- `mqar`: multi-query associative recall, after Arora et al. 2023, "Zoology: Measuring and
  Improving Recall in Efficient Language Models": key-value pairs, then every key queried once
  later in the sequence; the answer is the value it was paired with. Pairs grow with length
  (length / 16, as Zoology's 64 -> 4 ... 512 -> 32), so longer sequences need more memory.
- `selective_copying`: Gu & Dao 2023, "Mamba", section 4.1.1: 16 data tokens scattered among
  noise tokens, then 16 markers at which the data tokens are recalled in order.
- `induction_heads`: Gu & Dao 2023, section 4.1.2 (after Olsson et al. 2022): random tokens
  in which a trigger token is followed once by a token X; the sequence ends with the trigger,
  and the answer is X.

A generator returns inputs and targets (B, L) int64; targets are -100 where nothing is scored,
so `models.lm_base.lm_loss` trains on the answers only and accuracy counts them only.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

IGNORE = -100
NOISE, MARKER = 0, 1  # special tokens of selective copying and induction heads (MARKER is the trigger)
COPY_TOKENS = 16  # data tokens to copy (selective copying) and the data vocabulary of both
MQAR_KEYS = 255  # keys 1..255, values 256..511; token 0 fills the gaps


def _choose(rng: np.random.Generator, batch: int, population: int, count: int) -> np.ndarray:
    """(batch, count) distinct indices in [0, population) per row."""
    return np.argsort(rng.random((batch, population)), axis=1)[:, :count]


def mqar(rng: np.random.Generator, batch: int, length: int) -> tuple[np.ndarray, np.ndarray]:
    pairs = max(4, length // 16)
    slots = (length - 2 * pairs) // 2  # (query, answer) slots after the pairs
    rows = np.arange(batch)[:, None]
    keys = 1 + _choose(rng, batch, MQAR_KEYS, pairs)  # (B, P)
    values = 1 + MQAR_KEYS + rng.integers(0, MQAR_KEYS + 1, (batch, pairs))  # (B, P)
    inputs = np.zeros((batch, length), dtype=np.int64)
    targets = np.full((batch, length), IGNORE, dtype=np.int64)
    inputs[:, 0:2 * pairs:2], inputs[:, 1:2 * pairs:2] = keys, values
    order = _choose(rng, batch, pairs, pairs)  # the order keys are queried in
    where = 2 * pairs + 2 * np.sort(_choose(rng, batch, slots, pairs), axis=1)  # (B, P) query positions
    inputs[rows, where] = keys[rows, order]
    inputs[rows, where + 1] = values[rows, order]
    targets[rows, where] = values[rows, order]
    return inputs, targets


def selective_copying(rng: np.random.Generator, batch: int, length: int) -> tuple[np.ndarray, np.ndarray]:
    body = length - COPY_TOKENS
    rows = np.arange(batch)[:, None]
    data = 2 + rng.integers(0, COPY_TOKENS, (batch, COPY_TOKENS))  # (B, 16)
    where = np.sort(_choose(rng, batch, body, COPY_TOKENS), axis=1)
    inputs = np.full((batch, length), NOISE, dtype=np.int64)
    inputs[rows, where] = data
    inputs[:, body:] = MARKER
    targets = np.full((batch, length), IGNORE, dtype=np.int64)
    targets[:, body:] = data
    return inputs, targets


def induction_heads(rng: np.random.Generator, batch: int, length: int) -> tuple[np.ndarray, np.ndarray]:
    rows = np.arange(batch)
    inputs = 2 + rng.integers(0, COPY_TOKENS, (batch, length))
    trigger = rng.integers(0, length - 3, batch)  # trigger, X, ..., trigger at length - 1
    answer = inputs[rows, trigger + 1]
    inputs[rows, trigger] = MARKER
    inputs[:, -1] = MARKER
    targets = np.full((batch, length), IGNORE, dtype=np.int64)
    targets[:, -1] = answer
    return inputs, targets


@dataclass(frozen=True)
class Task:
    name: str
    vocab_size: int  # a multiple of 8
    min_length: int
    max_length: int
    answers: int  # distinct answers: chance accuracy is 1 / answers
    generate: Callable[[np.random.Generator, int, int], tuple[np.ndarray, np.ndarray]]


TASKS = {t.name: t for t in [
    Task("mqar", 2 * (MQAR_KEYS + 1), 64, 16 * MQAR_KEYS, MQAR_KEYS + 1, mqar),
    Task("selective_copying", 24, 2 * COPY_TOKENS, 1 << 20, COPY_TOKENS, selective_copying),
    Task("induction_heads", 24, 8, 1 << 20, COPY_TOKENS, induction_heads),
]}


class TaskSampler:
    """Seeded training batches of one task, cycling through the training lengths."""

    def __init__(self, task: Task, lengths: list[int], batch_size: int, seed: int):
        self.task, self.lengths, self.batch_size = task, lengths, batch_size
        self.rng = np.random.default_rng(seed)
        self.calls = 0

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
