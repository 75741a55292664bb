"""The Transformer's static-cache decode path, the one a CUDA graph captures, on CPU (fp32, tiny
sizes): the same logits and greedy tokens as the DynamicCache path, the graph protocol of
models.generation (capture's warm-up undone by restoring the state's tensors, one cache reused
across prefills), the bytes of a static cache and the recorded step backend."""
from __future__ import annotations

import contextlib

import pytest
import torch
from torch import Tensor
from torch.utils._pytree import tree_flatten
from transformers import DynamicCache, StaticCache

from harness.tasks.decode import step_backend
from models import generation, registry

VOCAB = 64
ATTENTION = {"sdpa": "transformer", "eager": "transformer_eager"}


def build(attn: str = "sdpa"):
    """A 2-layer tiny Transformer with weights of std 0.3: its greedy tokens depend on the context
    (at the default init, tied embeddings make it repeat its input token)."""
    torch.manual_seed(0)
    config = registry.resolve_config(ATTENTION[attn], "tiny", {"vocab_size": VOCAB, "n_layer": 2})
    model = registry.build(ATTENTION[attn], config).eval()
    assert model.cfg.attn_implementation == attn
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" not in name:
                p.normal_(0, 0.3)
    return model


def greedy(decoder: generation.GreedyDecoder, prompt: Tensor, steps: int) -> Tensor:
    """prompt (B, L) -> logits (B, 1 + steps, V) of the prefill and every greedy step."""
    return torch.stack([decoder.prefill(prompt).clone()] + [decoder.step().clone() for _ in range(steps)], 1)


@pytest.mark.parametrize("attn", ATTENTION)
def test_static_cache_steps_equal_the_full_forward(attn):
    model = build(attn)
    idx = torch.randint(0, VOCAB, (3, 17))
    with torch.inference_mode():
        full, _ = model(idx)  # (B, L, V)
        logits, state = model.prefill(idx[:, :9], max_len=idx.shape[1])
        outputs = [logits]
        for t in range(9, idx.shape[1] - 1):
            logits, state = model.step(idx[:, t], state)
            outputs.append(logits)
    assert isinstance(state["cache"], StaticCache) and state["pos"].tolist() == [idx.shape[1] - 1]
    torch.testing.assert_close(torch.stack(outputs, 1), full[:, 8:-1], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("attn", ATTENTION)
def test_static_cache_decode_gives_the_dynamic_cache_tokens(attn):
    model = build(attn)
    prompt = torch.randint(0, VOCAB, (4, 11))
    with torch.inference_mode():
        dynamic_decoder = generation.GreedyDecoder(model)
        dynamic = greedy(dynamic_decoder, prompt, 12)
        static_decoder = generation.GreedyDecoder(model, max_len=11 + 12)
        static = greedy(static_decoder, prompt, 12)
    assert isinstance(dynamic_decoder.state, DynamicCache)
    assert step_backend(dynamic_decoder) == f"attn_{attn}+dynamic_cache"
    assert step_backend(static_decoder) == f"attn_{attn}+static_cache"
    assert len(set(static.argmax(-1).flatten().tolist())) > 10  # the tokens vary: the comparison means something
    assert torch.equal(static.argmax(-1), dynamic.argmax(-1))
    torch.testing.assert_close(static, dynamic, rtol=1e-4, atol=1e-4)


class FakeGraph:
    """CPU stand-in for torch.cuda.CUDAGraph: capture runs the body eagerly (one more warm-up,
    undone like the others), replay runs what the graph recorded: the model's step over the
    decoder's static buffers, its results copied into them."""

    def __init__(self, decoder: generation.GreedyDecoder):
        self.decoder = decoder

    def replay(self) -> None:
        d = self.decoder
        logits, new_state = d.model.step(d._graph_token, d.state)
        for o, n in zip(tree_flatten(d.state)[0], tree_flatten(new_state)[0]):
            if isinstance(o, Tensor) and n is not o:
                o.copy_(n)
        d._graph_logits.copy_(logits)


def fake_cuda_graphs(monkeypatch, decoder: generation.GreedyDecoder) -> None:
    class Stream:
        def wait_stream(self, other):
            pass

    monkeypatch.setattr(torch.cuda, "Stream", Stream)
    monkeypatch.setattr(torch.cuda, "current_stream", Stream)
    monkeypatch.setattr(torch.cuda, "stream", lambda stream: contextlib.nullcontext())
    monkeypatch.setattr(torch.cuda, "graph", lambda graph: contextlib.nullcontext())
    monkeypatch.setattr(torch.cuda, "CUDAGraph", lambda: FakeGraph(decoder))


def test_graph_protocol_warm_up_is_undone_and_the_cache_is_reused(monkeypatch):
    model = build()
    prompt = torch.randint(0, VOCAB, (2, 7))
    with torch.inference_mode():
        reference = greedy(generation.GreedyDecoder(model), prompt, 10)
        decoder = generation.GreedyDecoder(model, cuda_graphs=True, max_len=7 + 10)
        fake_cuda_graphs(monkeypatch, decoder)
        first = greedy(decoder, prompt, 10)
        cache = decoder.state["cache"]
        again = greedy(decoder, prompt, 10)  # a second generation replays the same graph on the same cache
    assert decoder.graph_steps == 20 and decoder.eager_steps == 0
    assert decoder.state["cache"] is cache and decoder.state["pos"].tolist() == [7 + 10]
    assert step_backend(decoder) == "attn_sdpa+static_cache+cuda_graph"
    assert torch.equal(first.argmax(-1), reference.argmax(-1))
    torch.testing.assert_close(first, reference, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(again, first)


def test_a_graphed_decoder_refuses_a_new_cache():
    model = build()
    with torch.inference_mode():
        decoder = generation.GreedyDecoder(model, cuda_graphs=True, max_len=16)
        decoder.prefill(torch.randint(0, VOCAB, (2, 8)))
        with pytest.raises(RuntimeError, match="StaticCache was replaced"):
            decoder.prefill(torch.randint(0, VOCAB, (3, 8)))  # another batch: another cache


def test_graph_capturable_only_with_a_static_cache():
    model = build()
    prompt = torch.randint(0, VOCAB, (2, 8))
    with torch.inference_mode():
        _, dynamic = model.prefill(prompt)
        _, static = model.prefill(prompt, max_len=12)
        _, again = model.prefill(prompt, max_len=12)
        _, other = model.prefill(prompt[:1], max_len=12)
        with pytest.raises(ValueError, match="shorter than the prompt"):
            model.prefill(prompt, max_len=7)
    assert generation.supports_cuda_graphs(model)
    assert model.graph_capturable(static) and not model.graph_capturable(dynamic)
    assert again["cache"] is static["cache"] and other["cache"] is not static["cache"]


def test_state_bytes_of_a_static_cache_are_its_whole_buffers():
    model = build()
    prompt = torch.randint(0, VOCAB, (2, 8))
    cfg = model.cfg  # K and V: 2 x layers x batch x max_len positions x d_model x 4 bytes, and pos (int64)
    expected = 2 * cfg.n_layer * 2 * 20 * cfg.d_model * 4 + 8
    with torch.inference_mode():
        _, state = model.prefill(prompt, max_len=20)
        assert generation.state_nbytes(state) == expected
        for _ in range(3):
            _, state = model.step(prompt[:, 0], state)
    assert generation.state_nbytes(state) == expected  # preallocated: it does not grow
