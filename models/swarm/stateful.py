"""Stateful encoders (`stateful_encoders=true`): each encoder carries its recurrent state from the
last chunk it processed for a sequence to the next one it is routed for in that sequence.

The design document says encoders "maintain context across routing decisions"; the stateless
swarm resets every encoder at each chunk. Here an encoder's final state on chunk j of a row
(its conv window and SSM state, per layer) becomes its initial state the next time the router
sends it a chunk of that row. The state only moves forward in time, so the model stays causal.

Two executions of the same computation:
- `concatenated_slots`, the forward's: every forward starts from zero states, so the chunks one
  encoder takes in one row, in order, are a single sequence for it; each (encoder, row) sequence
  runs through the pool's ordinary forward (grouped kernels, no initial states), right-padded
  to the longest, which a causal encoder never lets reach a real position;
- `stateful_slots`, the reference and the prefill's (it also returns every state, which
  generation continues from): the per-encoder loop of the Mamba pools (models.swarm.mamba_pool,
  mamba2_pool), one chunk position after another, each waiting for the states of the ones before.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.func import functional_call


def run_stateful(pool, h: Tensor, experts: Tensor, states: list[tuple[Tensor, Tensor]]):
    """h (A, Lc, d) items sorted by encoder `experts` (A,), `states` per layer the items' initial
    (conv, ssm) states, each (A, ...) -> outputs (A, Lc, d) and the final states, same layout."""
    if h.shape[0] == 0:
        return h, states
    template = pool._template[0]
    outputs, finals = [], [([], []) for _ in pool.layers]
    start = 0
    for encoder, count in zip(*(t.tolist() for t in experts.unique_consecutive(return_counts=True))):
        x, end = h[start:start + count], start + count
        for layer, (conv, ssm), (conv_out, ssm_out) in zip(pool.layers, states, finals):
            normed = F.rms_norm(x, (pool.d_model,), eps=pool.eps) * layer.norm_weight[encoder].to(x.dtype)
            y, (c, s) = functional_call(template, layer.block_params(encoder), (normed,),
                                        {"return_state": True, "initial_state": (conv[start:end], ssm[start:end])})
            x = x + y
            conv_out.append(c)
            ssm_out.append(s)
        outputs.append(x)
        start = end
    return torch.cat(outputs), [(torch.cat(c), torch.cat(s)) for c, s in finals]


def concatenated_slots(pool, inputs: Tensor, r, batch: int) -> Tensor:
    """stateful_slots from zero states, without the states: inputs (M = C*B, Lc, d) chunk-major,
    routing `r` of the M chunks -> slots (M, k, Lc, d) (unkept slots hold the identity)."""
    n_items, k = r.experts.shape
    lc, d = inputs.shape[1:]
    slots = inputs[:, None].expand(-1, k, -1, -1).clone()
    item, slot = torch.nonzero(r.keep, as_tuple=True)  # kept assignments (A,)
    if item.numel() == 0:
        return slots
    experts = r.experts[item, slot]
    position, row = item // batch, item % batch  # chunk-major: item = position * B + row
    pair = experts * batch + row  # one sequence per (encoder, row), numbered in encoder order
    order = (pair * (n_items // batch) + position).argsort()  # by encoder, row, then chunk position
    item, slot, pair = item[order], slot[order], pair[order]
    pairs, counts = pair.unique_consecutive(return_counts=True)  # (S,) sequences, their chunk counts
    sequence = torch.repeat_interleave(torch.arange(len(pairs), device=item.device), counts)  # (A,)
    ordinal = torch.arange(len(item), device=item.device) - (counts.cumsum(0) - counts)[sequence]
    longest = int(counts.max())
    packed = inputs.new_zeros(len(pairs), longest, lc, d)  # (S, T, Lc, d), zeros after each sequence
    packed[sequence, ordinal] = inputs[item]
    encoded = pool(packed.view(len(pairs), longest * lc, d), pairs // batch).view(len(pairs), longest, lc, d)
    slots[item, slot] = encoded[sequence, ordinal].to(slots.dtype)
    pool.last_dispatch = {**pool.last_dispatch, "pool": f"stateful-concatenated+{pool.last_dispatch.get('pool')}",
                          "chunks": len(item), "sequences": len(pairs), "longest": longest}
    return slots


def stateful_slots(pool, inputs: Tensor, r, batch: int, table: list[tuple[Tensor, Tensor]]):
    """The swarm's encoder slots with states carried: inputs (M = C*B, Lc, d) chunk-major, routing
    `r` of the M chunks, `table` per layer the (conv, ssm) state of every (row, encoder), each
    (B, N, ...) -> slots (M, k, Lc, d) (unkept slots hold the identity) and the table after the
    last chunk. Chunk positions run in order; the table is updated out of place, so gradients
    flow through the carried states."""
    n_items, k = r.experts.shape
    slots = inputs[:, None].expand(-1, k, -1, -1).clone()
    for first in range(0, n_items, batch):  # one chunk position: its B rows
        row, slot = torch.nonzero(r.keep[first:first + batch], as_tuple=True)
        experts = r.experts[first + row, slot]
        order = experts.argsort(stable=True)
        row, slot, experts = row[order], slot[order], experts[order]
        initial = [(conv[row, experts], ssm[row, experts]) for conv, ssm in table]
        out, final = run_stateful(pool, inputs[first + row], experts, initial)
        slots[first + row, slot] = out.to(slots.dtype)
        table = [(conv.index_put((row, experts), c.to(conv.dtype)), ssm.index_put((row, experts), s.to(ssm.dtype)))
                 for (conv, ssm), (c, s) in zip(table, final)]
    pool.last_dispatch = {"pool": f"stateful-loop+{pool._template[0].last_backend}", "chunks": int(r.keep.sum())}
    return slots, table


def write_back(table: list, experts: Tensor, keep: Tensor, states: list) -> list:
    """Generation at a chunk boundary: the chunk's (B, k) encoder states -> their (row, encoder)
    entries of the table, where the assignment was kept."""
    row, slot = torch.nonzero(keep, as_tuple=True)
    return [(conv.index_put((row, experts[row, slot]), c[row, slot].to(conv.dtype)),
             ssm.index_put((row, experts[row, slot]), s[row, slot].to(ssm.dtype)))
            for (conv, ssm), (c, s) in zip(table, states)]


def gather(table: list, experts: Tensor) -> list:
    """The (B, k) encoder states a new chunk starts from: experts (B, k) -> per layer (conv, ssm)."""
    rows = torch.arange(experts.shape[0], device=experts.device)[:, None]
    return [(conv[rows, experts], ssm[rows, experts]) for conv, ssm in table]
