"""The swarm's aggregator: fuses the k encoder outputs of each chunk into one sequence.

The Mamba Encoder Swarm design document ("aggregator.py"): the encoder outputs are "sparsely
aggregated" before the Mamba decoder. Two fusions, both per token and therefore causal:

    gate        sum_i g_i * y_i with the router's gates g (the sparse mixture of MoE layers)
    attention   per-token weights over the k outputs: softmax_i(q(x_t) . k(y_i,t) / sqrt(d_a)
                + log g_i), so the router's preference is the prior and each token can
                re-weight the encoders that saw its chunk

Slots whose assignment was dropped by the capacity limit hold the chunk's own input (the
identity), with their gate, so a dropped chunk passes through unchanged.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
from torch import Tensor

FUSIONS = ("gate", "attention")


class Aggregator(nn.Module):
    def __init__(self, d_model: int, fusion: str = "gate", d_attention: int = 64):
        super().__init__()
        if fusion not in FUSIONS:
            raise ValueError(f"fusion={fusion!r}; valid: {', '.join(FUSIONS)}")
        self.fusion = fusion
        if fusion == "attention":
            self.query = nn.Linear(d_model, d_attention, bias=False)
            self.key = nn.Linear(d_model, d_attention, bias=False)
            self.scale = 1 / math.sqrt(d_attention)

    def forward(self, slots: Tensor, gates: Tensor, inputs: Tensor) -> Tensor:
        """slots (M, k, Lc, d) encoder outputs, gates (M, k), inputs (M, Lc, d) -> (M, Lc, d)."""
        gates = gates.to(slots.dtype)
        if self.fusion == "gate":
            return torch.einsum("mk,mkld->mld", gates, slots)
        scores = torch.einsum("mla,mkla->mkl", self.query(inputs), self.key(slots)) * self.scale
        weights = (scores.float() + gates.float().clamp(min=1e-9).log()[:, :, None]).softmax(dim=1)  # (M, k, Lc)
        return torch.einsum("mkl,mkld->mld", weights.to(slots.dtype), slots)

    def flops_per_token(self, k: int, d_model: int) -> int:
        if self.fusion == "gate":
            return 2 * k * d_model
        d_a = self.query.out_features
        return 2 * (d_model * d_a * (1 + k) + k * d_a + k * d_model)
