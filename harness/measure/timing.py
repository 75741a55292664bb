"""Timing loops over harness.measure.trackers: per-iteration latency after a warm-up, and a
loop that runs for at least a given time (the energy window).

As optimum-benchmark's latency tracker and mamba-ssm's benchmarks: the warm-up keeps lazy
initialisation, cuDNN/cuBLAS heuristics and Triton autotuning out of the numbers; every timed
iteration is one LatencyTracker interval (a pair of CUDA events on a GPU), all read after one
final synchronize so the timing itself adds no host-device round trip.
"""
from __future__ import annotations

import contextlib
import time
from typing import Callable

import torch

from harness.measure.trackers import LatencyTracker, MemoryTracker, synchronize


def time_iterations(fn: Callable[[], object], device: torch.device, warmup: int, iters: int,
                    max_time_s: float, memory: MemoryTracker | None = None) -> list[float]:
    """Run `fn` `warmup` times, then time it up to `iters` times (at least 3, at most
    `max_time_s` of wall time). `memory`, when given, is entered after the warm-up and exited
    after the last timed iteration: its peaks cover the timed iterations only. Returns
    per-iteration milliseconds."""
    for _ in range(warmup):
        fn()
    synchronize(device)
    clock = LatencyTracker(device)
    with memory or contextlib.nullcontext():
        deadline = time.perf_counter() + max_time_s  # a wall-time budget, not a measurement
        for i in range(iters):
            with clock.interval():
                fn()
            if i >= 2 and time.perf_counter() > deadline:
                break
        return clock.read()


def run_for_at_least(fn: Callable[[], object], device: torch.device, min_time_s: float) -> int:
    """Run `fn` repeatedly for at least `min_time_s` seconds (checked every 4 calls on a GPU,
    every call elsewhere); returns the number of calls."""
    synchronize(device)
    clock = LatencyTracker(device)
    start, calls = clock.mark(), 0
    while True:
        fn()
        calls += 1
        if (calls % 4 == 0 or not clock.cuda) and clock.elapsed_ms(start, clock.mark()) >= min_time_s * 1e3:
            return calls
