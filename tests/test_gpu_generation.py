"""Decode on CUDA: mamba-ssm's one-token kernels against the PyTorch step, and CUDA-graph
replay against eager steps. Run on a GPU machine with mamba-ssm installed: `pytest -m gpu`."""
from __future__ import annotations

import pytest
import torch

from models import generation, kernels, registry

pytestmark = pytest.mark.gpu


def build(name: str, **overrides):
    torch.manual_seed(0)
    config = registry.resolve_config(name, "small", {"vocab_size": 512, **overrides})
    return registry.build(name, config).cuda().eval()


def test_decode_kernels_match_the_pytorch_step():
    if kernels.decode_kernels() is None:
        pytest.skip("causal-conv1d / mamba-ssm decode kernels not installed")
    model = build("mamba")
    block = model.layers[0].mixer
    x = torch.randn(4, block.d_model, device="cuda")
    state = block.init_state(4)
    state = (torch.randn_like(state[0]), torch.randn_like(state[1]))
    ref_out, (ref_conv, ref_ssm) = block.step_reference(x, tuple(t.clone() for t in state))
    out, (conv, ssm) = block.step(x, tuple(t.clone() for t in state))
    assert block.last_step_backend == "selective_state_update"
    torch.testing.assert_close(out, ref_out, rtol=1e-3, atol=1e-3)
    torch.testing.assert_close(conv, ref_conv)
    torch.testing.assert_close(ssm, ref_ssm, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("name", ["mamba", "swarm"])
def test_cuda_graph_decode_equals_eager_decode(name):
    model = build(name)
    prompt = torch.randint(0, 512, (3, 200), device="cuda")  # the swarm: 3 chunks of 64 and 8 tokens
    logits = {}
    with torch.inference_mode():
        for graphs in (False, True):
            decoder = generation.GreedyDecoder(model, cuda_graphs=graphs)
            outputs = [decoder.prefill(prompt).clone()]
            outputs += [decoder.step().clone() for _ in range(140)]  # crosses two chunk boundaries
            logits[graphs] = torch.stack(outputs)
            if graphs:
                assert decoder.graph_steps > 0
                assert decoder.eager_steps == (2 if name == "swarm" else 0)
            decoder.prefill(prompt)  # a second generation reuses the captured graph
            again = torch.stack([decoder.step().clone() for _ in range(5)])
            torch.testing.assert_close(again, logits[graphs][1:6])
    torch.testing.assert_close(logits[True], logits[False], rtol=2e-3, atol=2e-3)
