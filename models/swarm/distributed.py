"""The swarm's encoders spread over ranks: expert parallelism with all-to-all dispatch.

As GShard (Lepikhin et al. 2020) and DeepSpeed-MoE's expert parallelism: every rank keeps the
embedding, router, aggregator and decoder (replicated) and a contiguous block of the N
encoders; each rank routes its own shard of the batch. `ExpertParallelPool` stands in for the
swarm's encoder pool (same call: dispatched chunks sorted by encoder -> encoded chunks):

    1. all-to-all of the counts: how many chunks each rank sends to each other rank
    2. all-to-all of the chunks (A, Lc, d) and their encoder ids to the ranks that hold them
    3. the local grouped pool over what arrived (sorted by encoder)
    4. all-to-all of the results back, in the original order

Inference only (plain `all_to_all_single`, no autograd through it). With an unlimited capacity
(`capacity_factor=0`) the outputs equal the single-device swarm's on the whole batch; with a
capacity limit each rank applies it to its own shard, as GShard's per-group capacity does.

Timing is the caller's: set `pool.clock` to any object with `mark() -> handle` and
`elapsed_ms(a, b) -> float` and every exchange of steps 2 and 4 is marked; `collect_comm_ms()`
sums them for the last forward. The pool reads no clock of its own.
"""
from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn as nn
from torch import Tensor

from models.swarm.mamba_pool import MambaEncoderPool
from models.swarm.model import SwarmLM


def encoder_bounds(n_encoders: int, world: int) -> list[int]:
    """Encoder ids [bounds[r], bounds[r+1]) live on rank r: contiguous, sizes differ by <= 1."""
    return [n_encoders * r // world for r in range(world + 1)]


class ExpertParallelPool(nn.Module):
    def __init__(self, full: MambaEncoderPool, n_encoders: int, group=None):
        super().__init__()
        self.group = group
        self.rank, self.world = dist.get_rank(group), dist.get_world_size(group)
        self.bounds = encoder_bounds(n_encoders, self.world)
        lo, hi = self.bounds[self.rank], self.bounds[self.rank + 1]
        self.lo, self.n_local = lo, hi - lo
        first = full.layers[0]
        self.local = MambaEncoderPool(self.n_local, len(full.layers), full.d_model, first.d_state, first.d_conv,
                                      first.d_inner // full.d_model, 0, None, full.backend, full.pool_backend,
                                      full.eps).to(device=first.D.device, dtype=first.D.dtype)
        # every stacked tensor (leading dimension N) keeps this rank's block of encoders
        self.local.load_state_dict({k: v[lo:hi] for k, v in full.state_dict().items()})
        self.clock = None  # set by the caller to time the exchanges; None: untimed
        self._exchanges: list[tuple] = []  # (start, end) clock marks of the last forward's exchanges
        self.last_dispatch: dict = {}

    def per_encoder_params(self) -> int:
        return self.local.per_encoder_params()

    def flops_per_token(self, chunk_len: int) -> int:
        return self.local.flops_per_token(chunk_len)

    def _exchange(self, tensor: Tensor, out_splits: list[int], in_splits: list[int]) -> Tensor:
        """tensor (sum(in_splits), ...): in_splits[r] rows go to rank r -> the rows that arrive,
        (sum(out_splits), ...), out_splits[r] of them from rank r."""
        out = tensor.new_empty((sum(out_splits), *tensor.shape[1:]))
        clock = self.clock
        start = clock.mark() if clock is not None else None
        dist.all_to_all_single(out, tensor.contiguous(), out_splits, in_splits, group=self.group)
        if clock is not None:
            self._exchanges.append((start, clock.mark()))
        return out

    def forward(self, h: Tensor, experts: Tensor) -> Tensor:
        """h (A, Lc, d) dispatched chunks sorted by encoder id `experts` (A,) -> (A, Lc, d)."""
        self._exchanges = []
        bounds = torch.tensor(self.bounds[1:-1], device=experts.device)
        owner = torch.bucketize(experts, bounds, right=True)  # (A,) rank holding each chunk's encoder
        send = torch.bincount(owner, minlength=self.world)  # sorted by encoder, so grouped by owner
        recv = torch.empty_like(send)
        dist.all_to_all_single(recv, send, group=self.group)
        send_splits, recv_splits = send.tolist(), recv.tolist()
        arrived = self._exchange(h, recv_splits, send_splits)  # (A_in, Lc, d)
        arrived_ids = self._exchange(experts, recv_splits, send_splits) - self.lo  # local encoder ids
        order = arrived_ids.argsort(stable=True)  # arrivals are sorted per source rank only
        encoded = torch.empty_like(arrived)
        encoded[order] = self.local(arrived[order], arrived_ids[order]).to(arrived.dtype)
        out = self._exchange(encoded, send_splits, recv_splits)  # (A, Lc, d), back in h's order
        self.last_dispatch = {"pool": f"expert_parallel(world={self.world})+" + self.local.last_dispatch.get("pool", ""),
                              "chunks_in": int(sum(recv_splits)), "chunks_out": int(h.shape[0])}
        return out

    def collect_comm_ms(self) -> float:
        """All-to-all milliseconds of the last forward, from `clock` (0.0 when untimed)."""
        return sum((self.clock.elapsed_ms(a, b) for a, b in self._exchanges), 0.0)


def expert_parallel(model: SwarmLM, group=None) -> SwarmLM:
    """`model` with its encoder pool replaced by this rank's block behind all-to-all dispatch.
    Every rank must pass an identical model (same seed); the other ranks' encoders are freed."""
    if model.cfg.encoder_type != "mamba" or model.cfg.share_rank:
        raise ValueError("expert parallelism supports Mamba encoders without weight sharing (share_rank=0)")
    model.encoders = ExpertParallelPool(model.encoders, model.cfg.n_encoders, group)
    return model
