"""Synthetic capability tasks, generated on the fly from a seed (nothing to ship):

- `mqar`: multi-query associative recall, after Arora et al. 2023, "Zoology: Measuring and
  Improving Recall in Efficient Language Models" (zoology/data/multiquery_ar.py): key-value
  pairs, then every key queried once later in the sequence; the answer is the value it was
  paired with. Keys come from the lower half of the vocabulary, values from the upper half.
  Pairs grow with length (length / 16 unless `pairs` is given), so longer sequences need more
  memory. By default (`layout="uniform"`) query slots are uniform, keys are queried in a random
  order, each query is followed by its value and values may repeat. `layout="zoology"` is the
  data of Zoology's Figure 2 (zoology/data/associative_recall.py, `_mqar`, power_a=0.01,
  random_non_queries=False): distinct values, query slots drawn without replacement with weight
  i^(a-1) (a=0.01; most queries sit near the start of the query region), the j-th pair's key
  at the j-th slot drawn, and nothing after a query but the filler 0. `echo` and `in_order`
  change one of those differences at a time (benchmarks.synthetic_length --option).
- `selective_copying`: Gu & Dao 2023, "Mamba", section 4.1.1: `copies` (16) data tokens from
  an alphabet of `alphabet` (16) symbols scattered among noise tokens, then as many markers at
  which the data tokens are recalled in order.
- `induction_heads`: Gu & Dao 2023, section 4.1.2 (after Olsson et al. 2022): random tokens of
  an `alphabet` (16) in which a trigger token is followed once by a token X; the sequence ends
  with the trigger, and the answer is X.

Each task takes these keyword options (`Task.configured`), so the calibration part of
suite=quality can set the published vocabularies; without options every task is as before.

A generator returns inputs and targets (B, L) int64; targets are -100 where nothing is scored,
so `models.lm_base.lm_loss` trains on the answers only and accuracy counts them only. This
module is numpy only (the dashboard reads its chance levels); the torch side, batches and
accuracy, is harness.quality.synthetic_batches.
"""
from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Callable

import numpy as np

IGNORE = -100
NOISE, MARKER = 0, 1  # special tokens of selective copying and induction heads (MARKER is the trigger)
COPY_TOKENS = 16  # data tokens to copy (selective copying) and the data vocabulary of both
MQAR_KEYS = 255  # keys 1..255, values 256..511; token 0 fills the gaps
MQAR_LAYOUTS = ("uniform", "zoology")
ZOOLOGY_POWER_A = 0.01  # zoology_figure2.py: train_power_a = test_power_a = 0.01


def choose_reference(rng: np.random.Generator, batch: int, population: int, count: int) -> np.ndarray:
    """(batch, count) distinct indices in [0, population) per row: the positions of the `count`
    smallest of `population` uniform draws, smallest first. The definition `_choose` must equal."""
    return np.argsort(rng.random((batch, population)), axis=1)[:, :count]


def _choose(rng: np.random.Generator, batch: int, population: int, count: int) -> np.ndarray:
    """`choose_reference` from the same draws, without sorting whole rows: a partial selection
    of the `count` smallest, then a sort of those only. MQAR's keys (4 of 4,095 per row, batch
    512) took 84 ms a batch by full sort, 21 ms so, on one core: the data had set the step rate."""
    return _smallest(rng.random((batch, population)), count)  # draws (B, population)


def _smallest(draws: np.ndarray, count: int) -> np.ndarray:
    """(B, count) column indices of each row's `count` smallest draws, smallest first."""
    if count >= draws.shape[1]:
        return np.argsort(draws, axis=1)
    smallest = np.argpartition(draws, count - 1, axis=1)[:, :count]  # (B, count), unordered
    order = np.argsort(np.take_along_axis(draws, smallest, axis=1), axis=1)
    return np.take_along_axis(smallest, order, axis=1)


