"""The swarm's pool of N small Mamba encoders, executed sparsely.

The "TLM manager" of the Mamba Encoder Swarm design document holds N Mamba encoders and runs
the ones the router picked. Here each encoder is a stack of pre-norm residual Mamba-1 mixers
(models.mamba_block, upstream `mamba_simple.Mamba`); the weights of all N live stacked in
tensors with a leading encoder dimension, so only the chunks routed to an encoder touch its
weights. Input: A dispatched chunks (A, Lc, d), sorted by encoder. Two executions:

    grouped   every projection one grouped GEMM over all dispatched chunks
              (models.grouped), the short convolution one depthwise conv over A*d_inner
              channels, the scan one mamba-ssm `selective_scan_fn` call per 127 chunks with
              each chunk's own A, D, dt bias and its own B/C as a scan "group" (batch 1,
              A*d_inner channels; the kernel grid caps channels at 65535). Cost grows with A
              (= batch x chunks x k) and the encoders in use, not with N.
    loop      the reference: for each encoder in use, `MambaBlock.forward` on its chunks with
              its weights (torch.func.functional_call), mamba-ssm's fused path on CUDA.

`step()` runs k encoders per batch row for one token, each with its own weights and state.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor
from torch.func import functional_call, vmap

from models import kernels
from models.grouped import ExpertLinear, group_offsets, grouped_linear, resolve_grouped_backend
from models.mamba_block import MambaBlock, dt_bias_init
from models.selective_scan import selective_scan_chunked

MAX_SCAN_CHANNELS = 65535  # selective_scan_cuda launches one block row per channel (grid.y)


class StepCall(nn.Module):
    """Lets functional_call reach a Mamba block's `step_reference` (functional_call only calls
    forward); the in-place decode kernels cannot run under vmap. Mamba-2's pool uses it too."""

    def __init__(self, block: nn.Module):
        super().__init__()
        self.block = block

    def forward(self, x, conv_state, ssm_state):
        out, (conv_state, ssm_state) = self.block.step_reference(x, (conv_state, ssm_state))
        return out, conv_state, ssm_state


