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

from harness.measure.trackers import EnergyTracker, LatencyTracker, MemoryTracker, synchronize


def time_iterations(fn: Callable[[], object], device: torch.device, warmup: int, iters: int,
                    max_time_s: float, memory: MemoryTracker | None = None, energy: EnergyTracker | None = None,
                    phases: dict | None = None) -> list[float]:
    """Run `fn` `warmup` times, then time it up to `iters` times (at least 3, at most
    `max_time_s` of wall time). `memory` and `energy`, when given, are entered after the
    warm-up and exited after the last timed iteration: they cover the timed iterations only.
    `phases`, when given, receives `first_call` (the first warm-up call, synchronised: kernel
    loading, compilation, autotuning) and `warmup` (all warm-up calls), in seconds. Returns
    per-iteration milliseconds."""
    t0 = time.perf_counter()
    for i in range(warmup):
        fn()
        if i == 0 and phases is not None:
            synchronize(device)
            phases["first_call"] = time.perf_counter() - t0
    synchronize(device)
    if phases is not None:
        phases["warmup"] = time.perf_counter() - t0
    clock = LatencyTracker(device)
    with memory or contextlib.nullcontext(), energy or contextlib.nullcontext():
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
