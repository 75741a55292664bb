"""Stateful encoders (`stateful_encoders=true`): each encoder carries its recurrent state from the
last chunk it processed for a sequence to the next one it is routed for in that sequence.

The design document says encoders "maintain context across routing decisions"; the stateless
swarm resets every encoder at each chunk. Here an encoder's final state on chunk j of a row
(its conv window and SSM state, per layer) becomes its initial state the next time the router
sends it a chunk of that row. The state only moves forward in time, so the model stays causal.
Execution is the per-encoder loop of the Mamba pools (models.swarm.mamba_pool, mamba2_pool),
one chunk position after another, since each position waits for the states of the ones before.
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
