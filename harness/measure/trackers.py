"""Trackers a task wraps around the work it measures, in the style of optimum-benchmark's
`trackers/` (LatencyTracker, MemoryTracker, EnergyTracker): the one place in the harness that
times work on a device and reads its memory and energy counters.

LatencyTracker  marks on a timeline: CUDA events on a GPU (recorded on the current stream,
                read after one final synchronize, so timing adds no host-device round trip),
                perf_counter elsewhere. Also the duck-typed `clock` models accept.
MemoryTracker   peak memory of a `with` block: torch's allocated and reserved peaks (reset on
                entry), the NVML per-process peak (harness.measure.nvml.ProcessMemorySampler),
                the host's peak RSS, and the static allocation at entry (weights, optimizer
                state, inputs: what the peak sits on top of).
EnergyTracker   the NVML total-energy counter's difference over a `with` block and its
                wall-clock length.

Every reading a device cannot give is None (memory) or absent (energy), so CPU points record
"not available" rather than failing. Memory is in MiB (MB = 2^20 bytes, as nvidia-smi prints).
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Callable, Iterator

import torch

from harness.measure import nvml
from harness.measure.host_memory import host_peak_mb

MB = 2**20


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def cuda_index(device: torch.device) -> int:
    """The CUDA ordinal of `device` ("cuda" alone means the current device)."""
    return device.index if device.index is not None else torch.cuda.current_device()


class LatencyTracker:
    """Marks on a timeline; `elapsed_ms(a, b)` between two of them.

    `mark()` returns a handle; `interval()` is a context manager that records one interval,
    whose milliseconds `read()` returns (CUDA events are only read after a synchronize).
    Also usable as the duck-typed `clock` that models accept for timing their own parts
    (any object with `mark()` and `elapsed_ms(a, b)`).
    """

    def __init__(self, device: torch.device):
        self.device = device
        self.cuda = device.type == "cuda"
        self._marks: list = []  # torch.cuda.Event on a GPU, perf_counter seconds elsewhere
        self._intervals: list[tuple[int, int]] = []  # (start mark, end mark) per interval()

    def mark(self) -> int:
        if self.cuda:
            event = torch.cuda.Event(enable_timing=True)
            event.record()
            self._marks.append(event)
        else:
            self._marks.append(time.perf_counter())
        return len(self._marks) - 1

    def elapsed_ms(self, start: int, end: int) -> float:
        """Milliseconds between marks `start` and `end` (waits for `end` first on a GPU)."""
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
        """Milliseconds of one call of `fn`, synchronised; also kept for `read()`."""
        with self.interval():
            fn()
        return self.elapsed_ms(*self._intervals[-1])


class MemoryTracker:
    """Peak memory over a `with` block, in MiB; attributes are None where the device has no
    such reading (every GPU field on the CPU).

    On entry (after a synchronize): `static_alloc` = torch's allocated bytes, then the peak
    statistics are reset and, with `sample_nvml`, NVML sampling of this process starts. On
    exit (after a synchronize): `peak_alloc`, `peak_reserved` (torch's peaks within the block),
    `final_alloc` (allocated at exit), `nvml_process_peak`, and `peak_rss`: the process's
    peak resident host memory since the point began (`reset_host_peak` is called by the worker
    before each point, so a warm worker's points each read their own peak, as fresh ones do).
    """

    def __init__(self, device: torch.device, sample_nvml: bool = True):
        self.device = device
        self.cuda = device.type == "cuda"
        self.sample_nvml = sample_nvml and self.cuda
        self.static_alloc = self.peak_alloc = self.peak_reserved = self.final_alloc = None
        self.nvml_process_peak = self.peak_rss = None

    def __enter__(self) -> "MemoryTracker":
        synchronize(self.device)
        if self.cuda:
            self.static_alloc = torch.cuda.memory_allocated(self.device) / MB
            torch.cuda.reset_peak_memory_stats(self.device)
        self._sampler = nvml.ProcessMemorySampler(cuda_index(self.device)).__enter__() if self.sample_nvml else None
        return self

    def __exit__(self, *exc) -> None:
        synchronize(self.device)
        if self._sampler is not None:
            self._sampler.__exit__(*exc)
            self.nvml_process_peak = self._sampler.peak_bytes / MB if self._sampler.peak_bytes else None
        if self.cuda:
            self.peak_alloc = torch.cuda.max_memory_allocated(self.device) / MB
            self.peak_reserved = torch.cuda.max_memory_reserved(self.device) / MB
            self.final_alloc = torch.cuda.memory_allocated(self.device) / MB
        self.peak_rss = host_peak_mb()

    def result(self) -> dict:
        """A record's `memory_mb`: peak_alloc, peak_reserved, static_alloc, nvml_process_peak, peak_rss."""
        return {"peak_alloc": self.peak_alloc, "peak_reserved": self.peak_reserved, "static_alloc": self.static_alloc,
                "nvml_process_peak": self.nvml_process_peak, "peak_rss": self.peak_rss}


class EnergyTracker:
    """The device's NVML total-energy difference over a `with` block (synchronised at both
    ends), and the block's wall-clock seconds between the two readings. `available` says
    whether the counter can be read at all (a GPU since Volta, with NVML); without it the
    block still runs and `result()` is empty."""

    def __init__(self, device: torch.device):
        self.device = device
        self.index = cuda_index(device) if device.type == "cuda" else None
        self.joules = self.seconds = None

    @property
    def available(self) -> bool:
        return self.index is not None and nvml.total_energy_mj(self.index) is not None

    def __enter__(self) -> "EnergyTracker":
        synchronize(self.device)
        self._start_mj = nvml.total_energy_mj(self.index) if self.index is not None else None
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        synchronize(self.device)
        seconds = time.perf_counter() - self._t0
        end_mj = nvml.total_energy_mj(self.index) if self._start_mj is not None else None
        if end_mj is not None:
            self.joules, self.seconds = (end_mj - self._start_mj) / 1e3, seconds

    def add(self, other: "EnergyTracker") -> None:
        """Count `other`'s window as part of this one (an extra window run after this one)."""
        if self.joules is not None and other.joules is not None:
            self.joules, self.seconds = self.joules + other.joules, self.seconds + other.seconds

    def result(self, tokens: int) -> dict:
        """A record's `energy` for `tokens` processed in the block: energy_j_per_token,
        avg_power_w, energy_window_s; {} when the counter was not read."""
        if self.joules is None:
            return {}
        return {"energy_j_per_token": self.joules / tokens, "avg_power_w": self.joules / self.seconds,
                "energy_window_s": self.seconds}
