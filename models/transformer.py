"""Llama-style Transformer LM built from Hugging Face `transformers` (LlamaForCausalLM).

The baseline the swarm is measured against: pre-norm RMSNorm, rotary positions, SwiGLU MLP,
tied embeddings; attention through PyTorch SDPA by default (fused, no materialised score
matrix) or `eager` (materialises the (L x L) scores: the quadratic memory the Mamba Encoder
Swarm design document argues against). Sizes follow the usual Llama ratios: head dim 64,
MLP width 8/3 d rounded up to 64 (models.lm_base.mlp_width). `mlp=False` gives attention-only
blocks, as the synthetic-task baselines of the papers we calibrate against: the Mamba paper's
MHA models (Gu & Dao 2023, Table 11: "MHA-RoPE (137K)" at d 128, 2 layers, is the attention
alone) and Zoology's attention (zoology/experiments/paper/zoology_figure2.py: state mixer
`torch.nn.Identity`). Both papers' attention projections carry biases (flash-attn's `MHA`, whose
qkv and output projections default to bias=True, in the H3/safari code the Mamba paper's MHA
baselines come from; Zoology's `zoology/mixers/attention.py`, `bias=True`); Llama's have none,
so `attention_bias=True` gives them back (transformers' `LlamaConfig.attention_bias`).

Generation (models.generation) has two KV caches: transformers' `DynamicCache` (what `generate`
uses by default), grown by every step, for eager decoding; and, when the prefill is given a
`max_len`, a `StaticCache` preallocated to that many positions, whose one-token step has static
shapes and no host sync, so a CUDA graph can capture it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from models.family import ModelEntry
from models.lm_base import LanguageModel, head_and_loss, mlp_width

ATTENTION_IMPLEMENTATIONS = ("sdpa", "eager")


@dataclass
class TransformerConfig:
    vocab_size: int = 16384
    d_model: int = 256
    n_layer: int = 4
    n_head: int = 4
    d_ff: int = 0  # 0: 8/3 * d_model rounded up to a multiple of 64
    mlp: bool = True  # False: attention-only blocks (no MLP, no norm before it)
    attention_bias: bool = False  # True: biases in q, k, v and o, as the papers' attention (see the docstring)
    attn_implementation: str = "sdpa"  # sdpa | eager
    max_seq_len: int = 1 << 20  # rotary table size only; no learned positions
    rope_theta: float = 10000.0
    norm_eps: float = 1e-5
    # at its default, a field added after records existed stays out of their point ids (models.family)
    ADDED_LATER: ClassVar[tuple[str, ...]] = ("mlp", "attention_bias")


# "base" has about the non-embedding parameters of Mamba "base" (12 x 768 vs 24 x 768).
PRESETS = {
    "tiny": dict(d_model=64, n_layer=1, n_head=4),
    "small": dict(d_model=256, n_layer=4, n_head=4),
    "base": dict(d_model=768, n_layer=12, n_head=12),
}


class NoMLP(torch.nn.Module):
    """The MLP of an attention-only block: its residual branch adds nothing."""

    def forward(self, x: Tensor) -> Tensor:
        return torch.zeros_like(x)


class TransformerLM(LanguageModel):
    train_step_capturable = True
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
            rope_theta=cfg.rope_theta, attention_bias=cfg.attention_bias, attention_dropout=0.0, use_cache=False)
        hf_config._attn_implementation = cfg.attn_implementation
        self.hf = LlamaForCausalLM(hf_config)
        if not cfg.mlp:
            for layer in self.hf.model.layers:
                layer.mlp, layer.post_attention_layernorm = NoMLP(), torch.nn.Identity()
        self._ran = False
        self._static_cache = None  # ((batch, max_len, device, dtype), StaticCache) of the last static prefill

    def forward(self, idx: Tensor, targets: Tensor | None = None, logits: str = "all", loss_chunk: int = 0):
        """idx (B, L) -> logits (B, L, V), loss (models.lm_base.head_and_loss; Llama's final norm is
        inside `hf.model`, so the head is `hf.lm_head` alone)."""
        h = self.hf.model(input_ids=idx, use_cache=False).last_hidden_state  # (B, L, d)
        self._ran = True
        return head_and_loss(self.hf.lm_head, h, targets, logits, loss_chunk)

    def prefill(self, idx: Tensor, max_len: int | None = None):
        """Prompt idx (B, L) -> logits of its last position (B, V) and the state for `step`.

        max_len None: a transformers `DynamicCache`. max_len (prompt plus tokens to generate): the
        state {"cache": StaticCache of max_len positions, "pos": (1,) the next position}; the cache
        is the one of the last static prefill when batch, length, device and dtype match, reset in
        place, so a captured graph keeps reading and writing its buffers."""
        from transformers import DynamicCache

        if max_len is not None and max_len < idx.shape[1]:
            raise ValueError(f"max_len={max_len} is shorter than the prompt ({idx.shape[1]} tokens)")
        cache = DynamicCache(config=self.hf.config) if max_len is None else self._reset_static_cache(idx, max_len)
        out = self.hf(input_ids=idx, past_key_values=cache, use_cache=True, logits_to_keep=1)
        self._ran = True
        if max_len is None:
            return out.logits[:, -1], out.past_key_values
        return out.logits[:, -1], {"cache": cache, "pos": torch.full((1,), idx.shape[1], device=idx.device)}

    def _reset_static_cache(self, idx: Tensor, max_len: int):
        """The StaticCache for prompt idx (B, L) and max_len: the last one, reset, or a new one."""
        from transformers import StaticCache

        key = (idx.shape[0], max_len, idx.device, self.hf.dtype)
        if self._static_cache is not None and self._static_cache[0] == key:
            self._static_cache[1].reset()  # zeroes keys, values and write positions, same buffers
        else:  # the buffers are allocated by the prefill's first update
            self._static_cache = key, StaticCache(config=self.hf.config, max_cache_len=max_len)
        return self._static_cache[1]

    def step(self, token: Tensor, state):
        """token (B,) -> logits (B, V) and the next state: the DynamicCache grown by one position,
        or, for the static-cache state, this token's keys and values written at `pos` in place and
        {"cache": the same cache, "pos": pos + 1}. The static step takes everything from `pos`:
        every layer's write position, the rotary position and the attention mask (built here, so
        no transformers mask code runs in a captured graph). So the state's tensors alone say where
        it writes, and a CUDA graph's warm-up steps are undone by restoring them
        (models.generation.GreedyDecoder)."""
        if not isinstance(state, dict):
            out = self.hf(input_ids=token[:, None], past_key_values=state, use_cache=True)
            return out.logits[:, -1], out.past_key_values
        cache, pos = state["cache"], state["pos"]
        for layer in cache.layers:
            layer.cumulative_length.copy_(pos[0])  # StaticLayer's write index, a () tensor
        seen = torch.arange(cache.get_max_length(), device=pos.device) <= pos  # (max_len,) up to this token
        mask = seen[None, None, None]  # (1, 1, 1, max_len), broadcast over batch and heads
        if self.cfg.attn_implementation == "eager":  # eager attention adds the mask to its scores
            mask = torch.zeros(mask.shape, dtype=self.hf.dtype, device=pos.device).masked_fill_(
                ~mask, torch.finfo(self.hf.dtype).min)
        out = self.hf(input_ids=token[:, None], attention_mask=mask, position_ids=pos[None], past_key_values=cache,
                      use_cache=True)
        return out.logits[:, -1], {"cache": cache, "pos": pos + 1}

    def graph_capturable(self, state) -> bool:
        """True for the static-cache state (prefill with max_len); a DynamicCache grows every step."""
        return isinstance(state, dict)

    def flops_per_token(self, seq_len: int) -> int:
        d, n = self.cfg.d_model, self.cfg.n_layer
        mlp = 3 * d * mlp_width(d, self.cfg.d_ff) if self.cfg.mlp else 0  # the SwiGLU MLP
        per_layer = 4 * d * d + mlp  # q, k, v, o and the MLP, in MACs
        attention = 2 * d * seq_len / 2  # QK^T and AV over the causal half of the context, in MACs
        return int(2 * n * (per_layer + attention) + 2 * d * self.cfg.vocab_size)

    def kernel_backend(self) -> str:
        return f"attn_{self.cfg.attn_implementation}" if self._ran else "not run"


MODEL_FAMILIES = [
    ModelEntry("transformer", TransformerConfig, TransformerLM, PRESETS, linear_time=False,
               fixed={"attn_implementation": "sdpa"}),
    ModelEntry("transformer_eager", TransformerConfig, TransformerLM, PRESETS, linear_time=False,
               fixed={"attn_implementation": "eager"}),
]
