"""Mamba language model: embedding, N x (RMSNorm -> Mamba mixer, residual), RMSNorm, tied head.

Follows `MambaLMHeadModel` in state-spaces/mamba `mamba_ssm/models/mixer_seq_simple.py`
(pre-norm residual blocks, tied embeddings, out_proj rescaled by 1/sqrt(n_layer)), with the
mixer from models.mamba_block. No positional encoding: the recurrence orders the tokens.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
from torch import Tensor

from models.family import ModelEntry
from models.lm_base import LanguageModel, head_and_loss
from models.mamba_block import MambaBlock


@dataclass
class MambaConfig:
    vocab_size: int = 16384
    d_model: int = 256
    n_layer: int = 8
    d_state: int = 16
    d_conv: int = 4
    expand: int = 2
    backend: str = "auto"  # auto | cuda_fused | cuda_scan | reference (models.kernels)
    scan_chunk_len: int = 64  # reference scan only
    norm_eps: float = 1e-5


# ~130M with a 50k vocabulary at "base" (mamba-130m: 24 x 768); smaller ones for CPU.
PRESETS = {
    "tiny": dict(d_model=64, n_layer=2),
    "small": dict(d_model=256, n_layer=8),
    "base": dict(d_model=768, n_layer=24),
}


def mamba_mixer(cfg: MambaConfig) -> MambaBlock:
    return MambaBlock(cfg.d_model, d_state=cfg.d_state, d_conv=cfg.d_conv, expand=cfg.expand,
                      backend=cfg.backend, scan_chunk_len=cfg.scan_chunk_len)


class MambaResidual(nn.Module):
    """RMSNorm -> mixer (a Mamba-1 block from `cfg`, or the `mixer` given), plus the residual."""

    def __init__(self, cfg: MambaConfig, mixer: nn.Module | None = None):
        super().__init__()
        self.norm = nn.RMSNorm(cfg.d_model, eps=cfg.norm_eps)
        self.mixer = mixer if mixer is not None else mamba_mixer(cfg)

    def forward(self, x: Tensor, return_state: bool = False):
        if not return_state:
            return x + self.mixer(self.norm(x))
        y, state = self.mixer(self.norm(x), return_state=True)
        return x + y, state

    def step(self, x: Tensor, state):
        y, state = self.mixer.step(self.norm(x), state)
        return x + y, state


def prefill_layers(layers, x: Tensor) -> tuple[Tensor, list]:
    """Run residual Mamba layers over x (B, L, d), keeping each layer's final recurrent state."""
    states = []
    for layer in layers:
        x, state = layer(x, return_state=True)
        states.append(state)
    return x, states


class MambaLM(LanguageModel):
    make_mixer = staticmethod(mamba_mixer)  # cfg -> one mixer block; Mamba-2 swaps it (models.mamba2_lm)
    train_step_capturable = True

    def __init__(self, cfg: MambaConfig):
        super().__init__()
        self.cfg = cfg
        self.embedding = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.layers = nn.ModuleList(MambaResidual(cfg, self.make_mixer(cfg)) for _ in range(cfg.n_layer))
        self.norm_f = nn.RMSNorm(cfg.d_model, eps=cfg.norm_eps)
        self.lm_head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        self.lm_head.weight = self.embedding.weight
        nn.init.normal_(self.embedding.weight, std=0.02)
        for layer in self.layers:  # keep the residual stream's variance flat in depth
            with torch.no_grad():
                layer.mixer.out_proj.weight /= math.sqrt(cfg.n_layer)

    def forward(self, idx: Tensor, targets: Tensor | None = None, logits: str = "all", loss_chunk: int = 0):
        """idx (B, L) -> logits (B, L, V), loss (models.lm_base.head_and_loss)."""
        x = self.embedding(idx)  # (B, L, d_model)
        for layer in self.layers:
            x = layer(x)
        return head_and_loss(self._head, x, targets, logits, loss_chunk)

    def _head(self, x: Tensor) -> Tensor:
        return self.lm_head(self.norm_f(x))  # (..., d_model) -> (..., V)

    def prefill(self, idx: Tensor):
        """Prompt idx (B, L) -> logits of its last position (B, V) and the state `step` continues from."""
        x, state = prefill_layers(self.layers, self.embedding(idx))
        return self.lm_head(self.norm_f(x[:, -1])), state

    def init_state(self, batch_size: int):
        return [layer.mixer.init_state(batch_size, dtype=self.embedding.weight.dtype) for layer in self.layers]

    def step(self, token: Tensor, state):
        """token (B,) -> logits (B, V), new state (a list of per-layer (conv, ssm) states)."""
        x = self.embedding(token)  # (B, d_model)
        new_state = []
        for layer, layer_state in zip(self.layers, state):
            x, layer_state = layer.step(x, layer_state)
            new_state.append(layer_state)
        return self.lm_head(self.norm_f(x)), new_state

    def graph_capturable(self, state) -> bool:
        """Every step has the same shapes: a CUDA graph can replay it (models.generation)."""
        return True

    def state_bytes(self, batch_size: int) -> int:
        """Bytes of recurrent state for generation, independent of context length."""
        return sum(t.numel() * t.element_size() for s in self.init_state(batch_size) for t in s)

    def flops_per_token(self, seq_len: int) -> int:
        head = 2 * self.cfg.d_model * self.cfg.vocab_size
        return self.cfg.n_layer * self.layers[0].mixer.flops_per_token() + head

    def kernel_backend(self) -> str:
        ran = sorted({layer.mixer.last_backend for layer in self.layers if layer.mixer.last_backend})
        return "+".join(ran) if ran else "not run"


MODEL_FAMILIES = [ModelEntry("mamba", MambaConfig, MambaLM, PRESETS, linear_time=True)]
