"""Held-out evaluation of a language model on the quality corpus, as lm-evaluation-harness's
rolling log-likelihood for perplexity: the test stream cut into disjoint windows of the
context length, every token scored exactly once (the first token of the stream is context
only). Per domain: token perplexity and bits per byte,

    bpb = sum NLL (nats) / (ln 2 x UTF-8 bytes of the scored tokens),

which compares across tokenizers (token perplexity does not); the headline is the
unweighted mean over domains.
"""
from __future__ import annotations

import contextlib
import math

import numpy as np
import torch
import torch.nn.functional as F


@contextlib.contextmanager
def no_capacity_drops(model):
    """Routed models score every token with its routed experts: capacity limits off while
    evaluating (Switch Transformer evaluates with a larger capacity factor for the same reason).
    Evaluation batches hold one domain at a time, so a capacity sized for mixed training batches
    would drop most of a specialist's chunks and score them through the identity path."""
    holders = [m for m in model.modules() if hasattr(m, "capacity_factor")]
    cfg = getattr(model, "cfg", None)
    if cfg is not None and hasattr(cfg, "capacity_factor"):
        holders.append(cfg)
    saved = [h.capacity_factor for h in holders]
    for h in holders:
        h.capacity_factor = 0
    try:
        yield
    finally:
        for h, value in zip(holders, saved):
            h.capacity_factor = value


def windows(n_tokens: int, context: int) -> list[tuple[int, int]]:
    """[start, end) of each input window over a stream of n_tokens: inputs tokens[start:end],
    targets tokens[start+1:end+1]; disjoint, covering targets 1 .. n_tokens-1 once each."""
    return [(s, min(s + context, n_tokens - 1)) for s in range(0, n_tokens - 1, context)]


def bits_per_byte(nll_nats: float, n_bytes: int) -> float:
    return nll_nats / (math.log(2) * n_bytes)


@torch.no_grad()
def score_stream(model, tokens: np.ndarray, token_bytes: np.ndarray, context: int, device,
                 batch_size: int = 8, dtype=torch.float32, max_tokens: int | None = None) -> dict:
    """Sum of NLL, scored tokens and their bytes over `tokens` (optionally its first
    max_tokens), with perplexity and bits per byte."""
    if max_tokens:
        tokens = tokens[:max_tokens + 1]
    spans = windows(len(tokens), context)
    nll, count, n_bytes = 0.0, 0, 0
    stream = torch.as_tensor(tokens, dtype=torch.long)
    autocast = torch.autocast(torch.device(device).type, dtype=dtype, enabled=dtype != torch.float32)
    for i in range(0, len(spans), batch_size):
        group = spans[i:i + batch_size]
        for length in sorted({e - s for s, e in group}):  # the last window may be shorter
            same = [(s, e) for s, e in group if e - s == length]
            idx = torch.stack([stream[s:e] for s, e in same]).to(device)
            targets = torch.stack([stream[s + 1:e + 1] for s, e in same]).to(device)
            with autocast:
                logits = model(idx)[0]
            nll += F.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), reduction="sum").item()
            count += targets.numel()
            n_bytes += int(token_bytes[targets.cpu().numpy()].sum())
    return {"nll": nll, "tokens": count, "bytes": n_bytes, "ppl": math.exp(nll / count),
            "bpb": bits_per_byte(nll, n_bytes)}