class MambaEncoderLayers(nn.Module):
    """One layer of all N encoders: RMSNorm + Mamba mixer weights with a leading N dimension."""

    def __init__(self, n: int, d_model: int, d_state: int, d_conv: int, expand: int, share_rank: int,
                 family: list[int], out_scale: float, dt_min: float = 1e-3, dt_max: float = 0.1):
        super().__init__()
        d_inner = expand * d_model
        dt_rank = math.ceil(d_model / 16)
        self.d_inner, self.d_state, self.dt_rank, self.d_conv = d_inner, d_state, dt_rank, d_conv
        self.norm_weight = nn.Parameter(torch.ones(n, d_model))
        self.in_proj = ExpertLinear(n, d_model, 2 * d_inner, share_rank, family)
        bound = 1 / math.sqrt(d_conv)  # nn.Conv1d's default for a depthwise kernel
        self.conv_weight = nn.Parameter(torch.empty(n, d_inner, 1, d_conv).uniform_(-bound, bound))
        self.conv_bias = nn.Parameter(torch.empty(n, d_inner).uniform_(-bound, bound))
        self.x_proj = ExpertLinear(n, d_inner, dt_rank + 2 * d_state)
        self.dt_proj_weight = nn.Parameter(torch.empty(n, d_inner, dt_rank).uniform_(-dt_rank ** -0.5, dt_rank ** -0.5))
        self.dt_proj_bias = nn.Parameter(dt_bias_init((n, d_inner), dt_min, dt_max))  # (N, d_inner)
        self.A_log = nn.Parameter(torch.log(torch.arange(1, d_state + 1, dtype=torch.float32)).repeat(n, d_inner, 1))
        self.D = nn.Parameter(torch.ones(n, d_inner))
        self.out_proj = ExpertLinear(n, d_inner, d_model, share_rank, family)
        with torch.no_grad():
            (self.out_proj.weight if share_rank == 0 else self.out_proj.base).mul_(out_scale)
        for p in (self.A_log, self.D, self.dt_proj_bias):
            p._no_weight_decay = True

    def block_params(self, encoder: int) -> dict[str, Tensor]:
        """Encoder `encoder`'s weights under MambaBlock's parameter names."""
        e = torch.tensor([encoder], device=self.D.device)
        return {"in_proj.weight": self.in_proj.expert_weight(e)[0], "conv1d.weight": self.conv_weight[encoder],
                "conv1d.bias": self.conv_bias[encoder], "x_proj.weight": self.x_proj.expert_weight(e)[0],
                "dt_proj.weight": self.dt_proj_weight[encoder], "dt_proj.bias": self.dt_proj_bias[encoder],
                "A_log": self.A_log[encoder], "D": self.D[encoder], "out_proj.weight": self.out_proj.expert_weight(e)[0]}

    def gathered_params(self, experts: Tensor) -> dict[str, Tensor]:
        """Per-item weights of `experts` (M,) under `StepCall`'s names, each (M, ...)."""
        names = {"in_proj.weight": self.in_proj.expert_weight(experts), "conv1d.weight": self.conv_weight[experts],
                 "conv1d.bias": self.conv_bias[experts], "x_proj.weight": self.x_proj.expert_weight(experts),
                 "dt_proj.weight": self.dt_proj_weight[experts], "dt_proj.bias": self.dt_proj_bias[experts],
                 "A_log": self.A_log[experts], "D": self.D[experts],
                 "out_proj.weight": self.out_proj.expert_weight(experts)}
        return {f"block.{k}": v for k, v in names.items()}

    def grouped_forward(self, h: Tensor, experts: Tensor, offsets: Tensor, backend: str,
                        scan: str, eps: float) -> Tensor:
        """h (A, Lc, d) sorted by encoder `experts` (A,) -> (A, Lc, d), residual included."""
        n_items, chunk_len, d_model = h.shape
        di, S = self.d_inner, self.d_state
        rows = rearrange(h, "a l d -> (a l) d")
        normed = F.rms_norm(h, (d_model,), eps=eps) * self.norm_weight[experts][:, None, :].to(h.dtype)
        xz = self.in_proj(rearrange(normed, "a l d -> (a l) d"), offsets, backend)  # (A*Lc, 2*di)
        xz = rearrange(xz, "(a l) e -> a e l", l=chunk_len)
        x, z = xz[:, :di].contiguous(), xz[:, di:].contiguous()  # (A, di, Lc) each
        x = F.conv1d(rearrange(x, "a d l -> 1 (a d) l"), rearrange(self.conv_weight[experts], "a d 1 w -> (a d) 1 w").to(x.dtype),
                     self.conv_bias[experts].flatten().to(x.dtype), padding=self.d_conv - 1, groups=n_items * di)
        x = F.silu(rearrange(x[..., :chunk_len], "1 (a d) l -> a d l", a=n_items))  # (A, di, Lc)
        x_dbl = self.x_proj(rearrange(x, "a d l -> (a l) d"), offsets, backend)  # (A*Lc, R + 2S)
        dt, B, C = torch.split(x_dbl, [self.dt_rank, S, S], dim=-1)
        dt = rearrange(grouped_linear(dt, self.dt_proj_weight, offsets, backend), "(a l) d -> a d l", l=chunk_len)
        B = rearrange(B, "(a l) n -> a n l", l=chunk_len).contiguous()
        C = rearrange(C, "(a l) n -> a n l", l=chunk_len).contiguous()
        A = -torch.exp(self.A_log[experts].float())  # (A, di, S)
        y = scan_per_item(x, dt.contiguous(), A, B, C, self.D[experts].float(), z,
                          self.dt_proj_bias[experts].float(), scan)  # (A, di, Lc)
        out = self.out_proj(rearrange(y, "a d l -> (a l) d"), offsets, backend)
        return (rows + out.to(rows.dtype)).view(n_items, chunk_len, d_model)


