"""Per-iteration timing: CUDA events on a GPU, perf_counter on the CPU, warm-up first.

As optimum-benchmark's latency tracker and mamba-ssm's benchmarks: the warm-up keeps lazy
initialisation, cuDNN/cuBLAS heuristics and Triton autotuning out of the numbers; every timed
iteration gets its own pair of events, and all are read after one final synchronize so the
timing itself adds no host-device round trip.
"""
from __future__ import annotations

import time
from typing import Callable

import torch


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_iterations(fn: Callable[[], object], device: torch.device, warmup: int, iters: int,
                    max_time_s: float) -> list[float]:
    """Run `fn` `warmup` times, then time it up to `iters` times (at least 3, at most
    `max_time_s` of wall time). Returns per-iteration milliseconds."""
    for _ in range(warmup):
        fn()
    synchronize(device)
    deadline = time.perf_counter() + max_time_s
    if device.type == "cuda":
        events = []
        for i in range(iters):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            events.append((start, end))
            if i >= 2 and time.perf_counter() > deadline:
                break
        torch.cuda.synchronize(device)
        return [start.elapsed_time(end) for start, end in events]
    samples = []
    for i in range(iters):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1e3)
        if i >= 2 and time.perf_counter() > deadline:
            break
    return samples


def run_for_at_least(fn: Callable[[], object], device: torch.device, min_time_s: float) -> tuple[int, float]:
    """Run `fn` repeatedly for at least `min_time_s` seconds; returns (iterations, seconds)."""
    synchronize(device)
    t0 = time.perf_counter()
    n = 0
    while True:
        fn()
        n += 1
        if n % 4 == 0 or device.type != "cuda":
            synchronize(device)
            if time.perf_counter() - t0 >= min_time_s:
                break
    synchronize(device)
    return n, time.perf_counter() - t0
