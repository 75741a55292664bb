"""The measurement a sweep point runs in its child process: one model, one shape, one mode.

mode `forward`: inference forward (weights in `dtype`, torch.inference_mode).
mode `train`:   one optimisation step: forward, backward, AdamW step (fp32 weights, autocast
                to `dtype`), the way models are trained in harness training runs.
Order, as optimum-benchmark's inference and training scenarios with their trackers
(harness.measure.trackers): build -> warm-up (its first call timed apart: kernel loading,
compilation, autotuning) -> timed iterations inside a MemoryTracker (peak memory reset after
the warm-up, NVML sampled) and an EnergyTracker -> only when those iterations lasted less than
`energy_min_s`, an extra energy window for the remainder -> one untimed backbone iteration
(below) -> with `profile=true`, one more iteration under torch.profiler
(harness.measure.profiling) -> read clocks. Peak memory therefore covers the timed iterations
only, with parameters, optimizer state and inputs already resident (the static allocation).

Backbone memory (on a GPU): the whole model's peak is what a user pays, but at a large vocabulary
the B x L x V logits dominate it. One more iteration under its own MemoryTracker measures the
sequence mixer without them: forward computes the logits of the last position only
(`logits="last"`); a training step uses the chunked cross entropy (`loss_chunk` =
BACKBONE_LOSS_CHUNK positions, logits recomputed in backward; models.lm_base.chunked_lm_loss).
The record's `memory_mb` gains `backbone_peak_alloc`, `backbone_how` and `logits_share` (the
share of the activation memory above the static allocation that the full logits cost).
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

BACKBONE_LOSS_CHUNK = 1024  # positions per chunk of the cross entropy in the backbone training step


def _step_fn(model, mode: str, idx, targets, dtype, device):
    """The measured call; its keywords go to the model's forward (`logits`, `loss_chunk`)."""
    if mode == "forward":
        def forward(**head):
            with torch.inference_mode():
                model(idx, **head)
        return forward
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=device.type == "cuda")
    autocast = torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32)

    def train_step(**head):
        optimizer.zero_grad(set_to_none=True)
        with autocast:
            _, loss = model(idx, targets, **head)
        loss.backward()
        optimizer.step()
    return train_step


def backbone_memory(step, mode: str, device: torch.device, whole: dict) -> dict:
    """One untimed iteration without the full logits (module docstring); {} off a GPU, where
    torch keeps no allocation peak. `whole` is the timed iterations' `memory_mb`."""
    if device.type != "cuda":
        return {}
    head = {"logits": "last"} if mode == "forward" else {"loss_chunk": BACKBONE_LOSS_CHUNK}
    with MemoryTracker(device, sample_nvml=False) as memory:
        step(**head)
    how = "last-position logits" if mode == "forward" else f"chunked cross entropy ({BACKBONE_LOSS_CHUNK} positions)"
    above_whole = whole["peak_alloc"] - whole["static_alloc"]
    above_backbone = memory.peak_alloc - memory.static_alloc
    share = 1 - above_backbone / above_whole if above_whole > 0 else None
    return {"backbone_peak_alloc": memory.peak_alloc, "backbone_static_alloc": memory.static_alloc,
            "backbone_how": how, "logits_share": share}


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
    memory_mb = memory.result()
    memory_mb.update(backbone_memory(step, point["mode"], device, memory_mb))
    measure_s = time.perf_counter() - t1
    profile = profile_step(step, device, point["profile_trace"]) if point.get("profile_trace") else None

    latency = summarize(samples_ms)
    return {
        **({"profile": profile} if profile else {}),
        "samples_ms": samples_ms,
        "latency_ms": latency,
        "tokens_per_s": batch * seq_len / (latency["median"] / 1e3),
        "memory_mb": memory_mb,
        "energy": energy.result(tokens=tokens_timed + extra_calls * batch * seq_len) if wants_energy else {},
        "model_info": model_info(model, seq_len),
        "phases_s": {"build": build_s, "measure": measure_s, **phases},
        "env": env_mod.collect(device),  # read after the point: clocks and throttle reasons included
    }
