"""Mamba-MoE: Mamba blocks alternating with switch-routed expert feed-forward layers.

Follows MoE-Mamba (Pióro et al. 2024, "MoE-Mamba: Efficient Selective State Space Models with
Mixture of Experts"): every Mamba residual block is followed by a Switch layer (Fedus et al.
2021, "Switch Transformers") with top-1 routing per token, capacity factor enforced, SwiGLU
experts. Experts run sparsely: the kept tokens are sorted by expert and each expert matrix is
one grouped GEMM (models.grouped). Capacity is per window of `capacity_window` positions, claimed position by
position (models.routing), so dropping is causal and `step()` reproduces `forward()`;
a dropped token skips the layer through the residual.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from models import routing
from models.family import ModelEntry
from models.grouped import ExpertLinear, group_offsets, resolve_grouped_backend
from models.lm_base import LanguageModel, head_and_loss, mlp_width
from models.mamba_lm import MambaConfig, MambaResidual


@dataclass
class MambaMoEConfig:
    vocab_size: int = 16384
    d_model: int = 256
    n_layer: int = 4  # Mamba + MoE pairs
    n_experts: int = 8
    d_ff: int = 0  # 0: 8/3 d_model rounded up to 64 (the Llama MLP width)
    capacity_factor: float = 1.25
    capacity_window: int = 64  # positions sharing one capacity budget
    balance_weight: float = 0.01
    z_weight: float = 0.001
    d_state: int = 16
    d_conv: int = 4
    expand: int = 2
    backend: str = "auto"  # Mamba kernels
    expert_backend: str = "auto"  # grouped GEMM: auto | grouped_mm | loop
    norm_eps: float = 1e-5


PRESETS = {
    "tiny": dict(d_model=64, n_layer=1, n_experts=4, capacity_window=8),
    "small": dict(d_model=256, n_layer=4, n_experts=8),
    "base": dict(d_model=768, n_layer=12, n_experts=8),
}


class SwitchFFN(nn.Module):
    """RMSNorm -> top-1 router -> SwiGLU expert, residual; experts (E, ...) run grouped."""

    def __init__(self, cfg: MambaMoEConfig, d_ff: int, out_scale: float):
        super().__init__()
        self.cfg = cfg
        self.norm = nn.RMSNorm(cfg.d_model, eps=cfg.norm_eps)
        self.router = nn.Linear(cfg.d_model, cfg.n_experts, bias=False)
        self.gate_up = ExpertLinear(cfg.n_experts, cfg.d_model, 2 * d_ff)
        self.down = ExpertLinear(cfg.n_experts, d_ff, cfg.d_model)
        with torch.no_grad():
            self.down.weight.mul_(out_scale)
        self.last_routing: routing.Routing | None = None

    def route(self, x: Tensor, window_of_item: Tensor, batch_size: int) -> routing.Routing:
        """x (M, d) tokens ordered position-major -> top-1 routing within capacity."""
        logits = self.router(x).float()  # (M, E)
        experts, gates, probs = routing.top_k(logits, 1)
        slots = routing.capacity(batch_size * self.cfg.capacity_window, 1, self.cfg.n_experts,
                                 self.cfg.capacity_factor, 1)
        keep = routing.keep_within_capacity(experts, window_of_item, slots, self.cfg.n_experts)
        return routing.Routing(experts=experts, gates=gates, keep=keep, probs=probs, logits=logits)

    def experts(self, x: Tensor, r: routing.Routing) -> Tensor:
        """x (M, d) -> (M, d): gate * expert(x) for kept tokens, 0 for dropped ones."""
        backend = resolve_grouped_backend(self.cfg.expert_backend, x.device.type)
        kept = torch.nonzero(r.keep[:, 0]).flatten()
        expert = r.experts[kept, 0]
        order = expert.argsort(stable=True)
        kept, expert = kept[order], expert[order]
        offsets = group_offsets(expert, self.cfg.n_experts)
        gate, up = self.gate_up(x[kept], offsets, backend).chunk(2, dim=-1)
        y = self.down(F.silu(gate) * up, offsets, backend) * r.gates[kept].to(x.dtype)
        out = torch.zeros_like(x)
        out[kept] = y.to(x.dtype)
        return out

    def forward(self, h: Tensor) -> Tensor:
        """h (B, L, d) -> (B, L, d)."""
        batch, seq_len, d = h.shape
        x = self.norm(h).transpose(0, 1).reshape(seq_len * batch, d)  # position-major
        window = (torch.arange(seq_len, device=h.device) // self.cfg.capacity_window).repeat_interleave(batch)
        r = self.route(x, window, batch)
        self.last_routing = r
        return h + self.experts(x, r).view(seq_len, batch, d).transpose(0, 1)

    def step(self, h: Tensor, window_history: Tensor) -> tuple[Tensor, Tensor]:
        """h (B, d); window_history (t, B, d): normalised inputs earlier in this capacity window."""
        x = self.norm(h)
        history = torch.cat([window_history, x[None]])  # (t+1, B, d)
        batch = h.shape[0]
        window = torch.zeros(history.shape[0] * batch, dtype=torch.long, device=h.device)
        r = self.route(history.flatten(0, 1), window, batch)
        last = slice((history.shape[0] - 1) * batch, None)
        r = routing.Routing(experts=r.experts[last], gates=r.gates[last], keep=r.keep[last],
                            probs=r.probs[last], logits=r.logits[last])
        return h + self.experts(x, r), history


class MambaMoE(LanguageModel):
    def __init__(self, cfg: MambaMoEConfig):
        super().__init__()
        self.cfg = cfg
        d_ff = mlp_width(cfg.d_model, cfg.d_ff)
        mamba = MambaConfig(vocab_size=cfg.vocab_size, d_model=cfg.d_model, n_layer=cfg.n_layer, d_state=cfg.d_state,
                            d_conv=cfg.d_conv, expand=cfg.expand, backend=cfg.backend, norm_eps=cfg.norm_eps)
        scale = 1 / math.sqrt(2 * cfg.n_layer)
        self.embedding = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.mamba_layers = nn.ModuleList(MambaResidual(mamba) for _ in range(cfg.n_layer))
        self.moe_layers = nn.ModuleList(SwitchFFN(cfg, d_ff, scale) for _ in range(cfg.n_layer))
        self.norm_f = nn.RMSNorm(cfg.d_model, eps=cfg.norm_eps)
        self.lm_head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        self.lm_head.weight = self.embedding.weight
        nn.init.normal_(self.embedding.weight, std=0.02)
        for layer in self.mamba_layers:
            with torch.no_grad():
                layer.mixer.out_proj.weight *= scale
        self.d_ff = d_ff

    def forward(self, idx: Tensor, targets: Tensor | None = None, logits: str = "all", loss_chunk: int = 0):
        """idx (B, L) -> logits (B, L, V), loss (LM + weighted router losses; models.lm_base.head_and_loss)."""
        h = self.embedding(idx)
        for mamba, moe in zip(self.mamba_layers, self.moe_layers):
            h = moe(mamba(h))
        logits, loss = head_and_loss(self._head, h, targets, logits, loss_chunk)
        if loss is not None:
            for moe in self.moe_layers:
                r = moe.last_routing
                loss = loss + self.cfg.balance_weight * routing.balance_loss(r.probs, r.experts) \
                    + self.cfg.z_weight * routing.z_loss(r.logits)
        return logits, loss

    def _head(self, h: Tensor) -> Tensor:
        return self.lm_head(self.norm_f(h))  # (..., d) -> (..., V)

    def prefill(self, idx: Tensor):
        """Prompt idx (B, L) -> logits of its last position (B, V) and the state `step` continues from:
        each Mamba layer's recurrent state and each MoE layer's inputs so far in the capacity window."""
        seq_len = idx.shape[1]
        window_start = seq_len // self.cfg.capacity_window * self.cfg.capacity_window
        h = self.embedding(idx)  # (B, L, d)
        mamba_states, windows = [], []
        for mamba, moe in zip(self.mamba_layers, self.moe_layers):
            h, s = mamba(h, return_state=True)
            windows.append(moe.norm(h[:, window_start:]).transpose(0, 1))  # (t, B, d)
            h = moe(h)
            mamba_states.append(s)
        return self.lm_head(self.norm_f(h[:, -1])), {"t": seq_len, "mamba": mamba_states, "windows": windows}

    def init_state(self, batch_size: int) -> dict:
        device, dtype = self.embedding.weight.device, self.embedding.weight.dtype
        return {"t": 0,
                "mamba": [layer.mixer.init_state(batch_size, device, dtype) for layer in self.mamba_layers],
                "windows": [torch.zeros(0, batch_size, self.cfg.d_model, device=device, dtype=dtype)
                            for _ in self.moe_layers]}

    def step(self, token: Tensor, state: dict):
        """token (B,) -> logits (B, V), new state."""
        if state["t"] % self.cfg.capacity_window == 0:
            state = {**state, "windows": [w[:0] for w in state["windows"]]}
        h = self.embedding(token)
        mamba_states, windows = [], []
        for mamba, moe, s, w in zip(self.mamba_layers, self.moe_layers, state["mamba"], state["windows"]):
            h, s = mamba.step(h, s)
            h, w = moe.step(h, w)
            mamba_states.append(s)
            windows.append(w)
        return self.lm_head(self.norm_f(h)), {"t": state["t"] + 1, "mamba": mamba_states, "windows": windows}

    def num_params(self, active: bool = False) -> int:
        total = sum(p.numel() for p in self.parameters())
        if not active:
            return total
        per_expert = 3 * self.cfg.d_model * self.d_ff
        return total - self.cfg.n_layer * (self.cfg.n_experts - 1) * per_expert

    def flops_per_token(self, seq_len: int) -> int:
        c = self.cfg
        moe = 2 * (c.d_model * c.n_experts + 3 * c.d_model * self.d_ff)
        return c.n_layer * (self.mamba_layers[0].mixer.flops_per_token() + moe) + 2 * c.d_model * c.vocab_size

    def kernel_backend(self) -> str:
        ran = self.mamba_layers[0].mixer.last_backend
        experts = resolve_grouped_backend(self.cfg.expert_backend, self.embedding.weight.device.type)
        return f"mamba={ran},experts={experts}" if ran else "not run"

    def extra_info(self) -> dict:
        routed = [m.last_routing for m in self.moe_layers if m.last_routing is not None]
        if not routed:
            return {}
        stats = [routing.routing_stats(r, self.cfg.n_experts) for r in routed]
        return {"routing": {"dropped_fraction": sum(s["dropped_fraction"] for s in stats) / len(stats),
                            "load_entropy_bits": sum(s["load_entropy_bits"] for s in stats) / len(stats),
                            "max_entropy_bits": stats[0]["max_entropy_bits"]}}


MODEL_FAMILIES = [ModelEntry("mamba_moe", MambaMoEConfig, MambaMoE, PRESETS, linear_time=True)]
