"""The full-attention Transformer swarm (models.swarm.full_attention_pool): its fast path equals its
reference twin, eager attention equals SDPA, a single chunk makes it the chunk-local swarm, its
encoders really see the whole prefix with scores of runs x H x L x L, it is causal with capacity
drops, and its recomputing generation equals the forward (CPU, tiny sizes)."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from models import generation, registry
from models.swarm import transformer_pool
from tests.test_swarm import causal_after

VOCAB = 64
NAME = "transformer_swarm_full"
SPARSE = dict(top_k=2)  # of the tiny preset's 5 encoders: rows reuse some encoders across chunks
DROPPING = dict(top_k=2, capacity_factor=0.5, min_capacity=1)  # with 4 rows some chunks are always dropped
VARIANTS = {"dense": {}, "sparse": SPARSE, "drops": DROPPING, "attention-fusion": dict(fusion="attention")}


def build(name: str = NAME, **overrides):
    torch.manual_seed(0)
    return registry.build(name, registry.resolve_config(name, "tiny", {"vocab_size": VOCAB, **overrides})).eval()


def test_eager_attention_equals_sdpa():
    torch.manual_seed(0)
    q, k, v = torch.randn(3, 2, 4, 10, 8).unbind(0)  # (A, H, L, hd) each
    torch.testing.assert_close(transformer_pool.eager_causal_attention(q, k, v),
                               F.scaled_dot_product_attention(q, k, v, is_causal=True), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("variant", VARIANTS)
def test_one_run_per_row_and_encoder_equals_one_run_per_chunk(variant):
    idx = torch.randint(0, VOCAB, (4, 29))  # 3 whole chunks of 8 and a partial one
    targets = torch.randint(0, VOCAB, (4, 29))
    results = []
    for backend in ("auto", "loop"):
        model = build(**VARIANTS[variant], pool_backend=backend)
        logits, loss = model(idx, targets)
        loss.backward()
        results.append((logits, {n: p.grad for n, p in model.named_parameters() if p.grad is not None},
                        dict(model.encoders.last_dispatch)))
    (fast, fast_grads, fast_runs), (ref, ref_grads, ref_runs) = results
    torch.testing.assert_close(fast, ref, rtol=1e-4, atol=1e-5)
    assert fast_grads.keys() == ref_grads.keys()
    for key in fast_grads:
        torch.testing.assert_close(fast_grads[key], ref_grads[key], rtol=1e-4, atol=1e-6, msg=key)
    assert fast_runs["chunks"] == ref_runs["chunks"] == ref_runs["encoder_runs"]
    assert fast_runs["encoder_runs"] <= ref_runs["encoder_runs"]  # rows share runs between their chunks
    assert fast_runs["encoder_runs"] < ref_runs["encoder_runs"] or variant == "drops"


def test_a_single_chunk_is_the_chunk_local_swarm():
    """Same config, same weights: with chunk_len >= L the prefix is the chunk."""
    idx = torch.randint(0, VOCAB, (2, 16))
    full, local = build(chunk_len=16), build("transformer_swarm", top_k=5, chunk_len=16)
    assert full.state_dict().keys() == local.state_dict().keys()
    with torch.no_grad():
        torch.testing.assert_close(full(idx)[0], local(idx)[0], rtol=1e-4, atol=1e-5)
        assert not torch.allclose(build(chunk_len=8)(idx)[0], build("transformer_swarm", top_k=5)(idx)[0])
    assert full.num_params() == local.num_params() and "eager" in full.kernel_backend()


def test_each_encoder_sees_the_prefix_and_materialises_the_scores(monkeypatch):
    """A token of chunk 0 moves the encoders' outputs at chunk 1 (the chunk-local ones it cannot);
    dense routing runs every encoder over every row, with float32 scores (runs, H, L, L)."""
    x = torch.randn(2 * 2, 8, 64)  # chunk-major inputs: 2 chunks x 2 rows of 8 tokens
    item, experts = torch.tensor([0, 3, 1, 2]), torch.tensor([0, 0, 3, 3])  # sorted by encoder
    changed = x.clone()
    changed[:2, 0] += 1.0  # the first token of both rows
    later = item >= 2  # assignments of chunk 1
    for name, moves in ((NAME, True), ("transformer_swarm", False)):
        model = build(name)
        with torch.no_grad():
            before, after = (model._run_encoders(inputs, item, experts, batch=2) for inputs in (x, changed))
        assert not torch.allclose(before[~later], after[~later])
        assert (not torch.allclose(before[later], after[later])) == moves

    scores = []
    softmax = F.softmax

    def recording(t, *args, **kwargs):
        out = softmax(t, *args, **kwargs)
        if out.ndim == 4:
            scores.append((tuple(out.shape), out.dtype))
        return out

    model = build()
    monkeypatch.setattr(F, "softmax", recording)
    with torch.no_grad():
        model(torch.randint(0, VOCAB, (2, 16)))
    runs = 2 * model.cfg.n_encoders  # rows x encoders
    assert scores == [((runs, model.cfg.n_head, 16, 16), torch.float32)] * model.cfg.encoder_layers
    assert model.extra_info()["dispatch"]["encoder_runs"] == runs
    assert model.flops_per_token(16) > build("transformer_swarm", top_k=5).flops_per_token(16)


@pytest.mark.parametrize("variant", ["drops", "sparse"])
@pytest.mark.parametrize("t", [6, 7, 8, 15])  # around the chunk boundaries at 8 and 16
def test_causal_with_sparse_routing_and_drops(variant, t):
    dropped = causal_after(build(**VARIANTS[variant]), t)
    assert dropped or variant != "drops"


@pytest.mark.parametrize("prompt_len", [16, 13, 3])
@pytest.mark.parametrize("variant", VARIANTS)
def test_prefill_then_step_equals_forward(variant, prompt_len):
    model = build(**VARIANTS[variant])
    idx = torch.randint(0, VOCAB, (4, prompt_len + 6))
    with torch.no_grad():
        full, _ = model(idx)
        logits, state = model.prefill(idx[:, :prompt_len])
        outputs = [logits]
        for t in range(prompt_len, idx.shape[1] - 1):
            logits, state = model.step(idx[:, t], state)
            outputs.append(logits)
        stepped, fresh = [], model.init_state(4)
        for t in range(idx.shape[1]):
            out, fresh = model.step(idx[:, t], fresh)
            stepped.append(out)
    torch.testing.assert_close(torch.stack(outputs, 1), full[:, prompt_len - 1:-1], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(torch.stack(stepped, 1), full, rtol=1e-4, atol=1e-4)
    assert state["t"] == idx.shape[1] - 1 and not generation.supports_cuda_graphs(model)


def test_registered_as_a_dense_variant_of_the_transformer_swarm():
    for preset in ("tiny", "small", "base"):
        full = registry.resolve_config(NAME, preset)
        local = registry.resolve_config("transformer_swarm", preset)
        assert full == {**local, "top_k": local["n_encoders"]} and full["encoder_type"] == "transformer"
    assert not registry.entry(NAME).linear_time
    with pytest.raises(registry.ModelConfigError, match="Transformer encoders"):
        registry.build(NAME, {**registry.resolve_config(NAME, "tiny"), "encoder_type": "mamba"})
