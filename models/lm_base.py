"""What every language model in the registry shares: the loss, parameter counts, backends.

Interface: `forward(idx, targets=None) -> (logits, loss)`, `num_params(active=False)`,
`flops_per_token(seq_len)`, `kernel_backend()`; generating models add `prefill(idx)` and
`step(token, state) -> (logits, state)`, recurrent ones `init_state(batch_size)`.
"""
from __future__ import annotations

import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor


def mlp_width(d_model: int, d_ff: int = 0) -> int:
    """Hidden width of a SwiGLU MLP: `d_ff`, or 0 for the Llama ratio, 8/3 d_model rounded up to
    a multiple of 64."""
    return d_ff or -(-8 * d_model // 3 // 64) * 64


def lm_loss(logits: Tensor, targets: Tensor | None) -> Tensor | None:
    """Mean next-token cross entropy in float32; targets (B, L) aligned with logits (B, L, V),
    -100 marks positions not scored."""
    if targets is None:
        return None
    return F.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), ignore_index=-100)


class LanguageModel(nn.Module):
    def num_params(self, active: bool = False) -> int:
        """Parameters (tied weights once). Dense models: active == total."""
        return sum(p.numel() for p in self.parameters())

    def flops_per_token(self, seq_len: int) -> int:
        raise NotImplementedError

    def kernel_backend(self) -> str:
        """Names of the kernels that ran in the last forward, e.g. 'cuda_fused' or 'sdpa'."""
        raise NotImplementedError
