"""The measurement a sweep point runs in its child process: one model, one shape, one mode.

mode `forward`: inference forward (weights in `dtype`, torch.inference_mode).
mode `train`:   one optimisation step: forward, backward, AdamW step (fp32 weights, autocast
                to `dtype`), the way models are trained in harness training runs.
Order, as optimum-benchmark's inference and training scenarios with their trackers
(harness.measure.trackers): build -> warm-up (its first call timed apart: kernel loading,
compilation, autotuning) -> timed iterations inside a MemoryTracker (peak memory reset after
the warm-up, NVML sampled) and an EnergyTracker -> only when those iterations lasted less than
`energy_min_s`, an extra energy window for the remainder -> with `profile=true`, one more
iteration under torch.profiler (harness.measure.profiling) -> read clocks. Peak memory therefore covers the timed iterations only, with
parameters, optimizer state and inputs already resident (the static allocation).
"""
from __future__ import annotations

import time

import torch

from harness.measure import env as env_mod
from harness.measure.profiling import profile_step
from harness.measure.stats import summarize
from harness.measure.timing import run_for_at_least, time_iterations
from harness.measure.trackers import EnergyTracker, MemoryTracker
from harness.tasks.model_setup import DTYPES, build_model, model_info, random_tokens


def _step_fn(model, mode: str, idx, targets, dtype, device):
    if mode == "forward":
        def forward():
            with torch.inference_mode():
                model(idx)
        return forward
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=device.type == "cuda")
    autocast = torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32)

    def train_step():
        optimizer.zero_grad(set_to_none=True)
        with autocast:
            _, loss = model(idx, targets)
        loss.backward()
        optimizer.step()
    return train_step


def measure_model(point: dict) -> dict:
    device = torch.device(point["device"])
    dtype = DTYPES[point["dtype"]]
    t0 = time.perf_counter()
    model = build_model(point, train=point["mode"] == "train")
    batch, seq_len = point["batch_size"], point["seq_len"]
    tokens = random_tokens(point, seq_len + 1)
    idx, targets = tokens[:, :-1], tokens[:, 1:]  # (B, L) each
    step = _step_fn(model, point["mode"], idx, targets, dtype, device)
    build_s = time.perf_counter() - t0

    t1 = time.perf_counter()
    memory, energy, phases = MemoryTracker(device), EnergyTracker(device), {}
    wants_energy = point["energy_min_s"] > 0 and energy.available
    samples_ms = time_iterations(step, device, point["warmup"], point["iters"], point["max_time_s"], memory=memory,
                                 energy=energy if wants_energy else None, phases=phases)
    tokens_timed = len(samples_ms) * batch * seq_len
    extra_calls = 0
    if wants_energy and energy.seconds is not None and energy.seconds < point["energy_min_s"]:
        extra = EnergyTracker(device)  # the timed iterations were too short a window: run the remainder
        with extra:
            extra_calls = run_for_at_least(step, device, point["energy_min_s"] - energy.seconds)
        energy.add(extra)
    measure_s = time.perf_counter() - t1
    profile = profile_step(step, device, point["profile_trace"]) if point.get("profile_trace") else None

    latency = summarize(samples_ms)
    return {
        **({"profile": profile} if profile else {}),
        "samples_ms": samples_ms,
        "latency_ms": latency,
        "tokens_per_s": batch * seq_len / (latency["median"] / 1e3),
        "memory_mb": memory.result(),
        "energy": energy.result(tokens=tokens_timed + extra_calls * batch * seq_len) if wants_energy else {},
        "model_info": model_info(model, seq_len),
        "phases_s": {"build": build_s, "measure": measure_s, **phases},
        "env": env_mod.collect(device),  # read after the point: clocks and throttle reasons included
    }
