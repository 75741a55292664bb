"""The loss after a short, fully seeded training run: a deterministic check that a change did
not alter what a model computes or how it learns (the regression suite's quality signal).

Data is synthetic and learnable: token sequences over the first `data_vocab` ids from a
fixed random sparse bigram table (every token has `branching` equally likely successors), so
within a few dozen steps the loss falls from ln(vocab) towards ln(branching), and a broken
gradient or initialisation shows up as a loss that does not.
Same seed, device and library versions give the same curve; on the CPU it is bit-exact
(deterministic algorithms), on a GPU atomics in backward kernels allow small differences,
which `harness.analysis.compare` absorbs with a tolerance. The same idea as Megatron-LM's
functional tests, which compare a seeded run's loss curve with golden values.
"""
from __future__ import annotations

import math
import time

import torch

from harness.measure import env as env_mod
from harness.tasks.model_setup import DTYPES, build_model


def bigram_batches(vocab: int, batch: int, seq_len: int, steps: int, branching: int, seed: int) -> torch.Tensor:
    """(steps, batch, seq_len + 1) ids in [0, vocab) drawn from a seeded sparse bigram chain."""
    gen = torch.Generator().manual_seed(seed)
    successors = torch.randint(0, vocab, (vocab, branching), generator=gen)  # (V, branching)
    tokens = torch.empty(steps * batch, seq_len + 1, dtype=torch.long)
    tokens[:, 0] = torch.randint(0, vocab, (steps * batch,), generator=gen)
    choice = torch.randint(0, branching, (steps * batch, seq_len), generator=gen)
    for t in range(seq_len):
        tokens[:, t + 1] = successors[tokens[:, t], choice[:, t]]
    return tokens.view(steps, batch, seq_len + 1)


def train_loss(point: dict) -> dict:
    """Train `point["model"]` for `loss_steps` AdamW steps on seeded bigram data; returns the
    loss curve, its last value and the model's size facts."""
    device = torch.device(point["device"])
    dtype = DTYPES[point["dtype"]]
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True)
    model = build_model(point, train=True)  # float32 weights, autocast to `dtype`
    steps, vocab = point["loss_steps"], min(point["data_vocab"], point["model_config"]["vocab_size"])
    data = bigram_batches(vocab, point["batch_size"], point["seq_len"], steps, point["branching"],
                          point["seed"]).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=point["lr"])
    autocast = torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32)
    curve = []
    t0 = time.perf_counter()
    for step in range(steps):
        optimizer.zero_grad(set_to_none=True)
        with autocast:
            _, loss = model(data[step, :, :-1], data[step, :, 1:])
        loss.backward()
        optimizer.step()
        curve.append(loss.item())
        if not math.isfinite(curve[-1]):
            break
    return {
        "loss": {"curve": curve, "initial": curve[0], "final": curve[-1], "steps": len(curve),
                 "floor": math.log(point["branching"]), "train_s": time.perf_counter() - t0},
        "model_info": {
            "params_total": model.num_params(active=False), "params_active": model.num_params(active=True),
            "flops_per_token": model.flops_per_token(point["seq_len"]), "backend": model.kernel_backend(),
        },
        "env": env_mod.collect(device),
    }
