"""The swarm, its routing and its sparse encoder pools; Mamba-MoE's sparsity (CPU, tiny sizes)."""
from __future__ import annotations

import pytest
import torch

from models import registry, routing
from models.grouped import ExpertLinear, group_offsets, grouped_linear
from models.mamba_moe import MambaMoE, MambaMoEConfig
from models.swarm import SwarmConfig, SwarmLM

VOCAB = 64


def swarm(**overrides) -> SwarmLM:
    torch.manual_seed(0)
    values = {**registry.MODELS["swarm"].presets["tiny"], "vocab_size": VOCAB, **overrides}
    return SwarmLM(SwarmConfig(**values)).eval()


# With 4 rows, k=2 of 5 encoders and one slot per encoder, some chunks are always dropped.
DROPPING = dict(capacity_factor=0.5, min_capacity=1)
VARIANTS = {
    "mamba": {},
    "mamba-drops": DROPPING,
    "mamba-attention-fusion": dict(fusion="attention"),
    "mamba-domains-shared": dict(domains=["a", "b"], generalists=1, share_rank=8),
    "mamba-dynamic-k": dict(top_k=4, routing_threshold=0.6),
    "mamba-dynamic-k-drops": dict(top_k=4, routing_threshold=0.6, **DROPPING),
    "mamba-stateful": dict(stateful_encoders=True),
    "mamba-stateful-drops": dict(stateful_encoders=True, **DROPPING),
    "mamba2-stateful": dict(encoder_type="mamba2", pool_backend="loop", stateful_encoders=True),
    "mamba2": dict(encoder_type="mamba2", pool_backend="loop"),
    "mamba2-drops": dict(encoder_type="mamba2", pool_backend="loop", **DROPPING),
    "transformer": dict(encoder_type="transformer"),
    "transformer-drops": dict(encoder_type="transformer", **DROPPING),
}