def _power_law_slots(rng: np.random.Generator, batch: int, slots: int, count: int, a: float) -> np.ndarray:
    """(batch, count) distinct slots in [0, slots), in the order successive draws without replacement
    with weight (i + 1)^(a - 1) would pick them: the `count` earliest of independent exponential
    clocks of rate weight_i (Efraimidis & Spirakis 2006), earliest first."""
    weights = np.arange(1, slots + 1, dtype=np.float64) ** (a - 1)  # (slots,)
    return _smallest(rng.exponential(size=(batch, slots)) / weights, count)  # clocks (B, slots)


def mqar(rng: np.random.Generator, batch: int, length: int, pairs: int | None = None,
         keys: int = MQAR_KEYS, layout: str = "uniform", echo: int | None = None,
         in_order: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Keys 1..keys, values keys+1..2*keys+1 (vocabulary 2 * (keys + 1)); `layout` as the module says.
    Two overrides (1 or 0) measure one difference of the layouts at a time: `echo`, whether each
    query's value follows it in the input (default: uniform 1, zoology 0); `in_order`, 1: keys
    queried in the order of their pairs, 0: in a random order over the same slots (default: uniform
    random, zoology the order the slots were drawn in)."""
    n_keys = keys
    pairs = pairs or max(4, length // 16)
    if 4 * pairs > length or pairs > n_keys:
        raise ValueError(f"mqar: {pairs} pairs need length >= {4 * pairs} and keys >= {pairs} (got {length}, {n_keys})")
    if layout not in MQAR_LAYOUTS:
        raise ValueError(f"mqar: unknown layout {layout!r}; valid: {', '.join(MQAR_LAYOUTS)}")
    slots = (length - 2 * pairs) // 2  # (query, answer) slots after the pairs
    rows = np.arange(batch)[:, None]
    keys = 1 + _choose(rng, batch, n_keys, pairs)  # (B, P)
    inputs = np.zeros((batch, length), dtype=np.int64)
    targets = np.full((batch, length), IGNORE, dtype=np.int64)
    if layout == "zoology":
        values = 1 + n_keys + _choose(rng, batch, n_keys + 1, pairs)  # (B, P), distinct
        where = 2 * pairs + 2 * _power_law_slots(rng, batch, slots, pairs, ZOOLOGY_POWER_A)  # (B, P), pair order
        order = np.broadcast_to(np.arange(pairs), (batch, pairs))
    else:
        values = 1 + n_keys + rng.integers(0, n_keys + 1, (batch, pairs))  # (B, P)
        order = _choose(rng, batch, pairs, pairs)  # the order keys are queried in
        where = 2 * pairs + 2 * np.sort(_choose(rng, batch, slots, pairs), axis=1)  # (B, P) query positions
    if in_order == 1:
        where, order = np.sort(where, axis=1), np.broadcast_to(np.arange(pairs), (batch, pairs))
    elif in_order == 0 and layout == "zoology":
        order = _choose(rng, batch, pairs, pairs)
    if (layout == "uniform") if echo is None else echo:
        inputs[rows, where + 1] = values[rows, order]
    inputs[:, 0:2 * pairs:2], inputs[:, 1:2 * pairs:2] = keys, values
    inputs[rows, where] = keys[rows, order]
    targets[rows, where] = values[rows, order]
    return inputs, targets


def selective_copying(rng: np.random.Generator, batch: int, length: int, copies: int = COPY_TOKENS,
                      alphabet: int = COPY_TOKENS) -> tuple[np.ndarray, np.ndarray]:
    body = length - copies
    if body < copies:
        raise ValueError(f"selective_copying: {copies} copies need length >= {2 * copies} (got {length})")
    rows = np.arange(batch)[:, None]
    data = 2 + rng.integers(0, alphabet, (batch, copies))  # (B, copies)
    where = np.sort(_choose(rng, batch, body, copies), axis=1)
    inputs = np.full((batch, length), NOISE, dtype=np.int64)
    inputs[rows, where] = data
    inputs[:, body:] = MARKER
    targets = np.full((batch, length), IGNORE, dtype=np.int64)
    targets[:, body:] = data
    return inputs, targets


def induction_heads(rng: np.random.Generator, batch: int, length: int,
                    alphabet: int = COPY_TOKENS) -> tuple[np.ndarray, np.ndarray]:
    rows = np.arange(batch)
    inputs = 2 + rng.integers(0, alphabet, (batch, length))
    trigger = rng.integers(0, length - 3, batch)  # trigger, X, ..., trigger at length - 1
    answer = inputs[rows, trigger + 1]
    inputs[rows, trigger] = MARKER
    inputs[:, -1] = MARKER
    targets = np.full((batch, length), IGNORE, dtype=np.int64)
    targets[:, -1] = answer
    return inputs, targets


def _padded(vocab: int) -> int:
    return -(-vocab // 8) * 8


@dataclass(frozen=True)
class Task:
    name: str
    vocab_size: int  # a multiple of 8
    min_length: int
    max_length: int
    answers: int  # distinct answers: chance accuracy is 1 / answers
    generate: Callable[[np.random.Generator, int, int], tuple[np.ndarray, np.ndarray]]
    options: tuple = ()  # (key, value) pairs given to `configured`

    def configured(self, options: dict | None) -> "Task":
        """This task with keyword options for its generator (OPTIONS lists them); vocabulary,
        answers and lengths follow from them."""
        if not options:
            return self
        unknown = sorted(set(options) - set(OPTIONS[self.name]))
        if unknown:
            raise ValueError(f"{self.name}: unknown option {unknown[0]!r}; valid: {', '.join(OPTIONS[self.name])}")
        switches = ("echo", "in_order")
        counts = {k: v for k, v in options.items() if k not in ("layout", *switches)}
        if any(not isinstance(v, int) or isinstance(v, bool) or v < 1 for v in counts.values()):
            raise ValueError(f"{self.name}: options {counts} must be positive integers")
        for switch in switches:
            if options.get(switch, 0) not in (0, 1) or isinstance(options.get(switch), bool):
                raise ValueError(f"{self.name}: {switch}={options[switch]!r}: must be 0 or 1")
        if options.get("layout", "uniform") not in MQAR_LAYOUTS:
            raise ValueError(f"{self.name}: unknown layout {options['layout']!r}; valid: {', '.join(MQAR_LAYOUTS)}")
        generate = functools.partial(self.generate, **options)
        if self.name == "mqar":
            keys = options.get("keys", MQAR_KEYS)
            pairs = options.get("pairs")
            return dataclasses.replace(self, vocab_size=_padded(2 * (keys + 1)), answers=keys + 1, generate=generate,
                                       min_length=4 * pairs if pairs else self.min_length,
                                       max_length=self.max_length if pairs else 16 * keys, options=tuple(options.items()))
        alphabet = options.get("alphabet", COPY_TOKENS)
        copies = options.get("copies", COPY_TOKENS)
        return dataclasses.replace(self, vocab_size=_padded(2 + alphabet), answers=alphabet, generate=generate,
                                   min_length=2 * copies if self.name == "selective_copying" else self.min_length,
                                   options=tuple(options.items()))


OPTIONS = {"mqar": ("pairs", "keys", "layout", "echo", "in_order"), "selective_copying": ("copies", "alphabet"),
           "induction_heads": ("alphabet",)}
TASKS = {t.name: t for t in [
    Task("mqar", 2 * (MQAR_KEYS + 1), 64, 16 * MQAR_KEYS, MQAR_KEYS + 1, mqar),
    Task("selective_copying", 24, 2 * COPY_TOKENS, 1 << 20, COPY_TOKENS, selective_copying),
    Task("induction_heads", 24, 8, 1 << 20, COPY_TOKENS, induction_heads),
]}
