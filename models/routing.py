"""Top-k routing with capacity, shared by the swarm's chunk router and Mamba-MoE's token router.

Follows the Switch Transformer (Fedus et al. 2021): softmax gates over the selected experts,
load-balancing loss N * sum_i f_i * P_i, and a capacity per expert; the router z-loss of
ST-MoE (Zoph et al. 2022); noisy top-k gating of Shazeer et al. (2017). Dynamic k (`top_p`)
follows the top-p routing of Huang et al. (2024, "Harder Tasks Need More Experts: Dynamic
Routing in MoE Models"): the fewest experts whose probability mass reaches a threshold,
capped here at k_max so shapes stay static (the unused slots are inactive).

Capacity and causality. Each *dispatch group* (one chunk position of the swarm, one window of
positions of the MoE) gives every expert `capacity` slots. Assignments claim slots in a fixed
order: earlier positions first, then choice rank (every top-1 before any top-2), then batch
row. An assignment that finds its expert full is dropped and its gate mass falls back to the
identity (the input passes through unchanged). Because no later position can take a slot from
an earlier one, dropping never lets the future leak into the past; priority by gate value
(V-MoE's batch-prioritised routing) would. The same order is used step by step in generation,
so `step()` reproduces `forward()` exactly.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass
class Routing:
    """Routing of M dispatch items (chunks or tokens) to k of N experts."""
    experts: Tensor  # (M, k) long, chosen experts
    gates: Tensor  # (M, k) float, softmax over the chosen logits
    keep: Tensor  # (M, k) bool, False where the expert was full (dropped)
    probs: Tensor  # (M, N) float, softmax over all experts (for the balance loss)
    logits: Tensor  # (M, N) float
    active: Tensor | None = None  # (M, k) bool with dynamic k: the slots in use (None: all)


def capacity(n_items: int, k: int, n_experts: int, factor: float, minimum: int) -> int:
    """Slots per expert in a dispatch group of `n_items` items; 0 means unlimited."""
    if factor <= 0:
        return 0
    return max(minimum, math.ceil(factor * n_items * k / n_experts))


def top_k(logits: Tensor, k: int) -> tuple[Tensor, Tensor, Tensor]:
    """logits (M, N) float -> experts (M, k), gates (M, k), probs (M, N). With k = 1 the gate
    is the expert's full-softmax probability (Switch), so the router still gets a gradient."""
    top_logits, experts = logits.topk(k, dim=-1)
    probs = logits.softmax(-1)
    gates = probs.gather(-1, experts) if k == 1 else top_logits.softmax(-1)
    return experts, gates, probs


def top_p(logits: Tensor, threshold: float, k_max: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """logits (M, N) float -> experts (M, k_max) by probability, gates (M, k_max), probs (M, N),
    active (M, k_max) bool: an expert is active while the mass of those ranked before it is
    below `threshold` (the first always is). Gates are the active probabilities renormalised,
    0 elsewhere; with threshold 1 every slot is active and this is `top_k(logits, k_max)`."""
    probs = logits.softmax(-1)
    top, experts = probs.topk(k_max, dim=-1)  # descending
    mass_before = top.cumsum(-1) - top
    active = mass_before < threshold
    active[:, 0] = True
    if k_max == 1:
        return experts, top, probs, active
    kept = top * active
    return experts, kept / kept.sum(-1, keepdim=True), probs, active


def keep_within_capacity(experts: Tensor, group_of_item: Tensor, slots: int, n_experts: int,
                         active: Tensor | None = None) -> Tensor:
    """Which assignments fit. experts (M, k) with items ordered by priority inside their dispatch
    group `group_of_item` (M,) (rows earlier in M first); `active` (M, k), if given, marks the
    assignments that exist (an inactive one claims no slot and is never kept); returns keep (M, k)."""
    if slots <= 0:
        return torch.ones_like(experts, dtype=torch.bool) if active is None else active.clone()
    n_items, k = experts.shape
    # claim order: group, then choice rank, then item
    order_group = group_of_item[:, None].expand(n_items, k)
    rank = torch.arange(k, device=experts.device)[None, :].expand(n_items, k)
    item = torch.arange(n_items, device=experts.device)[:, None].expand(n_items, k)
    key = ((order_group * n_experts + experts) * k + rank) * n_items + item  # unique, sorts by (group, expert, rank, item)
    flat_key = key.flatten()
    sorted_key, perm = flat_key.sort()
    bucket = sorted_key // (k * n_items)  # (group, expert) of each sorted assignment
    starts = torch.ones_like(bucket, dtype=torch.bool)
    starts[1:] = bucket[1:] != bucket[:-1]
    position = torch.arange(len(bucket), device=experts.device)
    run_start = torch.cummax(torch.where(starts, position, torch.zeros_like(position)), dim=0).values
    exists = torch.ones_like(bucket, dtype=torch.bool) if active is None else active.flatten()[perm]
    claimed_before = torch.cumsum(exists.long(), 0) - exists.long()  # existing assignments earlier in the order
    keep_sorted = exists & ((claimed_before - claimed_before[run_start]) < slots)
    keep = torch.empty_like(keep_sorted)
    keep[perm] = keep_sorted
    return keep.view(n_items, k)


def balance_loss(probs: Tensor, experts: Tensor) -> Tensor:
    """Switch load-balancing loss N * sum_i f_i P_i over all k choices (1 when perfectly even)."""
    n_experts = probs.shape[-1]
    fraction = torch.bincount(experts.flatten(), minlength=n_experts).to(probs.dtype) / experts.numel()
    return n_experts * (fraction * probs.mean(0)).sum()


def z_loss(logits: Tensor) -> Tensor:
    """ST-MoE router z-loss: mean squared log-partition, keeps router logits small."""
    return torch.logsumexp(logits, dim=-1).pow(2).mean()


def routing_stats(routing: Routing, n_experts: int) -> dict:
    """Per-expert load (kept assignments), its entropy, dropped fraction, experts used."""
    load = torch.bincount(routing.experts[routing.keep], minlength=n_experts).float()
    share = load / load.sum().clamp(min=1)
    entropy = -(share[share > 0] * share[share > 0].log()).sum()
    active = routing.active.sum(-1).float() if routing.active is not None else None
    assigned = int(routing.keep.numel() if routing.active is None else routing.active.sum())
    dynamic = {} if active is None else {
        "k_mean": float(active.mean()),
        "k_histogram": torch.bincount(active.long(), minlength=routing.experts.shape[1] + 1)[1:].tolist()}
    return {
        **dynamic,
        "load": load.tolist(),
        "load_entropy_bits": float(entropy / math.log(2)),
        "max_entropy_bits": math.log2(n_experts),
        "experts_used": int((load > 0).sum()),
        "dropped_fraction": float(1 - routing.keep.sum() / assigned) if assigned else 0.0,
        "router_entropy_bits": float(-(routing.probs * routing.probs.clamp(min=1e-30).log()).sum(-1).mean()
                                     / math.log(2)),
    }


def noisy(logits: Tensor, noise_logits: Tensor, training: bool) -> Tensor:
    """Noisy top-k gating: add N(0, softplus(noise_logits)^2) noise while training."""
    if not training:
        return logits
    return logits + torch.randn_like(logits) * F.softplus(noise_logits)
