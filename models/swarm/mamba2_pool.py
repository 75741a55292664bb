"""The swarm's pool of N small Mamba-2 encoders (`encoder_type=mamba2`), run encoder by encoder.

The same pool as models.swarm.mamba_pool with the Mamba-2 mixer (models.mamba2_block,
upstream `mamba_ssm/modules/mamba2.py`): each encoder is a stack of pre-norm residual Mamba-2
mixers whose weights live stacked with a leading encoder dimension. Execution is the loop
path only: for each encoder in use, `Mamba2Block.forward` on its chunks with its weights
(torch.func.functional_call), mamba-ssm's fused Triton SSD on CUDA. Its cost grows with the
encoders in use (at most A = batch x chunks x k), not with N; there is no grouped execution
and no hierarchical weight sharing for Mamba-2 encoders. Heads: `expand * d_model / n_head`
channels each, so the swarm's `n_head` sets the Mamba-2 head count.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor
from torch.func import functional_call, vmap

from models.mamba2_block import Mamba2Block
from models.mamba_block import dt_bias_init
from models.swarm.mamba_pool import StepCall


class Mamba2EncoderLayers(nn.Module):
    """One layer of all N encoders: RMSNorm + Mamba-2 mixer weights with a leading N dimension,
    initialised as `Mamba2Block` initialises one."""

    def __init__(self, n: int, template: Mamba2Block, out_scale: float):
        super().__init__()
        d, di, H = template.d_model, template.d_inner, template.nheads
        uniform = lambda shape, fan_in: torch.empty(shape).uniform_(-fan_in ** -0.5, fan_in ** -0.5)  # noqa: E731
        self.norm_weight = nn.Parameter(torch.ones(n, d))
        self.in_proj = nn.Parameter(uniform((n, template.in_proj.out_features, d), d))  # nn.Linear's default
        self.conv_weight = nn.Parameter(uniform((n, template.conv_dim, 1, template.d_conv), template.d_conv))
        self.conv_bias = nn.Parameter(uniform((n, template.conv_dim), template.d_conv))
        self.dt_bias = nn.Parameter(dt_bias_init((n, H)))  # (N, H)
        self.A_log = nn.Parameter(torch.log(torch.empty(n, H).uniform_(1.0, 16.0)))
        self.D = nn.Parameter(torch.ones(n, H))
        self.gate_norm_weight = nn.Parameter(torch.ones(n, di))
        self.out_proj = nn.Parameter(uniform((n, d, di), di) * out_scale)
        for p in (self.dt_bias, self.A_log, self.D):
            p._no_weight_decay = True

    def block_params(self, encoders: int | Tensor) -> dict[str, Tensor]:
        """Encoder `encoders`' weights under Mamba2Block's names (a tensor of ids: each (M, ...))."""
        return {"in_proj.weight": self.in_proj[encoders], "conv1d.weight": self.conv_weight[encoders],
                "conv1d.bias": self.conv_bias[encoders], "dt_bias": self.dt_bias[encoders],
                "A_log": self.A_log[encoders], "D": self.D[encoders], "norm.weight": self.gate_norm_weight[encoders],
                "out_proj.weight": self.out_proj[encoders]}


class Mamba2EncoderPool(nn.Module):
    POOL_BACKENDS = ("auto", "loop")

    def __init__(self, n_encoders: int, n_layers: int, d_model: int, n_head: int, d_state: int = 16,
                 d_conv: int = 4, expand: int = 2, backend: str = "auto", pool_backend: str = "auto",
                 eps: float = 1e-5):
        super().__init__()
        if pool_backend not in self.POOL_BACKENDS:
            raise ValueError(f"pool_backend={pool_backend!r}: Mamba-2 encoders run encoder by encoder; "
                             f"valid: {', '.join(self.POOL_BACKENDS)}")
        if (expand * d_model) % n_head:
            raise ValueError(f"expand * d_model = {expand * d_model} is not divisible by n_head={n_head}")
        self.n_encoders, self.d_model, self.eps = n_encoders, d_model, eps
        with torch.device("meta"):  # shape template for functional_call; holds no memory
            template = Mamba2Block(d_model, d_state=d_state, d_conv=d_conv, expand=expand,
                                   headdim=expand * d_model // n_head, backend=backend)
        self.layers = nn.ModuleList(Mamba2EncoderLayers(n_encoders, template, out_scale=1 / math.sqrt(n_layers))
                                    for _ in range(n_layers))
        self._template = [template]  # a list: not a submodule, its meta parameters stay out of ours
        self._step_template = [StepCall(template)]
        self.last_dispatch: dict = {}

    def per_encoder_params(self) -> int:
        return sum(p.numel() for p in self.layers.parameters()) // self.n_encoders

    def flops_per_token(self, chunk_len: int) -> int:
        return len(self.layers) * self._template[0].flops_per_token()

    def forward(self, h: Tensor, experts: Tensor) -> Tensor:
        """h (A, Lc, d) dispatched chunks sorted by encoder id `experts` (A,) -> (A, Lc, d)."""
        template = self._template[0]
        out = torch.empty_like(h)
        used = torch.unique_consecutive(experts, return_counts=True)
        start = 0
        for encoder, count in zip(*(t.tolist() for t in used)):
            x = h[start:start + count]
            for layer in self.layers:
                normed = F.rms_norm(x, (self.d_model,), eps=self.eps) * layer.norm_weight[encoder].to(x.dtype)
                x = x + functional_call(template, layer.block_params(encoder), (normed,))
            out[start:start + count] = x
            start += count
        self.last_dispatch = {"pool": f"loop+mamba2+{template.last_backend}", "chunks": h.shape[0],
                              "encoder_calls": len(used[0])}
        return out

    def init_state(self, batch_size: int, k: int, device=None, dtype=torch.float32) -> list[tuple[Tensor, Tensor]]:
        """Per layer: conv window (B, k, conv_dim, d_conv) and SSM state (B, k, H, P, N)."""
        device = device or self.layers[0].D.device
        t = self._template[0]
        return [(torch.zeros(batch_size, k, t.conv_dim, t.d_conv, device=device, dtype=dtype),
                 torch.zeros(batch_size, k, t.nheads, t.headdim, t.d_state, device=device, dtype=torch.float32))
                for _ in self.layers]

    def step(self, x: Tensor, experts: Tensor, state: list) -> tuple[Tensor, list]:
        """One token through the k chosen encoders of each row: x (B, d), experts (B, k) -> (B, k, d)."""
        batch, k = experts.shape
        flat = experts.flatten()
        h = x[:, None, :].expand(batch, k, self.d_model).reshape(batch * k, 1, self.d_model)  # (M, 1, d)
        call = self._step_template[0]
        new_state = []
        for layer, (conv_state, ssm_state) in zip(self.layers, state):
            params = {f"block.{name}": p for name, p in layer.block_params(flat).items()}
            normed = F.rms_norm(h, (self.d_model,), eps=self.eps) * layer.norm_weight[flat][:, None, :].to(h.dtype)
            y, conv_state, ssm_state = vmap(lambda p, u, c, s: functional_call(call, p, (u, c[None], s[None])))(
                params, normed, conv_state.flatten(0, 1), ssm_state.flatten(0, 1))
            h = h + y
            new_state.append((conv_state.view(batch, k, *conv_state.shape[-2:]),
                              ssm_state.view(batch, k, *ssm_state.shape[-3:])))
        return h.view(batch, k, self.d_model), new_state
