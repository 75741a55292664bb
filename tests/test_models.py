"""Every registered model is causal; the Mamba LM's recurrent step equals its forward;
parameter matching and counting behave."""
from __future__ import annotations

import pytest
import torch

from models import matching, registry
from models.errors import ModelConfigError
from models.mamba_block import MambaBlock

VOCAB = 64


def _tiny(name):
    torch.manual_seed(0)
    return registry.build(name, registry.resolve_config(name, "tiny", {"vocab_size": VOCAB})).eval()


@pytest.mark.parametrize("name", list(registry.MODELS))
@pytest.mark.parametrize("t", [0, 7, 30])
def test_model_is_causal(name, t):
    model = _tiny(name)
    idx = torch.randint(0, VOCAB, (2, 32))
    changed = idx.clone()
    changed[:, t + 1:] = (changed[:, t + 1:] + 1 + torch.randint(0, VOCAB - 1, changed[:, t + 1:].shape)) % VOCAB
    with torch.no_grad():
        logits, _ = model(idx)
        logits_changed, _ = model(changed)
    torch.testing.assert_close(logits[:, : t + 1], logits_changed[:, : t + 1], rtol=0, atol=1e-5)
    if t + 1 < 32:  # the change is visible after t, so the test could fail
        assert not torch.allclose(logits[:, t + 1:], logits_changed[:, t + 1:])


@pytest.mark.parametrize("name", list(registry.MODELS))
def test_forward_returns_logits_and_loss(name):
    model = _tiny(name)
    idx = torch.randint(0, VOCAB, (3, 11))
    logits, loss = model(idx, idx)
    assert logits.shape == (3, 11, VOCAB)
    assert loss.ndim == 0 and torch.isfinite(loss)
    sparse = name in ("swarm", "mamba2_swarm", "transformer_swarm", "mamba_moe")
    assert 0 < model.num_params(active=True) < model.num_params() if sparse else \
        model.num_params(active=True) == model.num_params() > 0
    # every active weight is used at least once per token (2 FLOPs per multiply-add)
    assert model.flops_per_token(11) > 2 * (model.num_params(active=True) - VOCAB * model.cfg.d_model)
    assert "cuda" not in model.kernel_backend() and model.kernel_backend() != "not run"


def test_mamba_step_equals_forward():
    model = _tiny("mamba")
    idx = torch.randint(0, VOCAB, (2, 20))
    with torch.no_grad():
        logits, _ = model(idx)
        state = model.init_state(2)
        stepped = []
        for t in range(idx.shape[1]):
            out, state = model.step(idx[:, t], state)
            stepped.append(out)
    torch.testing.assert_close(torch.stack(stepped, dim=1), logits, rtol=1e-4, atol=1e-4)
    assert model.state_bytes(2) == sum(t.numel() * t.element_size() for s in state for t in s)


def test_mamba_block_parameter_names_match_upstream():
    names = {n: tuple(p.shape) for n, p in MambaBlock(32, d_state=8).named_parameters()}
    assert names == {"in_proj.weight": (128, 32), "conv1d.weight": (64, 1, 4), "conv1d.bias": (64,),
                     "x_proj.weight": (2 + 16, 64), "dt_proj.weight": (64, 2), "dt_proj.bias": (64,),
                     "A_log": (64, 8), "D": (64,), "out_proj.weight": (32, 64)}


def test_mamba_block_cuda_backend_refused_on_cpu():
    block = MambaBlock(16, backend="cuda_fused")
    with pytest.raises(RuntimeError, match="needs a CUDA device"):
        block(torch.randn(1, 4, 16))


def test_match_depth_gets_closest_parameter_count():
    target = matching.count_params("mamba", registry.resolve_config("mamba", "small", {"vocab_size": 1000}))
    base = registry.resolve_config("transformer", "small", {"vocab_size": 1000})
    matched = matching.match_depth("transformer", base, target)
    count = matching.count_params("transformer", matched)
    per_layer = (matching.count_params("transformer", {**matched, "n_layer": matched["n_layer"] + 1}) - count)
    assert abs(count - target) <= per_layer / 2