@pytest.mark.parametrize("variant", VARIANTS)
def test_swarm_step_equals_forward(variant):
    model = swarm(**VARIANTS[variant])
    idx = torch.randint(0, VOCAB, (4, 27))  # 3 full chunks of 8 and a partial one
    with torch.no_grad():
        logits, _ = model(idx)
        state, stepped = model.init_state(4), []
        for t in range(idx.shape[1]):
            out, state = model.step(idx[:, t], state)
            stepped.append(out)
    torch.testing.assert_close(torch.stack(stepped, dim=1), logits, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("variant", ["mamba-drops", "transformer-drops", "mamba-attention-fusion",
                                     "mamba-dynamic-k-drops", "mamba-stateful-drops"])
@pytest.mark.parametrize("t", [6, 7, 8, 15])  # around the chunk boundaries at 8 and 16
def test_swarm_is_causal_with_capacity_drops(variant, t):
    dropped = causal_after(swarm(**VARIANTS[variant]), t)
    assert dropped or "drops" not in variant


def causal_after(model, t: int) -> bool:
    """Change every token after position t of a (4, 32) batch: the logits up to t must not move,
    those after it must; returns whether the routing dropped an assignment."""
    idx = torch.randint(0, VOCAB, (4, 32))
    changed = idx.clone()
    changed[:, t + 1:] = (changed[:, t + 1:] + 1) % VOCAB
    with torch.no_grad():
        before, _ = model(idx)
        dropped = not model.last_routing.keep.all()
        after, _ = model(changed)
    torch.testing.assert_close(before[:, : t + 1], after[:, : t + 1], rtol=0, atol=1e-5)
    assert not torch.allclose(before[:, t + 1:], after[:, t + 1:])
    return bool(dropped)


def test_gradients_reach_router_encoders_aggregator_decoder():
    model = swarm(fusion="attention", domains=["a", "b"], generalists=1).train()
    idx = torch.randint(0, VOCAB, (2, 32))
    labels = torch.randint(0, 2, (2, 32))
    _, loss = model(idx, idx, domain_labels=labels)
    loss.backward()
    used = model.last_routing.experts[model.last_routing.keep].unique()
    grads = {
        "router.proj": model.router.proj.weight.grad, "router.prior": model.router.prior.grad,
        "encoder": model.encoders.layers[0].in_proj.weight.grad[used],
        "aggregator": model.aggregator.query.weight.grad, "decoder": model.decoder[0].mixer.in_proj.weight.grad,
    }
    for name, grad in grads.items():
        assert grad is not None and grad.abs().sum() > 0, name
    assert {"balance", "z", "domain", "lm"} <= set(model.last_aux)


def test_only_routed_encoders_run_and_learn():
    model = swarm(n_encoders=12, top_k=2, pool_backend="loop").train()
    idx = torch.randint(0, VOCAB, (2, 16))  # 2 chunks x 2 rows x k=2: at most 8 of 12 encoders
    _, loss = model(idx, idx)
    loss.backward()
    r = model.last_routing
    used = r.experts[r.keep].unique()
    assert model.encoders.last_dispatch["encoder_calls"] == len(used) <= 8
    assert model.encoders.last_dispatch["chunks"] == int(r.keep.sum())
    grad = model.encoders.layers[0].in_proj.weight.grad.abs().sum(dim=(1, 2))  # (N,)
    idle = torch.ones(12, dtype=torch.bool)
    idle[used] = False
    assert grad[idle].sum() == 0 and (grad[used] > 0).all()


@pytest.mark.parametrize("encoder_type", ["mamba", "transformer"])
@pytest.mark.parametrize("share_rank", [0, 8])
def test_grouped_pool_equals_per_encoder_loop(encoder_type, share_rank):
    model = swarm(n_encoders=7, top_k=3, encoder_type=encoder_type, share_rank=share_rank,
                  domains=["a", "b"], generalists=1, **DROPPING)
    idx = torch.randint(0, VOCAB, (4, 24))
    with torch.no_grad():
        model.encoders.pool_backend = "loop"
        reference, _ = model(idx)
        model.encoders.pool_backend = "grouped"
        grouped, _ = model(idx)
    assert model.encoders.last_dispatch["pool"].startswith(("grouped", "transformer+loop"))
    torch.testing.assert_close(grouped, reference, rtol=1e-4, atol=1e-4)


def test_grouped_mm_equals_loop_forward():
    torch.manual_seed(0)
    weight = torch.randn(5, 24, 16)
    experts = torch.tensor([0, 0, 2, 2, 2, 4])  # groups 1 and 3 empty
    x = torch.randn(len(experts), 16)
    offsets = group_offsets(experts, 5)
    torch.testing.assert_close(grouped_linear(x, weight, offsets, "grouped_mm"),
                               grouped_linear(x, weight, offsets, "loop"), rtol=1e-5, atol=1e-5)


def test_shared_expert_weights_compose_base_family_and_expert_deltas():
    bank = ExpertLinear(4, 16, 8, rank=8, family_of_expert=[0, 0, 1, 1])
    with torch.no_grad():
        for p in (bank.family_up, bank.expert_up):
            p.normal_()
    experts = torch.tensor([0, 1, 1, 3])
    x = torch.randn(4, 16)
    dense = torch.einsum("mi,moi->mo", x, bank.expert_weight(experts))
    torch.testing.assert_close(bank(x, group_offsets(experts, 4), "loop"), dense, rtol=1e-4, atol=1e-4)
    assert bank.per_expert_params() == 8 * (16 + 8)


def test_weight_sharing_shrinks_the_pool():
    full, shared = swarm(n_encoders=50, share_rank=0), swarm(n_encoders=50, share_rank=8)
    assert shared.num_params() < 0.6 * full.num_params()
    assert shared.num_params(active=True) < shared.num_params()


def test_capacity_claims_in_position_then_rank_then_row_order():
    # two chunk positions (groups), 3 rows each, k=2, one slot per expert and group
    experts = torch.tensor([[0, 1], [1, 0], [0, 2],  # group 0
                            [2, 1], [2, 0], [1, 2]])  # group 1
    group = torch.tensor([0, 0, 0, 1, 1, 1])
    keep = routing.keep_within_capacity(experts, group, slots=1, n_experts=3)
    # group 0, top-1 claims first: row0->0 kept, row1->1 kept, row2->0 full; then top-2:
    # row0->1 full, row1->0 full, row2->2 kept. Group 1 starts with fresh slots.
    expected = torch.tensor([[True, False], [True, False], [False, True],
                             [True, False], [False, True], [True, False]])
    assert torch.equal(keep, expected)
    assert routing.keep_within_capacity(experts, group, slots=0, n_experts=3).all()


def test_balance_loss_is_one_when_even_and_larger_when_skewed():
    n = 4
    even = routing.balance_loss(torch.full((8, n), 1 / n), torch.arange(8).remainder(n)[:, None])
    skewed = routing.balance_loss(torch.tensor([[0.7, 0.1, 0.1, 0.1]]).repeat(8, 1), torch.zeros(8, 1, dtype=torch.long))
    assert even.item() == pytest.approx(1.0) and skewed.item() > 2
    assert routing.z_loss(torch.zeros(3, n)).item() == pytest.approx(torch.log(torch.tensor(4.0)).item() ** 2)


def test_domain_loss_teaches_the_router_to_pick_domain_encoders():
    """Toy topic detection: domain 0 uses tokens < 32, domain 1 the rest, one domain per row.
    Training only on the domain loss must move routing accuracy from chance to near 1."""
    model = swarm(n_encoders=6, top_k=1, domains=["low", "high"], noisy_gating=False, chunk_len=8).train()
    optimizer = torch.optim.Adam(model.router.parameters(), lr=3e-2)
    generator = torch.Generator().manual_seed(1)

    def batch():
        labels = torch.randint(0, 2, (16, 1), generator=generator)
        idx = torch.randint(0, 32, (16, 32), generator=generator) + 32 * labels
        labels = labels.expand(16, 32).clone()
        labels[:, :8] = -1  # the first chunk is routed by the prior alone: nothing to detect a topic from
        return idx, labels

    def accuracy():
        idx, labels = batch()
        with torch.no_grad():
            model(idx, domain_labels=labels)
        return model.last_aux["domain_accuracy"].item()

    before = accuracy()
    for _ in range(60):
        idx, labels = batch()
        model(idx, domain_labels=labels)
        optimizer.zero_grad()
        model.last_aux["domain"].backward()
        optimizer.step()
    after = accuracy()
    assert after > 0.95 and after > before + 0.2


def test_domain_config_errors_are_clear():
    with pytest.raises(ValueError, match="sum to n_encoders - generalists"):
        swarm(n_encoders=5, domains=["a", "b"], domain_encoders=[1, 1])
    with pytest.raises(ValueError, match="top_k=6 must be between 1 and n_encoders=5"):
        swarm(top_k=6)


def test_mamba_moe_runs_only_routed_experts_within_capacity():
    torch.manual_seed(0)
    model = MambaMoE(MambaMoEConfig(vocab_size=VOCAB, d_model=32, n_layer=1, n_experts=4, capacity_factor=0.5,
                                    capacity_window=8)).train()
    idx = torch.randint(0, VOCAB, (2, 16))
    _, loss = model(idx, idx)
    loss.backward()
    r = model.moe_layers[0].last_routing
    per_window = torch.zeros(2, 4, dtype=torch.long)  # kept tokens per (window, expert)
    window = (torch.arange(16) // 8).repeat_interleave(2)
    per_window.index_put_((window[r.keep[:, 0]], r.experts[r.keep][:]), torch.tensor(1), accumulate=True)
    assert per_window.max() <= routing.capacity(2 * 8, 1, 4, 0.5, 1) and not r.keep.all()
    grad = model.moe_layers[0].gate_up.weight.grad.abs().sum(dim=(1, 2))
    used = r.experts[r.keep].unique()
    assert (grad[used] > 0).all() and grad.sum() == grad[used].sum()
    assert model.num_params(active=True) < model.num_params()


def test_dynamic_k_takes_the_fewest_encoders_reaching_the_threshold_and_never_more_than_k_max():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.1, 0.06, 0.04], [0.9, 0.04, 0.03, 0.02, 0.01],
                                     [0.22, 0.21, 0.2, 0.19, 0.18]]))
    experts, gates, _, active = routing.top_p(logits, threshold=0.75, k_max=3)
    assert active.sum(-1).tolist() == [2, 1, 3]  # 0.5+0.3 reaches 0.75; 0.9 alone; capped at 3
    assert experts[0, :2].tolist() == [0, 1] and torch.allclose(gates.sum(-1), torch.ones(3))
    assert (gates[~active] == 0).all()
    fixed_experts, fixed_gates, _ = routing.top_k(logits, 3)
    all_experts, all_gates, _, all_active = routing.top_p(logits, threshold=1.0, k_max=3)
    assert all_active.all() and torch.equal(all_experts, fixed_experts)
    torch.testing.assert_close(all_gates, fixed_gates)


