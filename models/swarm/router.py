"""The swarm's router: picks k of N encoders for every chunk of `chunk_len` tokens.

The Mamba Encoder Swarm design document ("router.py"): text is chunked and each chunk is sent
to the encoders suited to it. To stay causal, the scores of chunk j come from a summary of
chunk j-1 only (the mean of its token embeddings, RMS-normalised); chunk 0 has nothing
before it and uses a learned prior. Gates, capacity, balance and z-losses: models.routing.
With `routing_threshold` > 0 a chunk takes the fewest encoders (at most top_k) whose router
probability reaches the threshold: the design document's "activate optimal number of
encoders based on task complexity" as top-p routing (models.routing.top_p).

Domain specialists: encoders are grouped into domains (contiguous blocks of encoder ids,
generalists last). With per-chunk domain labels, the router is also trained as a topic
detector: a domain's logit is the log-sum-exp of its encoders' logits, and the domain loss is
the cross entropy of those against the label; routing accuracy is the share of labelled
chunks whose top-1 encoder belongs to the labelled domain.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from models import routing
from models.routing import Routing


class ChunkRouter(nn.Module):
    def __init__(self, d_model: int, n_encoders: int, top_k: int, noisy_gating: bool,
                 capacity_factor: float, min_capacity: int, domain_of_encoder: list[int], eps: float = 1e-5,
                 routing_threshold: float = 0.0):
        super().__init__()
        self.n_encoders, self.top_k = n_encoders, top_k
        self.threshold = routing_threshold  # > 0: dynamic k (top-p), at most top_k encoders per chunk
        self.capacity_factor, self.min_capacity = capacity_factor, min_capacity
        self.norm = nn.RMSNorm(d_model, eps=eps)
        self.proj = nn.Linear(d_model, n_encoders)
        self.prior = nn.Parameter(torch.randn(n_encoders) * 0.02)  # chunk 0's logits
        self.noisy_gating = noisy_gating
        if noisy_gating:
            self.noise_proj = nn.Linear(d_model, n_encoders)
            self.prior_noise = nn.Parameter(torch.zeros(n_encoders))
        self.register_buffer("domain", torch.tensor(domain_of_encoder, dtype=torch.long), persistent=False)
        self.n_domains = max(domain_of_encoder) + 1 if domain_of_encoder else 0

    def logits(self, previous_mean: Tensor | None, batch_size: int) -> Tensor:
        """Router logits (B, N) of one chunk from the mean embedding of the chunk before it (B, d),
        or the prior when there is none."""
        if previous_mean is None:
            clean = self.prior.float().expand(batch_size, -1)
            noise = self.prior_noise.float().expand(batch_size, -1) if self.noisy_gating else None
        else:
            s = self.norm(previous_mean)
            clean = self.proj(s).float()
            noise = self.noise_proj(s).float() if self.noisy_gating else None
        return routing.noisy(clean, noise, self.training) if self.noisy_gating else clean

    def slots(self, batch_size: int) -> int:
        """Capacity: slots per encoder at one chunk position (B chunks compete)."""
        return routing.capacity(batch_size, self.top_k, self.n_encoders, self.capacity_factor, self.min_capacity)

    def route(self, logits: Tensor, group: Tensor, batch_size: int) -> Routing:
        """logits (M, N) of M chunks, `group` (M,) their chunk position -> Routing."""
        if self.threshold > 0:
            experts, gates, probs, active = routing.top_p(logits, self.threshold, self.top_k)
        else:
            (experts, gates, probs), active = routing.top_k(logits, self.top_k), None
        keep = routing.keep_within_capacity(experts, group, self.slots(batch_size), self.n_encoders, active)
        return Routing(experts=experts, gates=gates, keep=keep, probs=probs, logits=logits, active=active)

    def forward(self, chunks: Tensor) -> Routing:
        """chunks (B, C, Lc, d) -> Routing of the C*B chunks, ordered chunk-major (c, b)."""
        batch, n_chunks = chunks.shape[:2]
        means = chunks.mean(dim=2).transpose(0, 1)  # (C, B, d)
        first = self.logits(None, batch)[None]  # (1, B, N)
        rest = self.logits(means[:-1].flatten(0, 1), (n_chunks - 1) * batch).view(n_chunks - 1, batch, self.n_encoders)
        logits = torch.cat([first, rest]).flatten(0, 1)  # (C*B, N)
        group = torch.arange(n_chunks, device=chunks.device).repeat_interleave(batch)
        return self.route(logits, group, batch)

    def losses(self, r: Routing) -> dict[str, Tensor]:
        used = r.experts if r.active is None else r.experts[r.active]
        return {"balance": routing.balance_loss(r.probs, used), "z": routing.z_loss(r.logits)}

    def domain_logits(self, logits: Tensor) -> Tensor:
        """(M, N) -> (M, n_domains): log-sum-exp over each domain's encoders."""
        masked = logits[:, None, :].masked_fill(
            self.domain[None, None, :] != torch.arange(self.n_domains, device=logits.device)[None, :, None], float("-inf"))
        return masked.logsumexp(dim=-1)

    def domain_loss(self, r: Routing, labels: Tensor) -> Tensor:
        """Cross entropy of the domain logits against chunk labels (M,), -1 = unlabelled."""
        return F.cross_entropy(self.domain_logits(r.logits), labels, ignore_index=-1)

    def domain_accuracy(self, r: Routing, labels: Tensor) -> float | None:
        labelled = labels >= 0
        if not labelled.any() or self.n_domains == 0:
            return None
        hit = self.domain[r.experts[:, 0]] == labels
        return float(hit[labelled].float().mean())
