"""The measurement a sweep point runs in its child process: one model, one shape, one mode.

mode `forward`: inference forward (weights in `dtype`, torch.inference_mode).
mode `train`:   one optimisation step: forward, backward, AdamW step (fp32 weights, autocast
                to `dtype`), the way models are trained in harness training runs.
Order: build -> warm-up -> reset peak memory -> timed iterations (NVML memory sampled) ->
an energy window of at least `energy_min_s` -> read clocks. Peak memory therefore covers the
timed iterations only, with parameters, optimizer state and inputs already resident.
"""
from __future__ import annotations

import resource
import time

import torch

from harness.measure import env as env_mod
from harness.measure import nvml
from harness.measure.stats import summarize
from harness.measure.timing import run_for_at_least, time_iterations
from models import registry

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
MB = 2**20


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


def build_model(point: dict, train: bool):
    """The point's model, seeded and initialised on its device: weights in the point's dtype for
    inference, float32 for training (autocast does the rest)."""
    device = torch.device(point["device"])
    torch.manual_seed(point["seed"])
    with torch.device(device):  # initialise on the device: no host init, no copy
        model = registry.build(point["model"], point["model_config"])
    model = model.to(dtype=torch.float32 if train else DTYPES[point["dtype"]])
    return model.train(train)


def random_tokens(point: dict, length: int) -> torch.Tensor:
    """(batch_size, length) token ids from the point's seed, on its device."""
    generator = torch.Generator().manual_seed(point["seed"])
    vocab = point["model_config"]["vocab_size"]
    return torch.randint(0, vocab, (point["batch_size"], length), generator=generator).to(point["device"])


def model_info(model, seq_len: int) -> dict:
    return {"params_total": model.num_params(active=False), "params_active": model.num_params(active=True),
            "flops_per_token": model.flops_per_token(seq_len), "backend": model.kernel_backend(),
            "extra": model.extra_info() if hasattr(model, "extra_info") else {}}


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

    on_gpu = device.type == "cuda"
    index = device.index if device.index is not None else (torch.cuda.current_device() if on_gpu else 0)
    t1 = time.perf_counter()
    for _ in range(point["warmup"]):
        step()
    if on_gpu:
        torch.cuda.synchronize(device)
        static_bytes = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        with nvml.ProcessMemorySampler(index) as sampler:
            samples_ms = time_iterations(step, device, 0, point["iters"], point["max_time_s"])
        peak_alloc, peak_reserved = torch.cuda.max_memory_allocated(device), torch.cuda.max_memory_reserved(device)
    else:
        static_bytes = None
        samples_ms = time_iterations(step, device, 0, point["iters"], point["max_time_s"])
        peak_alloc = peak_reserved = None
    measure_s = time.perf_counter() - t1

    energy = {}
    e0 = nvml.total_energy_mj(index) if on_gpu else None
    if e0 is not None and point["energy_min_s"] > 0:
        n, seconds = run_for_at_least(step, device, point["energy_min_s"])
        joules = (nvml.total_energy_mj(index) - e0) / 1e3
        energy = {"energy_j_per_token": joules / (n * batch * seq_len), "avg_power_w": joules / seconds,
                  "energy_window_s": seconds}

    latency = summarize(samples_ms)
    return {
        "samples_ms": samples_ms,
        "latency_ms": latency,
        "tokens_per_s": batch * seq_len / (latency["median"] / 1e3),
        "memory_mb": {
            "peak_alloc": peak_alloc / MB if peak_alloc is not None else None,
            "peak_reserved": peak_reserved / MB if peak_reserved is not None else None,
            "static_alloc": static_bytes / MB if static_bytes is not None else None,
            "nvml_process_peak": sampler.peak_bytes / MB if on_gpu and sampler.peak_bytes else None,
            "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,  # KiB on Linux
        },
        "energy": energy,
        "model_info": model_info(model, seq_len),
        "phases_s": {"build": build_s, "measure": measure_s},
        "env": env_mod.collect(device),  # read after the point: clocks and throttle reasons included
    }
