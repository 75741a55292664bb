"""Pure-PyTorch selective scan (Mamba-1 S6), the reference twins of mamba-ssm's CUDA kernel.

Follows `selective_scan_ref` in state-spaces/mamba `mamba_ssm/ops/selective_scan_interface.py`
(Gu & Dao, "Mamba: Linear-Time Sequence Modeling with Selective State Spaces", 2023, Alg. 2),
with the same argument names, shapes and semantics:

    u, delta, z: (B, D, L)   A: (D, N)   B, C: (B, N, L)   D, delta_bias: (D,)
    (or per batch item, for experts with their own weights: A (B, D, N), D, delta_bias (B, D))
    h_t = exp(delta_t * A) * h_{t-1} + delta_t * B_t * u_t        (state h: (B, D, N))
    y_t = <C_t, h_t> + D * u_t,   then y_t * silu(z_t) when z is given

Two implementations:
- `selective_scan_sequential`: the plain recurrence, one step per token (the ground truth);
- `selective_scan_chunked`: a Hillis-Steele scan inside chunks of `chunk_len` tokens plus a
  short sequential pass carrying the state between chunks. Same result, log2(chunk_len)
  vectorised steps instead of L Python steps, so the CPU path is fast enough for tests.
All arithmetic is float32; the output is cast back to u's dtype, as upstream does.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def _per_channel(t: Tensor) -> Tensor:
    """(D,) or per batch item (B, D) -> broadcastable against (B, D, L)."""
    return t.float()[None, :, None] if t.dim() == 1 else t.float()[:, :, None]


def _discretize(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, delta_bias: Tensor | None,
                delta_softplus: bool) -> tuple[Tensor, Tensor]:
    delta = delta.float()
    if delta_bias is not None:
        delta = delta + _per_channel(delta_bias)
    if delta_softplus:
        delta = F.softplus(delta)
    pattern = "bdl,dn->bdln" if A.dim() == 2 else "bdl,bdn->bdln"
    decay = torch.exp(torch.einsum(pattern, delta, A.float()))  # (B, D, L, N)
    drive = torch.einsum("bdl,bnl,bdl->bdln", delta, B.float(), u.float())  # (B, D, L, N)
    return decay, drive


def _readout(h: Tensor, u: Tensor, C: Tensor, D: Tensor | None, z: Tensor | None) -> Tensor:
    y = torch.einsum("bdln,bnl->bdl", h, C.float())  # (B, D, L)
    if D is not None:
        y = y + u.float() * _per_channel(D)
    if z is not None:
        y = y * F.silu(z.float())
    return y.to(u.dtype)


def selective_scan_sequential(u, delta, A, B, C, D=None, z=None, delta_bias=None,
                              delta_softplus=False, return_last_state=False, initial_state=None):
    """The recurrence as written, token by token. Returns y (B, D, L) [, last state (B, D, N)]."""
    decay, drive = _discretize(u, delta, A, B, delta_bias, delta_softplus)
    batch, dim, length, n = decay.shape
    h = decay.new_zeros(batch, dim, n) if initial_state is None else initial_state.float()
    states = []
    for t in range(length):
        h = decay[:, :, t] * h + drive[:, :, t]  # (B, D, N)
        states.append(h)
    y = _readout(torch.stack(states, dim=2), u, C, D, z)
    return (y, h) if return_last_state else y


def _scan_within_chunks(decay: Tensor, drive: Tensor) -> tuple[Tensor, Tensor]:
    """Inclusive scan along dim -2 of h_t = a_t * h_{t-1} + x_t, starting from h = 0.

    Returns (cumulative decay prod_{s<=t} a_s, local state h_t); both (..., T, N).
    """
    length = decay.shape[-2]
    offset = 1
    while offset < length:
        drive = torch.cat([drive[..., :offset, :],
                           drive[..., offset:, :] + decay[..., offset:, :] * drive[..., :-offset, :]], dim=-2)
        decay = torch.cat([decay[..., :offset, :],
                           decay[..., offset:, :] * decay[..., :-offset, :]], dim=-2)
        offset *= 2
    return decay, drive


def selective_scan_chunked(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
                           return_last_state=False, initial_state=None, chunk_len: int = 64):
    """Chunked parallel scan; equal to `selective_scan_sequential` up to float32 rounding."""
    decay, drive = _discretize(u, delta, A, B, delta_bias, delta_softplus)
    batch, dim, length, n = decay.shape
    chunk_len = max(1, min(chunk_len, length))
    n_chunks = -(-length // chunk_len)
    pad = n_chunks * chunk_len - length
    if pad:  # padded steps keep the state unchanged: decay 1, drive 0
        decay = F.pad(decay, (0, 0, 0, pad), value=1.0)
        drive = F.pad(drive, (0, 0, 0, pad), value=0.0)
    decay = decay.view(batch, dim, n_chunks, chunk_len, n)
    drive = drive.view(batch, dim, n_chunks, chunk_len, n)
    cum_decay, local = _scan_within_chunks(decay, drive)  # (B, D, c, T, N) each

    carry = decay.new_zeros(batch, dim, n) if initial_state is None else initial_state.float()
    carries_in = []
    for c in range(n_chunks):  # n_chunks small steps on (B, D, N)
        carries_in.append(carry)
        carry = cum_decay[:, :, c, -1] * carry + local[:, :, c, -1]
    carry_in = torch.stack(carries_in, dim=2)  # (B, D, c, N)
    h = local + cum_decay * carry_in[:, :, :, None, :]  # (B, D, c, T, N)
    h = h.view(batch, dim, n_chunks * chunk_len, n)[:, :, :length]  # (B, D, L, N)
    y = _readout(h, u, C, D, z)
    return (y, carry) if return_last_state else y