def test_inactive_slots_claim_no_capacity():
    experts = torch.tensor([[0, 1], [0, 1], [1, 0]])
    active = torch.tensor([[True, False], [True, False], [True, True]])
    keep = routing.keep_within_capacity(experts, torch.zeros(3, dtype=torch.long), slots=1, n_experts=2, active=active)
    assert keep.tolist() == [[True, False], [False, False], [True, False]]  # encoder 1's slot goes to row 2


@pytest.mark.parametrize("k", [1, 3])
def test_dynamic_k_at_threshold_1_equals_fixed_top_k(k):
    fixed, dynamic = swarm(n_encoders=6, top_k=k), swarm(n_encoders=6, top_k=k, routing_threshold=1.0)
    dynamic.load_state_dict(fixed.state_dict())
    idx = torch.randint(0, VOCAB, (4, 27))
    with torch.no_grad():
        torch.testing.assert_close(dynamic(idx)[0], fixed(idx)[0])


def test_dynamic_k_records_its_mean_and_distribution():
    model = swarm(n_encoders=6, top_k=4, routing_threshold=0.5)
    with torch.no_grad():
        model(torch.randint(0, VOCAB, (4, 32)))
    stats = model.extra_info()["routing"]
    assert 1 <= stats["k_mean"] <= 4 and sum(stats["k_histogram"]) == 16 and len(stats["k_histogram"]) == 4
    with pytest.raises(ValueError, match="routing_threshold"):
        swarm(routing_threshold=1.5)


