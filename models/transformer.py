"""Llama-style Transformer LM built from Hugging Face `transformers` (LlamaForCausalLM).

The baseline the swarm is measured against: pre-norm RMSNorm, rotary positions, SwiGLU MLP,
tied embeddings; attention through PyTorch SDPA by default (fused, no materialised score
matrix) or `eager` (materialises the (L x L) scores: the quadratic memory the Mamba Encoder
Swarm design document argues against). Sizes follow the usual Llama ratios: head dim 64,
MLP width 8/3 d rounded up to 64 (models.lm_base.mlp_width).
"""
from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from models.lm_base import LanguageModel, head_and_loss, mlp_width

ATTENTION_IMPLEMENTATIONS = ("sdpa", "eager")


@dataclass
class TransformerConfig:
    vocab_size: int = 16384
    d_model: int = 256
    n_layer: int = 4
    n_head: int = 4
    d_ff: int = 0  # 0: 8/3 * d_model rounded up to a multiple of 64
    attn_implementation: str = "sdpa"  # sdpa | eager
    max_seq_len: int = 1 << 20  # rotary table size only; no learned positions
    rope_theta: float = 10000.0
    norm_eps: float = 1e-5


# "base" has about the non-embedding parameters of Mamba "base" (12 x 768 vs 24 x 768).
PRESETS = {
    "tiny": dict(d_model=64, n_layer=1, n_head=4),
    "small": dict(d_model=256, n_layer=4, n_head=4),
    "base": dict(d_model=768, n_layer=12, n_head=12),
}


class TransformerLM(LanguageModel):
    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        if cfg.attn_implementation not in ATTENTION_IMPLEMENTATIONS:
            raise ValueError(f"attn_implementation={cfg.attn_implementation!r}; valid: "
                             f"{', '.join(ATTENTION_IMPLEMENTATIONS)}")
        if cfg.d_model % cfg.n_head:
            raise ValueError(f"d_model={cfg.d_model} is not divisible by n_head={cfg.n_head}")
        from transformers import LlamaConfig, LlamaForCausalLM  # heavy import, only when built

        self.cfg = cfg
        hf_config = LlamaConfig(
            vocab_size=cfg.vocab_size, hidden_size=cfg.d_model, intermediate_size=mlp_width(cfg.d_model, cfg.d_ff),
            num_hidden_layers=cfg.n_layer, num_attention_heads=cfg.n_head, num_key_value_heads=cfg.n_head,
            max_position_embeddings=cfg.max_seq_len, rms_norm_eps=cfg.norm_eps, tie_word_embeddings=True,
            rope_theta=cfg.rope_theta, attention_dropout=0.0, use_cache=False)
        hf_config._attn_implementation = cfg.attn_implementation
        self.hf = LlamaForCausalLM(hf_config)
        self._ran = False

    def forward(self, idx: Tensor, targets: Tensor | None = None, logits: str = "all", loss_chunk: int = 0):
        """idx (B, L) -> logits (B, L, V), loss (models.lm_base.head_and_loss; Llama's final norm is
        inside `hf.model`, so the head is `hf.lm_head` alone)."""
        h = self.hf.model(input_ids=idx, use_cache=False).last_hidden_state  # (B, L, d)
        self._ran = True
        return head_and_loss(self.hf.lm_head, h, targets, logits, loss_chunk)

    def prefill(self, idx: Tensor):
        """Prompt idx (B, L) -> logits of its last position (B, V) and a transformers `DynamicCache`
        (the KV cache `generate` uses by default), for `step`."""
        from transformers import DynamicCache

        cache = DynamicCache(config=self.hf.config)
        out = self.hf(input_ids=idx, past_key_values=cache, use_cache=True, logits_to_keep=1)
        self._ran = True
        return out.logits[:, -1], out.past_key_values

    def step(self, token: Tensor, cache):
        """token (B,) -> logits (B, V), the cache grown by one position."""
        out = self.hf(input_ids=token[:, None], past_key_values=cache, use_cache=True)
        return out.logits[:, -1], out.past_key_values

    def flops_per_token(self, seq_len: int) -> int:
        d, n = self.cfg.d_model, self.cfg.n_layer
        per_layer = 4 * d * d + 3 * d * mlp_width(d, self.cfg.d_ff)  # q, k, v, o and the SwiGLU MLP, in MACs
        attention = 2 * d * seq_len / 2  # QK^T and AV over the causal half of the context, in MACs
        return int(2 * n * (per_layer + attention) + 2 * d * self.cfg.vocab_size)

    def kernel_backend(self) -> str:
        return f"attn_{self.cfg.attn_implementation}" if self._ran else "not run"
