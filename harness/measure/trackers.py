"""Trackers a task wraps around the work it measures, in the style of optimum-benchmark's
`trackers/` (latency, memory, energy): the one place in the harness that reads clocks.

LatencyTracker: marks on a timeline, CUDA events on a GPU (recorded on the current stream,
read after one final synchronize, so timing adds no host-device round trip) and
perf_counter elsewhere.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Callable, Iterator

import torch


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class LatencyTracker:
    """Marks on a timeline; `elapsed_ms(a, b)` between two of them.

    `mark()` returns a handle; `interval()` is a context manager that records one sample into
    `samples` once `read()` is called (CUDA events are only read after a synchronize).
    Also usable as the duck-typed `clock` that models accept for timing their own parts
    (any object with `mark()` and `elapsed_ms(a, b)`).
    """

    def __init__(self, device: torch.device):
        self.device = device
        self.cuda = device.type == "cuda"
        self._marks: list = []
        self._intervals: list[tuple[int, int]] = []

    def mark(self) -> int:
        if self.cuda:
            event = torch.cuda.Event(enable_timing=True)
            event.record()
            self._marks.append(event)
        else:
            self._marks.append(time.perf_counter())
        return len(self._marks) - 1

    def elapsed_ms(self, start: int, end: int) -> float:
        """Milliseconds between marks `start` and `end` (synchronizes first on a GPU)."""
        a, b = self._marks[start], self._marks[end]
        if self.cuda:
            b.synchronize()
            return a.elapsed_time(b)
        return (b - a) * 1e3

    @contextmanager
    def interval(self) -> Iterator[None]:
        start = self.mark()
        yield
        self._intervals.append((start, self.mark()))

    def read(self) -> list[float]:
        """Milliseconds of every `interval()` so far, in order (one synchronize at most)."""
        synchronize(self.device)
        return [self.elapsed_ms(a, b) for a, b in self._intervals]

    def time_once(self, fn: Callable[[], object]) -> float:
        """Milliseconds of one call of `fn`, synchronised."""
        with self.interval():
            fn()
        return self.read()[-1]