@pytest.mark.parametrize("encoder_type", ["mamba", "mamba2"])
def test_a_stateful_encoder_continues_across_chunks_as_over_one_long_chunk(encoder_type):
    """One encoder takes every chunk: carrying its state chunk to chunk must equal one chunk
    spanning the whole sequence."""
    kw = dict(n_encoders=1, top_k=1, encoder_type=encoder_type, pool_backend="loop")
    stateful, whole = swarm(stateful_encoders=True, **kw), swarm(chunk_len=32, **kw)
    whole.load_state_dict(stateful.state_dict())
    idx = torch.randint(0, VOCAB, (2, 32))
    with torch.no_grad():
        torch.testing.assert_close(stateful(idx)[0], whole(idx)[0], rtol=1e-4, atol=1e-4)
        assert not torch.allclose(swarm(**kw)(idx)[0], whole(idx)[0], atol=1e-3)  # stateless resets at 8


@pytest.mark.parametrize("variant", ["mamba-stateful", "mamba-stateful-drops", "mamba2-stateful", "mamba-stateful-loop",
                                     "mamba-stateful-dynamic-k"])
def test_stateful_concatenated_sequences_equal_the_position_by_position_reference(variant):
    """The forward's fast path (each encoder's chunks of a row as one sequence) against the loop
    that carries every state chunk position by chunk position: same outputs, same gradients."""
    extra = {"mamba-stateful-loop": dict(stateful_encoders=True, pool_backend="loop"),
             "mamba-stateful-dynamic-k": dict(stateful_encoders=True, top_k=4, routing_threshold=0.6)}
    model = swarm(**{**VARIANTS.get(variant, {}), **extra.get(variant, {})}).eval()
    idx = torch.randint(0, VOCAB, (4, 40))  # 5 chunks of 8
    weights = torch.randn(4, 40, model.cfg.d_model)

    def encoded_and_grads(encoder_table: bool):
        model.zero_grad()
        h = model._encode(idx, encoder_table=encoder_table)
        (h * weights).sum().backward()
        return h.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    fast, fast_grads = encoded_and_grads(False)
    assert model.encoders.last_dispatch["pool"].startswith("stateful-concatenated")
    reference, reference_grads = encoded_and_grads(True)
    assert model.encoders.last_dispatch["pool"].startswith("stateful-loop")
    torch.testing.assert_close(fast, reference, rtol=1e-4, atol=1e-5)
    assert fast_grads.keys() == reference_grads.keys() and fast_grads
    for name in fast_grads:
        torch.testing.assert_close(fast_grads[name], reference_grads[name], rtol=1e-3, atol=1e-5, msg=name)


def test_stateful_encoders_need_recurrent_encoders():
    with pytest.raises(ValueError, match="stateful_encoders needs recurrent encoders"):
        swarm(stateful_encoders=True, encoder_type="transformer")


def test_grouped_mm_takes_only_shapes_with_16_byte_strides():
    from models.grouped import fits_grouped_mm

    assert fits_grouped_mm(16, 256, torch.bfloat16) and fits_grouped_mm(4, 128, torch.float32)
    assert not fits_grouped_mm(4, 128, torch.bfloat16)  # dt_proj of a d_model-64 encoder: 8-byte rows
    assert not fits_grouped_mm(64, 12, torch.bfloat16)
