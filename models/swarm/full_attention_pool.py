"""The design document's hypothetical Transformer swarm, taken literally: every routed Transformer
encoder attends causally over the whole sequence, not only its chunk, with eager attention.

Follows `shared/seeds/mes-design.txt`: lines 29-33 ("Each encoder still requires O(n²) attention
computation ... Memory requirements scale multiplicatively: num_encoders × O(n²)") and lines
49-58 (the "Transformer Swarm (Hypothetical)" memory, 1000 encoders x 2K x 768d x 12 heads, and
"Scalability Factor: 24,000x"). The chunk-local swarm (models.swarm.transformer_pool, attention
inside each chunk with SDPA) is what a sensible design does; this variant exists to measure the
document's hypothetical, until it runs out of memory.

Same router, aggregator, Mamba decoder and weights as `transformer_swarm` (models.swarm.model);
only what an encoder sees differs. Chunk c (Lc tokens) of row b routed to encoder e: encoder e runs
over the row's prefix up to the chunk's end, (c+1)*Lc tokens, every one of its layers attending
causally over that whole prefix with e's own projections (so layer 2's keys are e's own layer-1
outputs at every earlier position), and its outputs at chunk c's positions are kept. Attention is
eager (`transformer_pool.eager_causal_attention`: scores materialised, float32 softmax), so memory
and time grow as (encoder runs) x H x L^2. Two executions, chosen by `pool_backend`:

    auto, grouped   one run per (row, encoder) pair in use, over the prefix up to the pair's last
                    routed chunk; the encoder is causal, so that one run gives the outputs of every
                    chunk of the row routed to it. Runs ending at the same chunk share one pool call
                    (grouped GEMMs on CUDA). Dense routing (top_k = n_encoders) makes B x N runs of L.
    loop            the reference twin: one run per kept assignment over its own prefix, one
                    F.linear per encoder in use (no sharing between chunks).

The presets are the swarm's (models.swarm.model.PRESETS) made dense, top_k = n_encoders: every
encoder runs on every chunk, as the document's "num_encoders x" assumes; `top_k` < `n_encoders`
routes sparsely, each encoder then running once per row it is routed to.

Generation recomputes: the state is the tokens so far and each `step` is a forward over all of
them (no per-encoder KV cache: an encoder routed for the first time at chunk c would need the
whole prefix anyway), so a step costs a forward and the state's bytes say nothing about memory.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from models.family import ModelEntry
from models.swarm.model import PRESETS as SWARM_PRESETS
from models.swarm.model import SwarmConfig, SwarmLM

PRESETS = {name: {**preset, "top_k": preset["n_encoders"]} for name, preset in SWARM_PRESETS.items()}  # dense


class FullAttentionSwarmLM(SwarmLM):
    def __init__(self, cfg: SwarmConfig):
        if cfg.encoder_type != "transformer":
            raise ValueError(f"encoder_type={cfg.encoder_type!r}; the full-attention swarm has Transformer encoders")
        super().__init__(cfg)

    def _run_encoders(self, inputs: Tensor, item: Tensor, experts: Tensor, batch: int) -> Tensor:
        """Chunk-major inputs (M = C*B, Lc, d), kept assignments item, experts (A,) sorted by encoder
        -> (A, Lc, d): each assignment's chunk as its encoder sees it after the whole prefix."""
        n_chunks, lc, d_model = inputs.shape[0] // batch, inputs.shape[1], inputs.shape[2]
        rows = inputs.view(n_chunks, batch, lc, d_model).transpose(0, 1).flatten(1, 2)  # (B, C*Lc, d)
        chunk, row = item // batch, item % batch  # (A,) each
        if self.cfg.pool_backend == "loop":  # each assignment its own run: run r is assignment r
            run_of, run_row, run_expert, run_end = torch.arange(len(item), device=item.device), row, experts, chunk
        else:  # one run per (row, encoder) pair; unique keys sort encoder-major, as the pool needs
            keys, run_of = torch.unique(experts * batch + row, return_inverse=True)  # (P,), (A,)
            run_row, run_expert = keys % batch, keys // batch
            run_end = chunk.new_zeros(len(keys)).scatter_reduce(0, run_of, chunk, "amax")  # (P,) last routed chunk
        encoded = inputs.new_empty(len(item), lc, d_model)  # (A, Lc, d)
        local = torch.empty_like(run_end)  # index of each run inside its pool call
        positions = 0
        for end in run_end.unique().tolist():
            runs = (run_end == end).nonzero().squeeze(1)  # (G,), in encoder order
            local[runs] = torch.arange(len(runs), device=runs.device)
            out = self.encoders(rows[run_row[runs], :(end + 1) * lc], run_expert[runs], attention="eager")
            mine = (run_end[run_of] == end).nonzero().squeeze(1)  # assignments served by these runs
            encoded[mine] = out.unflatten(1, (end + 1, lc))[local[run_of[mine]], chunk[mine]].to(encoded.dtype)
            positions += len(runs) * (end + 1) * lc
        self.encoders.last_dispatch.update(chunks=len(item), encoder_runs=len(run_end), positions=positions)
        return encoded

    def flops_per_token(self, seq_len: int) -> int:
        """Encoder runs per row at most min(N, k x chunks), each over the whole row (attention over
        L/2 keys on average); exact under dense routing, an upper bound otherwise."""
        c = self.cfg
        runs = min(c.n_encoders, c.top_k * math.ceil(seq_len / c.chunk_len))
        chunk_local = c.top_k * self.encoders.flops_per_token(c.chunk_len)
        return super().flops_per_token(seq_len) - chunk_local + runs * self.encoders.flops_per_token(seq_len)

    # ---- generation: recompute -------------------------------------------------------------
    def init_state(self, batch_size: int) -> dict:
        return {"t": 0, "tokens": torch.zeros(batch_size, 0, dtype=torch.long, device=self.embedding.weight.device)}

    def prefill(self, idx: Tensor):
        """Prompt idx (B, L) -> logits of its last position (B, V), and the tokens as the state."""
        logits, _ = self(idx, logits="last")  # (B, 1, V)
        return logits[:, 0], {"t": idx.shape[1], "tokens": idx}

    def step(self, token: Tensor, state: dict):
        """token (B,) -> logits (B, V), new state: a forward over every token so far."""
        return self.prefill(torch.cat([state["tokens"], token[:, None]], dim=1))  # (B, t + 1)

    @property
    def graph_capturable(self):
        """Absent (models.generation.supports_cuda_graphs asks hasattr): the state grows every token."""
        raise AttributeError("the full-attention swarm's step has no static shapes to capture")

    def state_bytes(self, batch_size: int) -> int:
        raise NotImplementedError("the full-attention swarm recomputes: its state is the tokens so far, "
                                  "which grow with the context")


# every encoder over the whole prefix, eager: encoder runs x O(L^2)
MODEL_FAMILIES = [ModelEntry("transformer_swarm_full", SwarmConfig, FullAttentionSwarmLM, PRESETS, linear_time=False,
                             fixed={"encoder_type": "transformer"})]