def test_unknown_model_preset_and_option_are_model_config_errors():
    with pytest.raises(ModelConfigError, match="unknown model 'gpt5'; valid: hf, mamba, mamba2, "):
        registry.entry("gpt5")
    with pytest.raises(ModelConfigError, match="unknown preset 'huge'"):
        registry.resolve_config("mamba", "huge")
    with pytest.raises(ModelConfigError, match="unknown key model\\[mamba\\].d_modle"):
        registry.resolve_config("mamba", "tiny", {"d_modle": 3})
    with pytest.raises(ModelConfigError, match="impossible"):
        registry.resolve_config("mamba", "tiny", {"d_model": -4})
    with pytest.raises(ModelConfigError, match="not divisible"):
        registry.build("transformer", registry.resolve_config("transformer", "tiny", {"d_model": 66}))


def test_match_width_gets_closest_parameter_count():
    target = 5_000_000
    base = registry.resolve_config("transformer", "small", {"vocab_size": 1000})
    matched = matching.match("transformer", base, target, by="width")
    assert matched["d_model"] % 64 == 0 and matched["n_head"] == matched["d_model"] // 64
    count = matching.count_params("transformer", matched)
    for neighbour in (matched["d_model"] - 64, matched["d_model"] + 64):
        other = matching.count_params("transformer", {**matched, "d_model": neighbour, "n_head": neighbour // 64})
        assert abs(count - target) <= abs(other - target)


def test_every_family_registers_itself_from_its_own_module():
    modules = {e.build.__module__ for e in registry.MODELS.values()}
    assert {"models.mamba_lm", "models.mamba2_lm", "models.transformer", "models.swarm.model"} <= modules
    assert list(registry.MODELS) == sorted(registry.MODELS)


def test_a_family_without_a_yaml_gets_its_model_group():
    from harness.run.config import compose_config, to_container

    cfg = to_container(compose_config(["suite=scaling", "model=mamba2", "model.headdim=16"]))
    assert cfg["model"]["name"] == "mamba2" and cfg["model"]["headdim"] == 16 and cfg["model"]["d_state"] is None
    assert "vocab_size" not in cfg["model"]


def test_attention_only_transformer_is_causal_and_has_the_attention_alone():
    """mlp=False: the papers' attention baselines (Mamba Table 11's "MHA-RoPE (137K)" at d 128,
    2 layers, is q, k, v, o alone); the block's residual branch of the MLP adds nothing."""
    overrides = {"vocab_size": 24, "d_model": 128, "n_layer": 2, "n_head": 8}
    full = registry.build("transformer", registry.resolve_config("transformer", "tiny", overrides))
    bare = registry.build("transformer", registry.resolve_config("transformer", "tiny", {**overrides, "mlp": False}))
    d = 128
    assert bare.num_params() == 2 * (4 * d * d + d) + d + 24 * d  # attention, its norms, final norm, embedding
    assert full.num_params() - bare.num_params() == 2 * (3 * d * 384 + d)  # SwiGLU MLP of width 384 and its norm
    assert bare.flops_per_token(16) < full.flops_per_token(16)
    _assert_later_tokens_change_only_later_logits(bare, vocab=24)


def test_attention_bias_adds_the_four_projection_biases_and_stays_causal():
    """attention_bias=True: the papers' attention projections (flash-attn MHA, Zoology) carry
    biases, which give queries and keys a content-free part from the start."""
    overrides = {"vocab_size": 24, "d_model": 128, "n_layer": 2, "n_head": 8, "mlp": False}
    plain = registry.build("transformer", registry.resolve_config("transformer", "tiny", overrides))
    biased = registry.build("transformer", registry.resolve_config("transformer", "tiny",
                                                                   {**overrides, "attention_bias": True}))
    assert biased.num_params() - plain.num_params() == 2 * 4 * 128  # q, k, v and o biases in 2 layers
    _assert_later_tokens_change_only_later_logits(biased, vocab=24)


def _assert_later_tokens_change_only_later_logits(model, vocab: int) -> None:
    """Changing tokens from position 9 on leaves the logits before 9 as they were, and changes later ones."""
    idx = torch.randint(0, vocab, (2, 16))
    changed = idx.clone()
    changed[:, 9:] = (changed[:, 9:] + 1) % vocab
    with torch.no_grad():
        logits, _ = model.eval()(idx)
        logits_changed, _ = model(changed)
    torch.testing.assert_close(logits[:, :9], logits_changed[:, :9], rtol=0, atol=1e-5)
    assert not torch.allclose(logits[:, 9:], logits_changed[:, 9:])
