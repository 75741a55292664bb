"""The Mamba-2 mixer block, with mamba-ssm's Triton SSD kernels and a pure-PyTorch reference.

Follows `Mamba2` in state-spaces/mamba `mamba_ssm/modules/mamba2.py` (Dao & Gu 2024): one
input projection to [z, x, B, C, dt], a short causal convolution over [x, B, C], the SSD
scan with a scalar decay per head, a gated RMSNorm and the output projection. Parameter
names, shapes and initialisation are upstream's (`in_proj, conv1d, dt_bias, A_log, D,
norm.weight, out_proj`; no extra MLP, `D` per head, `norm_before_gate=False`), so a state
dict loads into either. Backends (recorded in `last_backend`, see models.kernels):

    cuda_fused  mamba-ssm `mamba_split_conv1d_scan_combined`: conv, scan, norm and out_proj
    cuda_scan   mamba-ssm `mamba_chunk_scan_combined`; conv by causal-conv1d or torch
    reference   models.ssd.ssd_chunked (pure PyTorch, any device)
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange, repeat
from torch import Tensor

from models import kernels
from models.mamba_block import dt_bias_init
from models.ssd import ssd_chunked


class GatedRMSNorm(nn.Module):
    """RMSNorm of x * silu(z) over groups of `group_size` channels (upstream's `RMSNormGated`
    with norm_before_gate=False), computed in float32."""

    def __init__(self, dim: int, group_size: int, eps: float = 1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.group_size, self.eps = group_size, eps

    def forward(self, x: Tensor, z: Tensor) -> Tensor:
        gated = rearrange(x.float() * F.silu(z.float()), "... (g s) -> ... g s", s=self.group_size)
        normed = gated * torch.rsqrt(gated.pow(2).mean(-1, keepdim=True) + self.eps)
        return (rearrange(normed, "... g s -> ... (g s)") * self.weight.float()).to(x.dtype)


class Mamba2Block(nn.Module):
    def __init__(self, d_model: int, d_state: int = 128, d_conv: int = 4, expand: int = 2, headdim: int = 64,
                 ngroups: int = 1, chunk_size: int = 256, A_init_range: tuple[float, float] = (1.0, 16.0),
                 dt_min: float = 1e-3, dt_max: float = 0.1, dt_init_floor: float = 1e-4, backend: str = "auto"):
        super().__init__()
        self.d_model, self.d_state, self.d_conv = d_model, d_state, d_conv
        self.d_inner = expand * d_model
        if self.d_inner % headdim:
            raise ValueError(f"expand * d_model = {self.d_inner} is not a multiple of headdim={headdim}")
        self.headdim, self.nheads, self.ngroups, self.chunk_size = headdim, self.d_inner // headdim, ngroups, chunk_size
        if self.nheads % ngroups:
            raise ValueError(f"{self.nheads} heads cannot be split over ngroups={ngroups}")
        if backend not in kernels.BACKENDS:
            raise ValueError(f"backend={backend!r}; valid: {', '.join(kernels.BACKENDS)}")
        self.backend = backend
        self.last_backend: str | None = None
        self.last_step_backend: str | None = None

        self.conv_dim = self.d_inner + 2 * ngroups * d_state  # the conv runs over [x, B, C]
        self.in_proj = nn.Linear(d_model, self.d_inner + self.conv_dim + self.nheads, bias=False)  # [z, xBC, dt]
        self.conv1d = nn.Conv1d(self.conv_dim, self.conv_dim, kernel_size=d_conv, groups=self.conv_dim,
                                padding=d_conv - 1, bias=True)
        self.dt_bias = nn.Parameter(dt_bias_init((self.nheads,), dt_min, dt_max, dt_init_floor))
        self.A_log = nn.Parameter(torch.log(torch.empty(self.nheads).uniform_(*A_init_range)))  # (H,)
        self.D = nn.Parameter(torch.ones(self.nheads))  # (H,)
        for p in (self.dt_bias, self.A_log, self.D):
            p._no_weight_decay = True
        self.norm = GatedRMSNorm(self.d_inner, group_size=self.d_inner // ngroups)
        self.out_proj = nn.Linear(self.d_inner, d_model, bias=False)

    def _split(self, zxbcdt: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        return torch.split(zxbcdt, [self.d_inner, self.conv_dim, self.nheads], dim=-1)  # z, xBC, dt

    def _conv(self, xBC: Tensor, backend: str) -> Tensor:
        """Causal depthwise conv + silu over (B, L, conv_dim)."""
        conv_fn = kernels.causal_conv1d_fn() if backend == "cuda_scan" else None
        if conv_fn is not None:
            weight = rearrange(self.conv1d.weight, "d 1 w -> d w")
            return conv_fn(xBC.transpose(1, 2), weight, self.conv1d.bias, activation="silu").transpose(1, 2)
        return F.silu(self.conv1d(xBC.transpose(1, 2))[..., :xBC.shape[1]]).transpose(1, 2)

    def forward(self, hidden_states: Tensor, return_state: bool = False, initial_state=None):
        """(B, L, d_model) -> (B, L, d_model); with `return_state`, also the state after the last
        token (as `init_state`), so generation can continue with `step` (prefill).
        `initial_state` (as `init_state`) continues from an earlier sequence's state."""
        seqlen = hidden_states.shape[1]
        backend = kernels.resolve_backend(self.backend, hidden_states.device.type, family="mamba2")
        if (return_state or initial_state is not None) and backend == "cuda_fused":  # it keeps no conv state
            backend = "cuda_scan"
        self.last_backend = backend
        zxbcdt = self.in_proj(hidden_states)  # (B, L, d_inner + conv_dim + H)
        A = -torch.exp(self.A_log.float())  # (H,)
        if backend == "cuda_fused":
            return kernels.mamba2_kernels().mamba_split_conv1d_scan_combined(
                zxbcdt, rearrange(self.conv1d.weight, "d 1 w -> d w"), self.conv1d.bias, self.dt_bias, A, D=self.D,
                chunk_size=self.chunk_size, activation="silu", rmsnorm_weight=self.norm.weight,
                rmsnorm_eps=self.norm.eps, outproj_weight=self.out_proj.weight, outproj_bias=None,
                headdim=self.headdim, ngroups=self.ngroups, norm_before_gate=False)

        z, xBC, dt = self._split(zxbcdt)
        if initial_state is not None:  # the conv window continues the earlier inputs
            xBC = torch.cat([initial_state[0].transpose(1, 2).to(xBC.dtype), xBC], dim=1)  # (B, d_conv + L, conv_dim)
        conv_state = F.pad(xBC.transpose(1, 2), (self.d_conv - xBC.shape[1], 0)) if xBC.shape[1] < self.d_conv \
            else xBC[:, -self.d_conv:].transpose(1, 2)  # (B, conv_dim, d_conv)
        x, B, C = torch.split(self._conv(xBC, backend)[:, -seqlen:], [self.d_inner, self.ngroups * self.d_state,
                                                                      self.ngroups * self.d_state], dim=-1)
        x = rearrange(x, "b l (h p) -> b l h p", p=self.headdim)
        B = rearrange(B, "b l (g n) -> b l g n", g=self.ngroups)
        C = rearrange(C, "b l (g n) -> b l g n", g=self.ngroups)
        if backend == "cuda_scan":
            y, ssm_state = kernels.mamba2_kernels().mamba_chunk_scan_combined(
                x, dt, A, B, C, chunk_size=self.chunk_size, D=self.D, dt_bias=self.dt_bias, dt_softplus=True,
                initial_states=None if initial_state is None else initial_state[1], return_final_states=True)
        else:
            y, ssm_state = ssd_chunked(x, F.softplus(dt.float() + self.dt_bias.float()), A, B, C,
                                       chunk_len=self.chunk_size, D=self.D,
                                       initial_state=None if initial_state is None else initial_state[1])
        out = self.out_proj(self.norm(rearrange(y, "b l h p -> b l (h p)"), z))
        return (out, (conv_state.contiguous(), ssm_state.float())) if return_state else out

    def init_state(self, batch_size: int, device=None, dtype=torch.float32) -> tuple[Tensor, Tensor]:
        """Recurrent state: the conv window (B, conv_dim, d_conv) and the SSM state (B, H, P, N)."""
        device = device or self.A_log.device
        return (torch.zeros(batch_size, self.conv_dim, self.d_conv, device=device, dtype=dtype),
                torch.zeros(batch_size, self.nheads, self.headdim, self.d_state, device=device, dtype=torch.float32))

    def step(self, x: Tensor, state: tuple[Tensor, Tensor], kernels_ok: bool = True):
        """One token: x (B, d_model) -> (B, d_model), with the new state. On CUDA with the kernels,
        upstream `Mamba2.step`'s: `causal_conv1d_update` and the Triton `selective_state_update`,
        both in place; otherwise `step_reference`. The kernel that ran is in `last_step_backend`."""
        update = kernels.decode_update(self, x, kernels_ok)
        if update is None:
            return self.step_reference(x, state)
        conv_state, ssm_state = state
        z, xBC, dt = self._split(self.in_proj(x))
        xBC = update.causal_conv1d_update(xBC, conv_state, rearrange(self.conv1d.weight, "d 1 w -> d w"),
                                          self.conv1d.bias, "silu")
        xs, B, C = torch.split(xBC, [self.d_inner, self.ngroups * self.d_state, self.ngroups * self.d_state], dim=-1)
        p, n = self.headdim, self.d_state
        y = update.selective_state_update(
            ssm_state, rearrange(xs, "b (h p) -> b h p", p=p), repeat(dt, "b h -> b h p", p=p),
            repeat(-torch.exp(self.A_log.float()), "h -> h p n", p=p, n=n),
            rearrange(B, "b (g n) -> b g n", g=self.ngroups), rearrange(C, "b (g n) -> b g n", g=self.ngroups),
            repeat(self.D, "h -> h p", p=p), dt_bias=repeat(self.dt_bias, "h -> h p", p=p), dt_softplus=True)
        return self.out_proj(self.norm(rearrange(y, "b h p -> b (h p)"), z)), (conv_state, ssm_state)

    def step_reference(self, x: Tensor, state: tuple[Tensor, Tensor]) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """The decode recurrence in plain PyTorch, any device; returns a new state."""
        conv_state, ssm_state = state
        z, xBC, dt = self._split(self.in_proj(x))
        conv_state = torch.cat([conv_state[:, :, 1:], xBC.unsqueeze(-1).to(conv_state.dtype)], dim=-1)
        xBC = F.silu((conv_state * rearrange(self.conv1d.weight, "d 1 w -> d w")).sum(-1) + self.conv1d.bias)
        xs, B, C = torch.split(xBC.float(), [self.d_inner, self.ngroups * self.d_state, self.ngroups * self.d_state],
                               dim=-1)
        xs = rearrange(xs, "b (h p) -> b h p", p=self.headdim)
        B = repeat(B, "b (g n) -> b (g r) n", g=self.ngroups, r=self.nheads // self.ngroups)  # (B, H, N)
        C = repeat(C, "b (g n) -> b (g r) n", g=self.ngroups, r=self.nheads // self.ngroups)
        dt = F.softplus(dt.float() + self.dt_bias.float())  # (B, H)
        decay = torch.exp(dt * -torch.exp(self.A_log.float()))  # (B, H)
        ssm_state = decay[..., None, None] * ssm_state + torch.einsum("bh,bhp,bhn->bhpn", dt, xs, B)
        y = torch.einsum("bhpn,bhn->bhp", ssm_state, C) + self.D.float()[:, None] * xs
        y = rearrange(y, "b h p -> b (h p)").to(x.dtype)
        return self.out_proj(self.norm(y, z)), (conv_state, ssm_state)

    def flops_per_token(self) -> int:
        """Forward FLOPs for one token: projections and conv (2 per MAC), and the recurrence's
        state update and readout (the model's work, not the chunked algorithm's extra)."""
        proj = self.d_model * self.in_proj.out_features + self.d_inner * self.d_model
        conv = self.conv_dim * self.d_conv
        scan = 5 * self.d_inner * self.d_state  # decay mul, drive mul+add, readout mul+add
        return 2 * (proj + conv) + scan
