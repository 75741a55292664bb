"""What every language model in the registry shares: the loss, parameter counts, backends.

Interface: `forward(idx, targets=None, logits="all", loss_chunk=0) -> (logits, loss)`,
`num_params(active=False)`,
`flops_per_token(seq_len)`, `kernel_backend()`; generating models add `prefill(idx)` and
`step(token, state) -> (logits, state)`, recurrent ones `init_state(batch_size)`.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor
from torch.utils.checkpoint import checkpoint

LOGITS = ("all", "last")  # every position's logits (what training needs), or only the last one's


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


def _chunk_loss_sum(head: Callable[[Tensor], Tensor], h: Tensor, targets: Tensor) -> Tensor:
    return F.cross_entropy(head(h).float(), targets, ignore_index=-100, reduction="sum")


def chunked_lm_loss(head: Callable[[Tensor], Tensor], h: Tensor, targets: Tensor, chunk: int) -> Tensor:
    """`lm_loss(head(h), targets)` computed `chunk` positions at a time: hidden states h (B, L, d),
    targets (B, L). Each chunk's logits (chunk, V) are recomputed in the backward pass
    (torch.utils.checkpoint), so at most one chunk's logits are alive instead of all B x L x V:
    the head no longer dominates training memory. The same mean as `lm_loss` (ignore_index -100)."""
    h, targets = h.flatten(0, 1), targets.flatten()  # (B*L, d), (B*L,)
    total = h.new_zeros((), dtype=torch.float32)
    for start in range(0, h.shape[0], chunk):
        total = total + checkpoint(_chunk_loss_sum, head, h[start:start + chunk], targets[start:start + chunk],
                                   use_reentrant=False)
    return total / (targets != -100).sum().clamp(min=1)


def head_and_loss(head: Callable[[Tensor], Tensor], h: Tensor, targets: Tensor | None, logits: str = "all",
                  loss_chunk: int = 0) -> tuple[Tensor | None, Tensor | None]:
    """The LM head over the final hidden states h (B, L, d) and the loss, as `forward` returns them.

    logits="all": logits (B, L, V) and `lm_loss`; logits="last": logits (B, 1, V) of the last
    position only and no loss (what generation and the backbone memory measurement need);
    loss_chunk > 0 with targets: no logits (None) and `chunked_lm_loss`."""
    if logits not in LOGITS:
        raise ValueError(f"logits={logits!r}; valid: {', '.join(LOGITS)}")
    if logits == "last":
        return head(h[:, -1:]), None
    if loss_chunk > 0 and targets is not None:
        return None, chunked_lm_loss(head, h, targets, loss_chunk)
    out = head(h)
    return out, lm_loss(out, targets)


class LanguageModel(nn.Module):
    # True where one training step has fixed shapes and no host synchronisation, so it can be
    # captured as a CUDA graph (harness.quality.train_step); routed models dispatch by counts.
    train_step_capturable = False

    def num_params(self, active: bool = False) -> int:
        """Parameters (tied weights once). Dense models: active == total."""
        return sum(p.numel() for p in self.parameters())

    def flops_per_token(self, seq_len: int) -> int:
        raise NotImplementedError

    def kernel_backend(self) -> str:
        """Names of the kernels that ran in the last forward, e.g. 'cuda_fused' or 'sdpa'."""
        raise NotImplementedError
