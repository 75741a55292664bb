"""The Mamba-1 mixer block, with mamba-ssm's fused CUDA path and a pure-PyTorch reference.

Follows `Mamba` in state-spaces/mamba `mamba_ssm/modules/mamba_simple.py` (Gu & Dao 2023):
parameter names, shapes and initialisation are the same, so a state dict loads into either
(`in_proj, conv1d, x_proj, dt_proj, A_log, D, out_proj`). Which backend actually ran is kept
in `last_backend` and reported with every result (see models.kernels).
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange, repeat
from torch import Tensor

from models import kernels
from models.selective_scan import selective_scan_chunked


def dt_bias_init(shape: tuple[int, ...], dt_min: float = 1e-3, dt_max: float = 0.1,
                 floor: float = 1e-4) -> Tensor:
    """dt_proj's bias, `shape` (..., d_inner): softplus^-1 of step sizes drawn log-uniformly
    from [dt_min, dt_max] and floored, so that softplus(bias) starts at those steps."""
    dt = torch.exp(torch.rand(shape) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
    dt = dt.clamp(min=floor)
    return dt + torch.log(-torch.expm1(-dt))


class MambaBlock(nn.Module):
    def __init__(self, d_model: int, d_state: int = 16, d_conv: int = 4, expand: int = 2,
                 dt_rank: int | str = "auto", dt_min: float = 1e-3, dt_max: float = 0.1,
                 dt_init_floor: float = 1e-4, backend: str = "auto", scan_chunk_len: int = 64):
        super().__init__()
        self.d_model, self.d_state, self.d_conv = d_model, d_state, d_conv
        self.d_inner = expand * d_model
        self.dt_rank = math.ceil(d_model / 16) if dt_rank == "auto" else int(dt_rank)
        if backend not in kernels.BACKENDS:
            raise ValueError(f"backend={backend!r}; valid: {', '.join(kernels.BACKENDS)}")
        self.backend, self.scan_chunk_len = backend, scan_chunk_len
        self.last_backend: str | None = None
        self.last_step_backend: str | None = None

        self.in_proj = nn.Linear(d_model, 2 * self.d_inner, bias=False)
        self.conv1d = nn.Conv1d(self.d_inner, self.d_inner, kernel_size=d_conv, groups=self.d_inner,
                                padding=d_conv - 1, bias=True)
        self.x_proj = nn.Linear(self.d_inner, self.dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(self.dt_rank, self.d_inner, bias=True)
        self.out_proj = nn.Linear(self.d_inner, d_model, bias=False)

        # dt_proj: weights keep the variance of the dt_rank inputs (upstream's "random" init)
        nn.init.uniform_(self.dt_proj.weight, -self.dt_rank ** -0.5, self.dt_rank ** -0.5)
        with torch.no_grad():
            self.dt_proj.bias.copy_(dt_bias_init((self.d_inner,), dt_min, dt_max, dt_init_floor))
        # S4D-real initialisation: A = -(1..N) for every channel, stored as log.
        A = repeat(torch.arange(1, d_state + 1, dtype=torch.float32), "n -> d n", d=self.d_inner)
        self.A_log = nn.Parameter(torch.log(A))  # (d_inner, N)
        self.D = nn.Parameter(torch.ones(self.d_inner))  # (d_inner,)
        for p in (self.A_log, self.D, self.dt_proj.bias):
            p._no_weight_decay = True

    def forward(self, hidden_states: Tensor, return_state: bool = False, initial_state=None):
        """(B, L, d_model) -> (B, L, d_model); with `return_state`, also the recurrent state after
        the last token (as `init_state`), so generation can continue with `step` (prefill).
        `initial_state` (as `init_state`) continues from an earlier sequence's state; mamba-ssm's
        Mamba-1 scan takes none, so that runs the reference scan on any device."""
        batch, seqlen, _ = hidden_states.shape
        backend = kernels.resolve_backend(self.backend, hidden_states.device.type)
        if return_state and backend == "cuda_fused":  # the fused kernel keeps no state; upstream
            backend = "cuda_scan"  # prefills through the unfused path the same way
        if initial_state is not None:
            backend = "reference"
        self.last_backend = backend
        # one GEMM straight into the (B, 2*d_inner, L) layout the scan kernels read (as upstream)
        xz = rearrange(self.in_proj.weight @ rearrange(hidden_states, "b l d -> d (b l)"),
                       "d (b l) -> b d l", l=seqlen)  # (B, 2*d_inner, L)
        A = -torch.exp(self.A_log.float())  # (d_inner, N)
        if backend == "cuda_fused":
            return kernels.mamba_kernels().mamba_inner_fn(
                xz, self.conv1d.weight, self.conv1d.bias, self.x_proj.weight, self.dt_proj.weight,
                self.out_proj.weight, self.out_proj.bias, A, None, None, self.D.float(),
                delta_bias=self.dt_proj.bias.float(), delta_softplus=True)

        x, z = xz.chunk(2, dim=1)  # (B, d_inner, L) each
        if initial_state is not None:  # the conv window continues the earlier inputs
            x = torch.cat([initial_state[0].to(x.dtype), x], dim=-1)  # (B, d_inner, d_conv + L)
        conv_state = F.pad(x, (self.d_conv - x.shape[-1], 0)) if x.shape[-1] < self.d_conv else x[..., -self.d_conv:]
        conv_fn = kernels.causal_conv1d_fn() if backend == "cuda_scan" else None
        if conv_fn is not None:
            x = conv_fn(x, rearrange(self.conv1d.weight, "d 1 w -> d w"), self.conv1d.bias, activation="silu")
        else:
            x = F.silu(self.conv1d(x)[..., :x.shape[-1]])  # causal: left padding, right side cut
        x = x[..., -seqlen:]  # (B, d_inner, L): the prefix only fed the window
        x_dbl = self.x_proj(rearrange(x, "b d l -> (b l) d"))  # (B*L, dt_rank + 2N)
        dt, B, C = torch.split(x_dbl, [self.dt_rank, self.d_state, self.d_state], dim=-1)
        dt = rearrange(self.dt_proj.weight @ dt.t(), "d (b l) -> b d l", l=seqlen)  # (B, d_inner, L)
        B = rearrange(B, "(b l) n -> b n l", l=seqlen).contiguous()  # (B, N, L)
        C = rearrange(C, "(b l) n -> b n l", l=seqlen).contiguous()  # (B, N, L)
        if backend == "cuda_scan":
            y = kernels.mamba_kernels().selective_scan_fn(
                x, dt, A, B, C, self.D.float(), z=z, delta_bias=self.dt_proj.bias.float(), delta_softplus=True,
                return_last_state=return_state)
        else:
            y = selective_scan_chunked(x, dt, A, B, C, self.D, z=z, delta_bias=self.dt_proj.bias,
                                       delta_softplus=True, chunk_len=self.scan_chunk_len,
                                       return_last_state=return_state,
                                       initial_state=None if initial_state is None else initial_state[1])
        if not return_state:
            return self.out_proj(rearrange(y, "b d l -> b l d"))
        y, ssm_state = y  # ssm_state (B, d_inner, N), float32
        return self.out_proj(rearrange(y, "b d l -> b l d")), (conv_state.contiguous(), ssm_state.float())

    def init_state(self, batch_size: int, device=None, dtype=torch.float32) -> tuple[Tensor, Tensor]:
        """Recurrent state: the conv window (B, d_inner, d_conv) and the SSM state (B, d_inner, N)."""
        device = device or self.A_log.device
        return (torch.zeros(batch_size, self.d_inner, self.d_conv, device=device, dtype=dtype),
                torch.zeros(batch_size, self.d_inner, self.d_state, device=device, dtype=torch.float32))

    def step(self, x: Tensor, state: tuple[Tensor, Tensor], kernels_ok: bool = True):
        """One token: x (B, d_model) -> (B, d_model), with the new state.

        On CUDA with mamba-ssm (and `kernels_ok`), upstream's decode kernels run, as in
        `Mamba.step`: causal-conv1d's `causal_conv1d_update` and the Triton
        `selective_state_update`, both updating the state in place. Otherwise `step_reference`.
        The kernel that ran is kept in `last_step_backend`."""
        update = kernels.decode_update(self, x, kernels_ok)
        if update is None:
            return self.step_reference(x, state)
        conv_state, ssm_state = state
        x, z = self.in_proj(x).chunk(2, dim=-1)  # (B, d_inner) each
        x = update.causal_conv1d_update(x, conv_state, rearrange(self.conv1d.weight, "d 1 w -> d w"),
                                        self.conv1d.bias, "silu")
        dt, B, C = torch.split(self.x_proj(x), [self.dt_rank, self.d_state, self.d_state], dim=-1)
        dt = F.linear(dt, self.dt_proj.weight)  # (B, d_inner); the bias is added in the kernel
        A = -torch.exp(self.A_log.float())
        y = update.selective_state_update(ssm_state, x, dt, A, B, C, self.D.float(), z=z,
                                          dt_bias=self.dt_proj.bias.float(), dt_softplus=True)
        return self.out_proj(y), (conv_state, ssm_state)

    def step_reference(self, x: Tensor, state: tuple[Tensor, Tensor]) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """The decode recurrence in plain PyTorch, any device; returns a new state."""
        conv_state, ssm_state = state
        x, z = self.in_proj(x).chunk(2, dim=-1)  # (B, d_inner) each
        conv_state = torch.cat([conv_state[:, :, 1:], x.unsqueeze(-1).to(conv_state.dtype)], dim=-1)
        x = F.silu((conv_state * rearrange(self.conv1d.weight, "d 1 w -> d w")).sum(-1) + self.conv1d.bias)
        dt, B, C = torch.split(self.x_proj(x), [self.dt_rank, self.d_state, self.d_state], dim=-1)
        dt = F.softplus(F.linear(dt, self.dt_proj.weight).float() + self.dt_proj.bias.float())  # (B, d_inner)
        A = -torch.exp(self.A_log.float())
        ssm_state = torch.exp(dt[..., None] * A) * ssm_state + (dt * x.float())[..., None] * B.float()[:, None, :]
        y = torch.einsum("bdn,bn->bd", ssm_state, C.float()) + self.D.float() * x.float()
        y = (y * F.silu(z.float())).to(x.dtype)
        return self.out_proj(y), (conv_state, ssm_state)

    def flops_per_token(self) -> int:
        """Forward FLOPs for one token: projections (2 per MAC), conv, and the scan."""
        proj = self.d_model * 2 * self.d_inner + self.d_inner * (self.dt_rank + 2 * self.d_state) \
            + self.dt_rank * self.d_inner + self.d_inner * self.d_model
        conv = self.d_inner * self.d_conv
        scan = 9 * self.d_inner * self.d_state  # exp, 2 muls for the drive, update mul+add, readout mul+add
        return 2 * (proj + conv) + scan
