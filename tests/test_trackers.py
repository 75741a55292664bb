"""harness.measure.trackers and the timing loops over them: latency intervals positive and in
order, time_once, the memory tracker's CPU readings (RSS only), an empty energy result without
NVML; on a GPU, CUDA-event timing and the peak of a known allocation above the static one."""
from __future__ import annotations

import time

import pytest
import torch

from harness.measure.timing import run_for_at_least, time_iterations
from harness.measure.trackers import MB, EnergyTracker, LatencyTracker, MemoryTracker

CPU = torch.device("cpu")
MEMORY_FIELDS = ["peak_alloc", "peak_reserved", "static_alloc", "nvml_process_peak", "peak_rss"]


def test_latency_intervals_are_positive_and_ordered():
    clock = LatencyTracker(CPU)
    sleeps_s = [0.002, 0.004, 0.006]
    for s in sleeps_s:
        with clock.interval():
            time.sleep(s)
    samples = clock.read()
    assert len(samples) == 3
    assert all(ms >= s * 1e3 for ms, s in zip(samples, sleeps_s))
    # marks lie on one timeline: each later mark is no earlier than the one before
    offsets = [clock.elapsed_ms(0, m) for m in range(6)]
    assert offsets == sorted(offsets) and offsets[0] == 0.0
    assert offsets[-1] >= sum(samples)


def test_time_once_times_one_call_and_keeps_it():
    clock = LatencyTracker(CPU)
    ms = clock.time_once(lambda: time.sleep(0.003))
    assert ms >= 3.0
    assert clock.read() == [ms]


def test_the_tracker_is_a_duck_typed_clock():
    clock = LatencyTracker(CPU)
    a = clock.mark()
    time.sleep(0.002)
    b = clock.mark()
    assert (a, b) == (0, 1) and clock.elapsed_ms(a, b) >= 2.0


def test_time_iterations_warms_up_then_times_inside_the_memory_tracker():
    calls = []
    memory = MemoryTracker(CPU)
    samples = time_iterations(lambda: calls.append(memory.peak_rss), CPU, warmup=2, iters=5, max_time_s=60,
                              memory=memory)
    assert len(samples) == 5 and all(ms > 0 for ms in samples)
    assert calls == [None] * 7 and memory.peak_rss > 0  # 2 warm-up + 5 timed calls; read at the tracker's exit


def test_time_iterations_stops_at_its_time_budget_after_three():
    samples = time_iterations(lambda: time.sleep(0.002), CPU, warmup=0, iters=100, max_time_s=0.0)
    assert len(samples) == 3


def test_run_for_at_least_runs_for_at_least_the_time():
    t0 = time.perf_counter()
    calls = run_for_at_least(lambda: time.sleep(0.001), CPU, 0.02)
    assert calls >= 1 and time.perf_counter() - t0 >= 0.02


def test_memory_tracker_on_cpu_reports_rss_and_none_for_gpu_fields():
    with MemoryTracker(CPU) as memory:
        block = torch.ones(4 * MB // 4)  # (1M,) float32: 4 MiB of host memory
    del block
    result = memory.result()
    assert list(result) == MEMORY_FIELDS
    assert result["peak_rss"] > 4
    assert {k: v for k, v in result.items() if k != "peak_rss"} == dict.fromkeys(MEMORY_FIELDS[:-1])
    assert memory.final_alloc is None


def test_energy_tracker_on_cpu_yields_an_empty_result():
    energy = EnergyTracker(CPU)
    assert not energy.available
    with energy:
        time.sleep(0.001)
    assert energy.result(tokens=1000) == {} and energy.joules is None


@pytest.mark.gpu
def test_cuda_event_timing_and_peak_memory_of_a_known_allocation():
    device = torch.device("cuda")
    weights = torch.empty(16 * MB, dtype=torch.uint8, device=device)  # 16 MiB resident before the block
    clock = LatencyTracker(device)
    t0 = time.perf_counter()
    ms = clock.time_once(lambda: torch.cuda._sleep(50_000_000))  # a kernel spinning ~tens of ms
    host_ms = (time.perf_counter() - t0) * 1e3
    assert 0 < ms <= host_ms + 1.0  # device time within the host's wall time around it
    with clock.interval():
        torch.cuda._sleep(1_000_000)
    first, second = clock.read()
    assert first == pytest.approx(ms) and 0 < second < first

    with MemoryTracker(device) as memory:
        block = torch.ones(64 * MB, dtype=torch.uint8, device=device)  # (64 MiB,)
        del block
    assert memory.static_alloc >= 16
    assert memory.peak_alloc - memory.static_alloc >= 64
    assert memory.peak_reserved >= memory.peak_alloc
    assert memory.final_alloc == pytest.approx(memory.static_alloc)
    assert memory.peak_rss > 0
    del weights


@pytest.mark.gpu
def test_energy_tracker_on_a_gpu_with_nvml():
    device = torch.device("cuda")
    energy = EnergyTracker(device)
    if not energy.available:
        pytest.skip("NVML's total-energy counter is not readable here")
    with energy:
        torch.cuda._sleep(200_000_000)
    result = energy.result(tokens=100)
    assert set(result) == {"energy_j_per_token", "avg_power_w", "energy_window_s"}
    assert result["energy_window_s"] > 0 and result["energy_j_per_token"] >= 0
