"""Mamba-2 language model: models.mamba_lm's residual stack with the Mamba-2 mixer.

Follows `MambaLMHeadModel` with `ssm_cfg={"layer": "Mamba2"}` in state-spaces/mamba
`mamba_ssm/models/mixer_seq_simple.py` (no MLP between mixers, `d_intermediate=0`, tied
embeddings); the mixer is models.mamba2_block (upstream `mamba_ssm/modules/mamba2.py`).
"""
from __future__ import annotations

from dataclasses import dataclass

from models.family import ModelEntry
from models.mamba2_block import Mamba2Block
from models.mamba_lm import MambaLM


@dataclass
class Mamba2Config:
    vocab_size: int = 16384
    d_model: int = 256
    n_layer: int = 8
    d_state: int = 128
    d_conv: int = 4
    expand: int = 2
    headdim: int = 64  # heads = expand * d_model / headdim
    ngroups: int = 1  # heads sharing one B and C
    chunk_size: int = 256  # SSD chunk, for the Triton kernels and the reference alike
    backend: str = "auto"  # auto | cuda_fused | cuda_scan | reference (models.kernels)
    norm_eps: float = 1e-5


# "base" is mamba2-130m's shape (24 x 768, state 128, head 64); smaller ones for CPU.
PRESETS = {
    "tiny": dict(d_model=64, n_layer=2, d_state=32, headdim=32),
    "small": dict(d_model=256, n_layer=8),
    "base": dict(d_model=768, n_layer=24),
}


def mamba2_mixer(cfg: Mamba2Config) -> Mamba2Block:
    return Mamba2Block(cfg.d_model, d_state=cfg.d_state, d_conv=cfg.d_conv, expand=cfg.expand, headdim=cfg.headdim,
                       ngroups=cfg.ngroups, chunk_size=cfg.chunk_size, backend=cfg.backend)


class Mamba2LM(MambaLM):
    make_mixer = staticmethod(mamba2_mixer)
    train_step_capturable = False  # its Triton kernels' capture is not tested yet


MODEL_FAMILIES = [ModelEntry("mamba2", Mamba2Config, Mamba2LM, PRESETS, linear_time=True)]
