"""Pure-PyTorch state-space duality (Mamba-2 SSD), the reference twins of mamba-ssm's Triton
`mamba_chunk_scan_combined` (state-spaces/mamba `mamba_ssm/ops/triton/ssd_combined.py`).

Dao & Gu, "Transformers are SSMs" (2024), section 6 and its Listing 1 ("SSD minimal"): a
scalar-times-identity state matrix per head, so the recurrence

    h_t = exp(dt_t * A) * h_{t-1} + dt_t * x_t B_t^T        (h: (B, H, P, N) per head)
    y_t = h_t C_t + D * x_t

can be computed chunk by chunk: inside a chunk as masked attention with a decay matrix,
between chunks as a short recurrence over the chunks' final states. Shapes, as upstream:

    x: (B, L, H, P)   dt: (B, L, H)   A: (H,)   B, C: (B, L, G, N)   D: (H,)
    heads are split evenly over the G groups that share B and C.

`ssd_sequential` is the plain recurrence (the ground truth); `ssd_chunked` is the
algorithm the kernel follows. `dt` arrives already biased and passed through softplus. All
arithmetic is float32; outputs are cast back to x's dtype.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange, repeat
from torch import Tensor


def _heads(t: Tensor, n_heads: int) -> Tensor:
    """B or C (B, L, G, N) -> one copy per head (B, L, H, N)."""
    return repeat(t.float(), "b l g n -> b l (g r) n", r=n_heads // t.shape[2])


def segment_sum(a: Tensor) -> Tensor:
    """a (..., T) -> (..., T, T) with out[i, j] = a[j+1] + ... + a[i] for i >= j, -inf above the
    diagonal; exp() of it is the decay from step j to step i (1 on the diagonal)."""
    T = a.shape[-1]
    a = repeat(a, "... t -> ... t s", s=T)  # column j holds a copy of a
    below = torch.tril(torch.ones(T, T, dtype=torch.bool, device=a.device), diagonal=-1)
    sums = torch.cumsum(a.masked_fill(~below, 0), dim=-2)
    return sums.masked_fill(~torch.tril(torch.ones(T, T, dtype=torch.bool, device=a.device)), float("-inf"))


def ssd_sequential(x: Tensor, dt: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None = None,
                   initial_state: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """The recurrence one token at a time -> y (B, L, H, P), final state (B, H, P, N)."""
    batch, seqlen, n_heads, headdim = x.shape
    Bh, Ch = _heads(B, n_heads), _heads(C, n_heads)
    h = x.new_zeros(batch, n_heads, headdim, B.shape[-1], dtype=torch.float32) if initial_state is None \
        else initial_state.float()
    ys = []
    for t in range(seqlen):
        decay = torch.exp(dt[:, t].float() * A.float())  # (B, H)
        h = decay[..., None, None] * h + torch.einsum("bh,bhp,bhn->bhpn", dt[:, t].float(), x[:, t].float(), Bh[:, t])
        ys.append(torch.einsum("bhpn,bhn->bhp", h, Ch[:, t]))
    y = torch.stack(ys, dim=1)
    if D is not None:
        y = y + D.float()[:, None] * x.float()
    return y.to(x.dtype), h


def ssd_chunked(x: Tensor, dt: Tensor, A: Tensor, B: Tensor, C: Tensor, chunk_len: int = 256,
                D: Tensor | None = None, initial_state: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """The same result by chunks of `chunk_len` -> y (B, L, H, P), final state (B, H, P, N).
    A length that is not a multiple of the chunk is padded with dt = 0 steps, which neither
    decay nor drive the state."""
    batch, seqlen, n_heads, headdim = x.shape
    pad = -seqlen % chunk_len
    X = F.pad(x.float() * dt.float()[..., None], (0, 0, 0, 0, 0, pad))  # (B, L', H, P), input times dt
    a = F.pad(dt.float() * A.float(), (0, 0, 0, pad))  # (B, L', H): log decay per step
    Bh = F.pad(_heads(B, n_heads), (0, 0, 0, 0, 0, pad))
    Ch = F.pad(_heads(C, n_heads), (0, 0, 0, 0, 0, pad))
    X, Bh, Ch = (rearrange(t, "b (c s) h k -> b c s h k", s=chunk_len) for t in (X, Bh, Ch))
    a = rearrange(a, "b (c s) h -> b h c s", s=chunk_len)  # (B, H, chunks, S)
    a_cum = torch.cumsum(a, dim=-1)

    # 1. inside each chunk: attention-like, with the decay between positions as the mask
    decay = torch.exp(segment_sum(a))  # (B, H, chunks, S, S)
    y_diag = torch.einsum("bclhn,bcshn,bhcls,bcshp->bclhp", Ch, Bh, decay, X)
    # 2. each chunk's contribution to the state at its end
    to_end = torch.exp(a_cum[..., -1:] - a_cum)  # (B, H, chunks, S)
    states = torch.einsum("bclhn,bhcl,bclhp->bchpn", Bh, to_end, X)  # (B, chunks, H, P, N)
    # 3. the states carried from chunk to chunk (a recurrence over chunks, written as one matmul)
    start = x.new_zeros(batch, 1, n_heads, headdim, B.shape[-1], dtype=torch.float32) if initial_state is None \
        else initial_state.float()[:, None]
    states = torch.cat([start, states], dim=1)  # (B, chunks + 1, H, P, N)
    chunk_decay = torch.exp(segment_sum(F.pad(a_cum[..., -1], (1, 0))))  # (B, H, chunks + 1, chunks + 1)
    states = torch.einsum("bhzc,bchpn->bzhpn", chunk_decay, states)
    states, final = states[:, :-1], states[:, -1]
    # 4. the state entering each chunk, read out at every position of it
    y_off = torch.einsum("bclhn,bchpn,bhcl->bclhp", Ch, states, torch.exp(a_cum))
    y = rearrange(y_diag + y_off, "b c s h p -> b (c s) h p")[:, :seqlen]
    if D is not None:
        y = y + D.float()[:, None] * x.float()
    return y.to(x.dtype), final