def scan_per_item(u, delta, A, B, C, D, z, delta_bias, scan: str) -> Tensor:
    """Selective scan where every item has its own A (M, di, S), D and dt bias (M, di).

    u, delta, z: (M, di, L); B, C: (M, S, L). On CUDA the M items become one batch-1 call
    over M*di channels with B/C as M groups, split where the kernel's grid would overflow.
    """
    n_items, di, length = u.shape
    if scan == "reference":
        return selective_scan_chunked(u, delta, A, B, C, D, z=z, delta_bias=delta_bias, delta_softplus=True)
    scan_fn = kernels.mamba_kernels().selective_scan_fn
    step = max(1, MAX_SCAN_CHANNELS // di)
    outs = []
    for s in range(0, n_items, step):
        e = min(n_items, s + step)
        flat = lambda t: rearrange(t[s:e], "m d l -> 1 (m d) l")  # noqa: E731
        y = scan_fn(flat(u), flat(delta), A[s:e].flatten(0, 1), B[None, s:e], C[None, s:e],
                    D[s:e].flatten(), z=flat(z), delta_bias=delta_bias[s:e].flatten(), delta_softplus=True)
        outs.append(rearrange(y, "1 (m d) l -> m d l", d=di))
    return torch.cat(outs) if len(outs) > 1 else outs[0]


class MambaEncoderPool(nn.Module):
    POOL_BACKENDS = ("auto", "grouped", "loop")

    def __init__(self, n_encoders: int, n_layers: int, d_model: int, d_state: int = 16, d_conv: int = 4,
                 expand: int = 2, share_rank: int = 0, family: list[int] | None = None,
                 backend: str = "auto", pool_backend: str = "auto", eps: float = 1e-5):
        super().__init__()
        if pool_backend not in self.POOL_BACKENDS:
            raise ValueError(f"pool_backend={pool_backend!r}; valid: {', '.join(self.POOL_BACKENDS)}")
        family = family or [0] * n_encoders
        self.n_encoders, self.d_model, self.eps = n_encoders, d_model, eps
        self.backend, self.pool_backend = backend, pool_backend
        self.layers = nn.ModuleList(
            MambaEncoderLayers(n_encoders, d_model, d_state, d_conv, expand, share_rank, family,
                               out_scale=1 / math.sqrt(n_layers)) for _ in range(n_layers))
        with torch.device("meta"):  # shape template for the loop path and step(); holds no memory
            template = MambaBlock(d_model, d_state=d_state, d_conv=d_conv, expand=expand, backend=backend)
        self._template = [template]  # a list: not a submodule, its meta parameters stay out of ours
        self._step_template = [StepCall(template)]
        self.last_dispatch: dict = {}

    def per_encoder_params(self) -> int:
        """Parameters one encoder owns (its share of every stacked tensor)."""
        total = 0
        for layer in self.layers:
            for name, p in layer.named_parameters():
                if name.split(".")[0] in ("in_proj", "out_proj", "x_proj"):
                    continue
                total += p.numel() // self.n_encoders
            total += sum(bank.per_expert_params() for bank in (layer.in_proj, layer.x_proj, layer.out_proj))
        return total

    def flops_per_token(self, chunk_len: int) -> int:
        block = self._template[0]
        return len(self.layers) * block.flops_per_token()

    def resolved_backend(self, device_type: str) -> tuple[str, str, str]:
        """(pool execution, grouped GEMM backend, scan backend) that will run on `device_type`."""
        pool = self.pool_backend if self.pool_backend != "auto" else ("grouped" if device_type == "cuda" else "loop")
        scan = kernels.resolve_backend(self.backend, device_type)
        scan = "reference" if scan == "reference" else "cuda_scan"
        return pool, resolve_grouped_backend("auto", device_type), scan

    def forward(self, h: Tensor, experts: Tensor) -> Tensor:
        """h (A, Lc, d) dispatched chunks sorted by encoder id `experts` (A,) -> (A, Lc, d)."""
        pool, gemm, scan = self.resolved_backend(h.device.type)
        offsets = group_offsets(experts, self.n_encoders, rows_per_item=h.shape[1])
        if pool == "grouped":
            for layer in self.layers:
                h = layer.grouped_forward(h, experts, offsets, gemm, scan, self.eps)
            self.last_dispatch = {"pool": f"grouped+{gemm}+{scan}", "chunks": h.shape[0]}
            return h
        return self._loop_forward(h, offsets)

    def _loop_forward(self, h: Tensor, offsets: Tensor) -> Tensor:
        template = self._template[0]
        out, start, used = torch.empty_like(h), 0, 0
        for encoder, end in enumerate(offsets.div(h.shape[1], rounding_mode="floor").tolist()):
            if end > start:
                x = h[start:end]
                for layer in self.layers:
                    normed = F.rms_norm(x, (self.d_model,), eps=self.eps) * layer.norm_weight[encoder].to(x.dtype)
                    x = x + functional_call(template, layer.block_params(encoder), (normed,))
                out[start:end] = x
                used += 1
            start = end
        self.last_dispatch = {"pool": f"loop+{template.last_backend}", "chunks": h.shape[0], "encoder_calls": used}
        return out

    def init_state(self, batch_size: int, k: int, device=None, dtype=torch.float32) -> list[tuple[Tensor, Tensor]]:
        """Per layer: conv window (B, k, d_inner, d_conv) and SSM state (B, k, d_inner, N)."""
        device = device or self.layers[0].D.device
        return [(torch.zeros(batch_size, k, layer.d_inner, layer.d_conv, device=device, dtype=dtype),
                 torch.zeros(batch_size, k, layer.d_inner, layer.d_state, device=device, dtype=torch.float32))
                for layer in self.layers]

    def step(self, x: Tensor, experts: Tensor, state: list) -> tuple[Tensor, list]:
        """One token through the k chosen encoders of each row: x (B, d), experts (B, k) -> (B, k, d)."""
        batch, k = experts.shape
        flat_experts = experts.flatten()
        h = x[:, None, :].expand(batch, k, self.d_model).reshape(batch * k, 1, self.d_model)  # (M, 1, d)
        call = self._step_template[0]
        new_state = []
        for layer, (conv_state, ssm_state) in zip(self.layers, state):
            params = layer.gathered_params(flat_experts)
            normed = F.rms_norm(h, (self.d_model,), eps=self.eps) * layer.norm_weight[flat_experts][:, None, :].to(h.dtype)
            y, conv_state, ssm_state = vmap(lambda p, u, c, s: functional_call(call, p, (u, c[None], s[None])))(
                params, normed, conv_state.flatten(0, 1), ssm_state.flatten(0, 1))
            h = h + y
            new_state.append((conv_state.view(batch, k, *conv_state.shape[-2:]),
                              ssm_state.view(batch, k, *ssm_state.shape[-2:])))
        return h.view(batch, k, self.d_model), new_state
