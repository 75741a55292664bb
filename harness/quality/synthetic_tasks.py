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
so `models.lm_base.lm_loss` trains on the answers only and accuracy counts them only. This
module is numpy only (the dashboard reads its chance levels); the torch side, batches and
accuracy, is harness.quality.synthetic_batches.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

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
