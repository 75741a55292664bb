"""The hypothetical Transformer swarm of the Mamba Encoder Swarm design document: the same
router and aggregator over N small Transformer encoders (pre-norm RMSNorm, causal multi-head
attention, SwiGLU MLP, as the Llama baseline in models.transformer) instead of Mamba encoders.

Each encoder attends only inside its chunk (Lc tokens, causal), so attention costs
O(L * Lc) per encoder, not O(L^2). No positional encoding: causal attention orders tokens by
itself (Haviv et al. 2022, "Transformer language models without positional encodings still
learn positional information"), and the swarm's decoder carries order across chunks.
Projections are grouped GEMMs over the dispatched chunks (models.grouped); the reference twin
is the same code with one F.linear per encoder in use. `step()` recomputes the current
chunk (at most Lc tokens) instead of keeping a KV cache.

Attention is fused SDPA here; `attention="eager"` materialises the score matrix instead
(`eager_causal_attention`, as transformers' `eager_attention_forward`), which is what
models.swarm.full_attention_pool runs over whole sequences.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor

from models.grouped import ExpertLinear, group_offsets, resolve_grouped_backend


def sdpa_causal_attention(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """q, k, v (A, H, L, hd) -> (A, H, L, hd), causal, one fused kernel (no score matrix kept)."""
    return F.scaled_dot_product_attention(q, k, v, is_causal=True)


def eager_causal_attention(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """q, k, v (A, H, L, hd) -> (A, H, L, hd), causal, as transformers' Llama `eager_attention_forward`:
    the scores are materialised (scaled Q K^T plus an additive causal mask, softmax in float32 cast
    back), so memory grows as A x H x L^2: in bf16 about 10 bytes per score element at the softmax (the
    scores, their float32 copy, the float32 result), 8 at the cast back."""
    seq_len = q.shape[-2]
    mask = torch.full((seq_len, seq_len), torch.finfo(q.dtype).min, device=q.device, dtype=q.dtype).triu(1)  # (L, L)
    scores = torch.matmul(q, k.transpose(2, 3)) * q.shape[-1] ** -0.5  # (A, H, L, L)
    scores = scores + mask
    weights = F.softmax(scores, dim=-1, dtype=torch.float32).to(q.dtype)  # (A, H, L, L)
    return torch.matmul(weights, v)


ATTENTION = {"sdpa": sdpa_causal_attention, "eager": eager_causal_attention}


class TransformerEncoderLayers(nn.Module):
    def __init__(self, n: int, d_model: int, n_head: int, d_ff: int, share_rank: int, family: list[int],
                 out_scale: float):
        super().__init__()
        self.n_head = n_head
        self.norm1_weight = nn.Parameter(torch.ones(n, d_model))
        self.qkv = ExpertLinear(n, d_model, 3 * d_model, share_rank, family)
        self.attn_out = ExpertLinear(n, d_model, d_model, share_rank, family)
        self.norm2_weight = nn.Parameter(torch.ones(n, d_model))
        self.gate_up = ExpertLinear(n, d_model, 2 * d_ff, share_rank, family)
        self.down = ExpertLinear(n, d_ff, d_model, share_rank, family)
        with torch.no_grad():
            for bank in (self.attn_out, self.down):
                (bank.weight if share_rank == 0 else bank.base).mul_(out_scale)

    def banks(self) -> list[ExpertLinear]:
        return [self.qkv, self.attn_out, self.gate_up, self.down]

    def forward(self, h: Tensor, experts: Tensor, offsets: Tensor, backend: str, eps: float, attend) -> Tensor:
        """h (A, T, d) items of T tokens sorted by encoder, `attend` one of ATTENTION -> (A, T, d)."""
        n_items, chunk_len, d_model = h.shape
        rows = lambda t: rearrange(t, "a l d -> (a l) d")  # noqa: E731
        normed = F.rms_norm(h, (d_model,), eps=eps) * self.norm1_weight[experts][:, None].to(h.dtype)
        qkv = rearrange(self.qkv(rows(normed), offsets, backend), "(a l) (three h e) -> three a h l e",
                        l=chunk_len, three=3, h=self.n_head)
        attn = attend(qkv[0], qkv[1], qkv[2])  # (A, H, T, hd)
        h = h + self.attn_out(rearrange(attn, "a h l e -> (a l) (h e)"), offsets, backend).view_as(h).to(h.dtype)
        normed = F.rms_norm(h, (d_model,), eps=eps) * self.norm2_weight[experts][:, None].to(h.dtype)
        gate, up = self.gate_up(rows(normed), offsets, backend).chunk(2, dim=-1)
        return h + self.down(F.silu(gate) * up, offsets, backend).view_as(h).to(h.dtype)


class TransformerEncoderPool(nn.Module):
    POOL_BACKENDS = ("auto", "grouped", "loop")

    def __init__(self, n_encoders: int, n_layers: int, d_model: int, n_head: int, d_ff: int,
                 share_rank: int = 0, family: list[int] | None = None, pool_backend: str = "auto",
                 eps: float = 1e-5):
        super().__init__()
        if pool_backend not in self.POOL_BACKENDS:
            raise ValueError(f"pool_backend={pool_backend!r}; valid: {', '.join(self.POOL_BACKENDS)}")
        if d_model % n_head:
            raise ValueError(f"d_model={d_model} is not divisible by n_head={n_head}")
        family = family or [0] * n_encoders
        self.n_encoders, self.d_model, self.d_ff, self.eps, self.pool_backend = n_encoders, d_model, d_ff, eps, pool_backend
        self.layers = nn.ModuleList(
            TransformerEncoderLayers(n_encoders, d_model, n_head, d_ff, share_rank, family, 1 / math.sqrt(2 * n_layers))
            for _ in range(n_layers))
        self.last_dispatch: dict = {}

    def per_encoder_params(self) -> int:
        d = self.d_model
        return len(self.layers) * (2 * d + sum(b.per_expert_params() for b in self.layers[0].banks()))

    def flops_per_token(self, chunk_len: int) -> int:
        d, ff = self.d_model, self.d_ff
        macs = 4 * d * d + 3 * d * ff + d * chunk_len  # projections, MLP, attention over half a chunk
        return 2 * len(self.layers) * macs

    def _gemm_backend(self, device_type: str) -> str:
        return "loop" if self.pool_backend == "loop" else resolve_grouped_backend("auto", device_type)

    def forward(self, h: Tensor, experts: Tensor, attention: str = "sdpa") -> Tensor:
        """h (A, Lc, d) dispatched chunks sorted by encoder id `experts` (A,) -> (A, Lc, d), each item
        attended causally within itself with `attention` (sdpa | eager)."""
        backend = self._gemm_backend(h.device.type)
        offsets = group_offsets(experts, self.n_encoders, rows_per_item=h.shape[1])
        for layer in self.layers:
            h = layer(h, experts, offsets, backend, self.eps, ATTENTION[attention])
        self.last_dispatch = {"pool": f"transformer+{backend}+{attention}", "chunks": h.shape[0]}
        return h

    def init_state(self, batch_size: int, k: int, device=None, dtype=torch.float32) -> Tensor:
        """The current chunk's inputs so far, (B, t, d): at most chunk_len tokens."""
        device = device or self.layers[0].norm1_weight.device
        return torch.zeros(batch_size, 0, self.d_model, device=device, dtype=dtype)

    def step(self, x: Tensor, experts: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        """x (B, d), experts (B, k) -> (B, k, d): the chunk so far through each chosen encoder."""
        batch, k = experts.shape
        state = torch.cat([state, x[:, None].to(state.dtype)], dim=1)  # (B, t, d)
        items = state[:, None].expand(batch, k, *state.shape[1:]).flatten(0, 1)  # (B*k, t, d)
        order = experts.flatten().argsort(stable=True)
        out = torch.empty_like(items)
        out[order] = self(items[order], experts.flatten()[order])
        return out[:, -1].view(batch, k, self.d_model), state
