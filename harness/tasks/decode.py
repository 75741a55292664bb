"""The generation measurement a `suite=decode` point runs in its child process.

As mamba-ssm's `benchmarks/benchmark_generation_mamba_simple.py` and optimum-benchmark's
inference scenario, split into the two phases generation has:

    prefill   the prompt (B, L) through the parallel forward, leaving the KV cache or the
              recurrent state: warm-up, then `iters` timed calls (CUDA events)
    decode    greedy generation of `gen_tokens` tokens after a fresh prefill, each step timed
              on its own; `decode_repeats` timed generations after one untimed one (which
              also captures the CUDA graph when `cuda_graphs` is set)

A Transformer's KV cache is transformers' DynamicCache without graphs and, with `cuda_graphs`,
a StaticCache preallocated to prompt + `gen_tokens` positions, in the timed prefill as in the
decode; `step_backend` names which (`attn_sdpa+dynamic_cache`, `attn_sdpa+static_cache+cuda_graph`).

The headline latency (`latency_ms`) is the per-token decode step; `tokens_per_s` is batch /
that median. Cache/state bytes are read from the state itself after the prefill and after
the last token: a DynamicCache grows with every token, a recurrent state does not, and a
StaticCache counts its whole preallocated buffers from the prefill on (that memory is held
from the start). Timing and peak memory come from harness.measure.trackers: one LatencyTracker
mark per step, a MemoryTracker around the timed generations (weights included, the static
allocation at its start).
"""
from __future__ import annotations

import time

import torch

from harness.measure import env as env_mod
from harness.measure.stats import summarize
from harness.measure.timing import time_iterations
from harness.measure.trackers import MB, LatencyTracker, MemoryTracker
from harness.tasks.model_setup import build_model, model_info, random_tokens
from models import generation


def _generate(decoder: generation.GreedyDecoder, prompt: torch.Tensor, gen_tokens: int, clock: LatencyTracker):
    """One timed generation: marks before the prefill, after it, and after every step."""
    marks = [clock.mark()]
    decoder.prefill(prompt)
    marks.append(clock.mark())
    state_bytes = generation.state_nbytes(decoder.state)
    for _ in range(gen_tokens):
        decoder.step()
        marks.append(clock.mark())
    return marks, state_bytes


def step_backend(decoder: generation.GreedyDecoder) -> str:
    """Which one-token kernels ran in the decoder's last step; for a Transformer, its attention, its
    KV cache and whether the step replayed a CUDA graph."""
    model = decoder.model
    if hasattr(model, "hf"):
        if not model.graph_capturable(decoder.state):
            return f"attn_{model.cfg.attn_implementation}+dynamic_cache"
        return f"attn_{model.cfg.attn_implementation}+static_cache" + ("+cuda_graph" if decoder.graph_steps else "")
    ran = sorted({m.last_step_backend for m in model.modules() if getattr(m, "last_step_backend", None)})
    encoders = "+encoders=torch_vmap" if hasattr(model, "encoders") and getattr(model.cfg, "encoder_type", "") == "mamba" \
        else ""
    return "+".join(ran) + encoders if ran else "not run"


def measure_decode(point: dict) -> dict:
    device = torch.device(point["device"])
    on_gpu = device.type == "cuda"
    if point["cuda_graphs"] and not on_gpu:
        raise ValueError("cuda_graphs=true needs a CUDA device")
    t0 = time.perf_counter()
    model = build_model(point, train=False)
    prompt = random_tokens(point, point["seq_len"])  # (B, L)
    batch, gen_tokens = point["batch_size"], point["gen_tokens"]
    kv_cache = hasattr(model, "hf")
    max_len = point["seq_len"] + gen_tokens if point["cuda_graphs"] and kv_cache else None  # a static KV cache
    prefill_kwargs = {} if max_len is None else {"max_len": max_len}
    build_s = time.perf_counter() - t0

    t1 = time.perf_counter()
    with torch.inference_mode():
        prefill_ms = time_iterations(lambda: model.prefill(prompt, **prefill_kwargs), device, point["warmup"],
                                     point["iters"], point["max_time_s"])
        decoder = generation.GreedyDecoder(model, cuda_graphs=point["cuda_graphs"], max_len=max_len)
        _generate(decoder, prompt, gen_tokens, LatencyTracker(device))  # untimed: allocator, autotuning, graph capture
        clock = LatencyTracker(device)
        with MemoryTracker(device) as memory:  # peak reset after the untimed generation
            runs = [_generate(decoder, prompt, gen_tokens, clock) for _ in range(point["decode_repeats"])]
        final_state_bytes = generation.state_nbytes(decoder.state)
    measure_s = time.perf_counter() - t1

    step_ms = [clock.elapsed_ms(m[i], m[i + 1]) for m, _ in runs for i in range(1, len(m) - 1)]
    generation_ms = [clock.elapsed_ms(m[0], m[-1]) for m, _ in runs]
    latency = summarize(step_ms)
    generation_summary = summarize(generation_ms)
    prefill = summarize(prefill_ms)
    return {
        "samples_ms": step_ms,
        "latency_ms": latency,
        "tokens_per_s": batch / (latency["median"] / 1e3),
        "decode": {
            "gen_tokens": gen_tokens,
            "cuda_graphs": point["cuda_graphs"],
            "graph_steps": decoder.graph_steps, "eager_steps": decoder.eager_steps,
            "step_backend": step_backend(decoder),
            "prefill_ms": prefill, "prefill_samples_ms": prefill_ms,
            "prefill_tokens_per_s": batch * point["seq_len"] / (prefill["median"] / 1e3),
            "generation_ms": generation_summary,
            "generation_tokens_per_s": batch * gen_tokens / (generation_summary["median"] / 1e3),
            "state_mb": runs[-1][1] / MB,
            "state_mb_end": final_state_bytes / MB,
            "state_kind": "kv_cache" if kv_cache else "recurrent",
        },
        "memory_mb": memory.result(),
        "energy": {},
        "model_info": model_info(model, point["seq_len"]),
        "phases_s": {"build": build_s, "measure": measure_s},
        "env": env_mod.collect(device),
    }
