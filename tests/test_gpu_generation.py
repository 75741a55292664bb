"""Decode on CUDA: mamba-ssm's one-token kernels against the PyTorch step, and CUDA-graph
replay against eager steps (Mamba, the swarm, and the Transformer's captured StaticCache step
against its DynamicCache one). Run on a GPU machine, with mamba-ssm installed for the Mamba
kernels: `pytest -m gpu`."""
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


def test_transformer_cuda_graph_decode_equals_eager_decode():
    """Graphs (a StaticCache, captured) and eager (a DynamicCache) give the same tokens and logits."""
    model = build("transformer")
    prompt = torch.randint(0, 512, (3, 200), device="cuda")
    steps = 16
    logits = {}
    with torch.inference_mode():
        for graphs in (False, True):
            decoder = generation.GreedyDecoder(model, cuda_graphs=graphs, max_len=200 + steps if graphs else None)
            outputs = [decoder.prefill(prompt).clone()]
            outputs += [decoder.step().clone() for _ in range(steps)]
            logits[graphs] = torch.stack(outputs)
        assert decoder.graph_steps == steps and decoder.eager_steps == 0
        cache = decoder.state["cache"]
        decoder.prefill(prompt)  # a second generation reuses the captured graph and its cache
        again = torch.stack([decoder.step().clone() for _ in range(5)])
    assert decoder.state["cache"] is cache
    torch.testing.assert_close(again, logits[True][1:6])
    assert torch.equal(logits[True].argmax(-1), logits[False].argmax(-1))
    torch.testing.assert_close(logits[True], logits[False], rtol=2e-3, atol=2e-3)


def test_transformer_decode_points_record_the_cache_and_graph_that_ran():
    from harness.measure.trackers import MB
    from harness.tasks.decode import measure_decode
    from suites.common import RunContext
    from suites.decode import DecodeParams, build_points

    ctx = RunContext(device="cuda", dtype="bf16", seed=0, vocab_size=512, model_choice=None)
    params = DecodeParams(name="decode", models=["transformer"], match="none", preset="small", contexts=[256],
                          batch_sizes=[4], gen_tokens=16, decode_repeats=2, cuda_graphs=[False, True],
                          max_batch_context=64, max_batch_sizes=[], max_batch_gen_tokens=2, warmup=1, iters=2,
                          max_time_s=1.0, energy_min_s=0.0, timeout_s=60.0)
    points, _ = build_points(params, ctx)
    decode = {p.config["cuda_graphs"]: measure_decode(p.config)["decode"] for p in points}
    assert decode[False]["step_backend"] == "attn_sdpa+dynamic_cache" and decode[False]["graph_steps"] == 0
    assert decode[True]["step_backend"] == "attn_sdpa+static_cache+cuda_graph"
    assert decode[True]["graph_steps"] > 0 and decode[True]["eager_steps"] == 0
    cfg = points[0].config["model_config"]  # K and V, bf16, preallocated for 256 + 16 positions, and pos (int64)
    static_bytes = 2 * cfg["n_layer"] * 4 * (256 + 16) * cfg["d_model"] * 2 + 8
    assert decode[True]["state_mb"] == decode[True]["state_mb_end"] == pytest.approx(static_bytes / MB)
    assert decode[False]["state_mb_end"] == pytest.approx((static_bytes - 8) / MB)  # grown to the same length
