"""Grouped (per-expert) linear layers and the bookkeeping of sparse dispatch.

Sparse models (the swarm's encoder pool, Mamba-MoE's experts) run each row through the
weights of the expert it was routed to. Rows are sorted by expert, so expert e owns the
contiguous rows `offsets[e-1]:offsets[e]`, and one grouped GEMM does the work of all
experts at once: its cost grows with the rows dispatched and the experts actually used, not
with the number of experts that exist.

Backends of `grouped_linear` (recorded with results):
    grouped_mm   torch._grouped_mm (CUTLASS grouped GEMM; CUDA, bf16), as torchtitan's MoE
    loop         one F.linear per non-empty group: the reference, any device and dtype; also
                 where grouped_mm cannot take the shape (fits_grouped_mm)
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

GROUPED_BACKENDS = ("auto", "grouped_mm", "loop")


def resolve_grouped_backend(requested: str, device_type: str) -> str:
    if requested not in GROUPED_BACKENDS:
        raise ValueError(f"unknown grouped backend {requested!r}; valid: {', '.join(GROUPED_BACKENDS)}")
    if requested == "auto":
        return "grouped_mm" if device_type == "cuda" else "loop"
    if requested == "grouped_mm" and device_type != "cuda":
        raise ValueError("grouped backend 'grouped_mm' needs a CUDA device (its CPU fallback has no backward)")
    return requested


def group_offsets(group_ids: Tensor, n_groups: int, rows_per_item: int = 1) -> Tensor:
    """Sorted group ids (M,) -> int32 cumulative row ends (n_groups,), empty groups included."""
    counts = torch.bincount(group_ids, minlength=n_groups) * rows_per_item
    return counts.cumsum(0).to(torch.int32)


def _compute_dtype(x: Tensor, weight: Tensor) -> torch.dtype:
    if torch.is_autocast_enabled(x.device.type):
        return torch.get_autocast_dtype(x.device.type)
    return weight.dtype


def fits_grouped_mm(in_features: int, out_features: int, dtype: torch.dtype) -> bool:
    """torch._grouped_mm needs every row stride a multiple of 16 bytes (a Mamba encoder's dt_proj
    at d_model 64 has in = 4 bf16 = 8 bytes); other shapes take the loop."""
    size = torch.empty((), dtype=dtype).element_size()
    return (in_features * size) % 16 == 0 and (out_features * size) % 16 == 0


def grouped_linear(x: Tensor, weight: Tensor, offsets: Tensor, backend: str) -> Tensor:
    """Rows of group g times weight[g]^T: x (M, in), weight (G, out, in), offsets (G,) -> (M, out)."""
    dtype = _compute_dtype(x, weight)
    x, weight = x.to(dtype), weight.to(dtype)
    if backend == "grouped_mm" and fits_grouped_mm(weight.shape[2], weight.shape[1], dtype):
        return torch._grouped_mm(x, weight.transpose(-2, -1), offs=offsets)
    out = x.new_zeros(x.shape[0], weight.shape[1])
    ends = offsets.tolist()
    start = 0
    for group, end in enumerate(ends):
        if end > start:
            out[start:end] = F.linear(x[start:end], weight[group])
        start = end
    return out


class ExpertLinear(nn.Module):
    """A bank of `n_experts` linear maps (no bias), weight (G, out, in), optionally factored.

    `rank == 0`: independent weights per expert.
    `rank > 0`: hierarchical sharing: W_e = W_base + U_f(e) V_f(e) + U_e V_e, one base shared by
    all experts, a low-rank delta per family f (a domain) and one per expert. Memory falls from
    G*out*in to out*in + (F + G)*rank*(out + in). The expert deltas start at zero (U = 0), so
    every expert starts as the base plus its family's delta.
    """

    def __init__(self, n_experts: int, d_in: int, d_out: int, rank: int = 0,
                 family_of_expert: list[int] | None = None):
        super().__init__()
        self.n_experts, self.d_in, self.d_out, self.rank = n_experts, d_in, d_out, rank
        bound = 1 / math.sqrt(d_in)  # nn.Linear's default scale
        if rank == 0:
            self.weight = nn.Parameter(torch.empty(n_experts, d_out, d_in).uniform_(-bound, bound))
            return
        families = family_of_expert or [0] * n_experts
        n_families = max(families) + 1
        self.register_buffer("family", torch.tensor(families, dtype=torch.long), persistent=False)
        self.base = nn.Parameter(torch.empty(d_out, d_in).uniform_(-bound, bound))
        self.family_up = nn.Parameter(torch.zeros(n_families, d_out, rank))
        self.family_down = nn.Parameter(torch.empty(n_families, rank, d_in).uniform_(-bound, bound))
        self.expert_up = nn.Parameter(torch.zeros(n_experts, d_out, rank))
        self.expert_down = nn.Parameter(torch.empty(n_experts, rank, d_in).uniform_(-bound, bound))

    def per_expert_params(self) -> int:
        """Parameters that belong to a single expert (what an inactive expert leaves idle)."""
        return self.d_out * self.d_in if self.rank == 0 else self.rank * (self.d_out + self.d_in)

    def expert_weight(self, experts: Tensor) -> Tensor:
        """The dense weights of `experts` (...,) -> (..., out, in)."""
        if self.rank == 0:
            return self.weight[experts]
        family = self.family[experts]
        return (self.base + self.family_up[family] @ self.family_down[family]
                + self.expert_up[experts] @ self.expert_down[experts])

    def forward(self, x: Tensor, offsets: Tensor, backend: str) -> Tensor:
        """x (M, in), rows sorted by expert with `offsets` (G,) -> (M, out)."""
        if self.rank == 0:
            return grouped_linear(x, self.weight, offsets, backend)
        family_offsets = offsets[self._family_ends()]
        out = F.linear(x, self.base.to(_compute_dtype(x, self.base)))
        low = grouped_linear(x, self.family_down, family_offsets, backend)  # (M, rank)
        out = out + grouped_linear(low, self.family_up, family_offsets, backend)
        low = grouped_linear(x, self.expert_down, offsets, backend)
        return out + grouped_linear(low, self.expert_up, offsets, backend)

    def _family_ends(self) -> Tensor:
        """Index of the last expert of each family (families are contiguous blocks of experts)."""
        ends = torch.nonzero(self.family[1:] != self.family[:-1]).flatten()
        return torch.cat([ends, ends.new_tensor([self.n_experts - 1])])
