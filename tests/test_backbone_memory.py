"""The backbone measurement leaves the LM head out: last-position logits equal the full forward's
last position, the chunked cross entropy equals the full one (value and gradients) for every
model, and neither path ever materialises B x L x V logits; on a GPU, a model with a huge
vocabulary shows a backbone peak far below its whole-model peak."""
from __future__ import annotations

import pytest
import torch

from harness.tasks import forward_train
from models import registry
from models.lm_base import chunked_lm_loss, head_and_loss, lm_loss

VOCAB = 64


def _tiny(name, vocab=VOCAB):
    torch.manual_seed(0)
    return registry.build(name, registry.resolve_config(name, "tiny", {"vocab_size": vocab}))


def _head_outputs(model):
    """Shapes of every tensor the output head returns, recorded by a forward hook."""
    head = model.hf.lm_head if hasattr(model, "hf") else model.lm_head
    shapes = []
    head.register_forward_hook(lambda module, args, out: shapes.append(tuple(out.shape)))
    return shapes


@pytest.mark.parametrize("name", list(registry.MODELS))
def test_last_position_logits_equal_the_full_forward(name):
    model = _tiny(name).eval()
    idx = torch.randint(0, VOCAB, (2, 24))
    with torch.no_grad():
        full, _ = model(idx)
        last, loss = model(idx, idx, logits="last")
    assert last.shape == (2, 1, VOCAB) and loss is None
    torch.testing.assert_close(last, full[:, -1:], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", list(registry.MODELS))
def test_chunked_cross_entropy_equals_the_full_one(name):
    idx = torch.randint(0, VOCAB, (2, 24))
    targets = torch.randint(0, VOCAB, (2, 24))
    targets[0, :5] = -100
    grads, losses = [], []
    for chunk in (0, 7):
        model = _tiny(name).train()
        logits, loss = model(idx, targets, loss_chunk=chunk)
        assert (logits is None) == (chunk > 0)
        loss.backward()
        losses.append(loss.detach())
        grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
    torch.testing.assert_close(losses[1], losses[0], rtol=1e-5, atol=1e-6)
    assert grads[0].keys() == grads[1].keys() and grads[0]
    for key in grads[0]:
        torch.testing.assert_close(grads[1][key], grads[0][key], rtol=1e-4, atol=1e-6, msg=key)


@pytest.mark.parametrize("name", list(registry.MODELS))
def test_backbone_paths_never_hold_the_full_logits(name):
    model = _tiny(name)
    shapes = _head_outputs(model)
    idx = torch.randint(0, VOCAB, (2, 40))
    model(idx, idx, loss_chunk=16)[1].backward()
    with torch.no_grad():
        model(idx, logits="last")
    assert shapes and all(s[-1] == VOCAB for s in shapes)
    assert max(s[0] for s in shapes[:-1]) <= 16  # chunks of (positions, V), recomputed in backward
    assert shapes[-1] == (2, 1, VOCAB)


def test_chunked_loss_matches_lm_loss_directly():
    torch.manual_seed(1)
    head = torch.nn.Linear(8, 30)
    h, targets = torch.randn(3, 10, 8), torch.randint(0, 30, (3, 10))
    torch.testing.assert_close(chunked_lm_loss(head, h, targets, 4), lm_loss(head(h), targets))
    with pytest.raises(ValueError, match="logits='some'; valid: all, last"):
        head_and_loss(head, h, targets, logits="some")


def test_backbone_memory_is_empty_off_a_gpu():
    assert forward_train.backbone_memory(lambda **kw: None, "forward", torch.device("cpu"), {}) == {}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU: torch keeps allocation peaks on CUDA only")
@pytest.mark.parametrize("mode", ["forward", "train"])
def test_huge_vocabulary_shows_a_small_backbone_figure(mode):
    # 16,384 positions against chunks of 1,024: the chunked loss holds 1/16 of the logits at a time
    point = {"device": "cuda", "dtype": "bf16", "model": "mamba", "seed": 0, "batch_size": 4, "seq_len": 4096,
             "mode": mode, "warmup": 1, "iters": 2, "max_time_s": 1.0, "energy_min_s": 0.0,
             "model_config": registry.resolve_config("mamba", "tiny", {"vocab_size": 128_000})}
    memory = forward_train.measure_model(point)["memory_mb"]
    whole = memory["peak_alloc"] - memory["static_alloc"]
    backbone = memory["backbone_peak_alloc"] - memory["backbone_static_alloc"]
    assert memory["logits_share"] > (0.8 if mode == "forward" else 0.7) and backbone < 0.3 * whole, memory
