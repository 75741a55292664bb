"""Generation: every model's prefill (prompt -> last logits + state) followed by one-token steps
gives the logits of a full forward over prompt + generated tokens (CPU, tiny sizes)."""
from __future__ import annotations

import pytest
import torch

from models import generation, registry
from tests.test_swarm import VARIANTS

VOCAB = 64


def build(name: str, **overrides):
    torch.manual_seed(0)
    config = registry.resolve_config(name, "tiny", {"vocab_size": VOCAB, **overrides})
    return registry.build(name, config).eval()


CASES = {"mamba": ("mamba", {}), "transformer": ("transformer", {}), "mamba_moe": ("mamba_moe", {})}
SWARM_OF_ENCODER = {"mamba": "swarm", "mamba2": "mamba2_swarm", "transformer": "transformer_swarm"}
CASES.update({f"swarm-{v}": (SWARM_OF_ENCODER[v.split("-")[0]],
                             {k: x for k, x in VARIANTS[v].items() if k != "encoder_type"}) for v in VARIANTS})


@pytest.mark.parametrize("prompt_len", [16, 13, 3])  # whole chunks of 8, a partial chunk, shorter than d_conv
@pytest.mark.parametrize("case", CASES)
def test_prefill_then_step_equals_forward(case, prompt_len):
    name, overrides = CASES[case]
    model = build(name, **overrides)
    idx = torch.randint(0, VOCAB, (4, prompt_len + 6))
    with torch.no_grad():
        full, _ = model(idx)  # (B, L, V)
        logits, state = model.prefill(idx[:, :prompt_len])
        outputs = [logits]
        for t in range(prompt_len, idx.shape[1] - 1):
            logits, state = model.step(idx[:, t], state)
            outputs.append(logits)
    torch.testing.assert_close(torch.stack(outputs, 1), full[:, prompt_len - 1:-1], rtol=1e-4, atol=1e-4)


def test_state_bytes_count_kv_cache_and_recurrent_state():
    transformer, mamba = build("transformer"), build("mamba")
    idx = torch.randint(0, VOCAB, (2, 10))
    with torch.no_grad():
        _, cache = transformer.prefill(idx)
        _, state = mamba.prefill(idx)
    cfg = transformer.cfg  # K and V: 2 x layers x batch x positions x d_model x 4 bytes (fp32)
    assert generation.state_nbytes(cache) == 2 * cfg.n_layer * 2 * 10 * cfg.d_model * 4
    assert generation.state_nbytes(state) == mamba.state_bytes(2)  # independent of the prompt length


def test_only_recurrent_encoders_offer_a_static_step_to_capture():
    """The Transformer swarm's encoders recompute their growing chunk: no step may be captured,
    and the decoder refuses to try."""
    for name, capturable in (("swarm", True), ("mamba2_swarm", True), ("transformer_swarm", False)):
        model = registry.build(name, registry.resolve_config(name, "tiny", {"vocab_size": 32}))
        assert generation.supports_cuda_graphs(model) is capturable
    with pytest.raises(ValueError, match="no static-shape step"):
        generation.GreedyDecoder(model, cuda_graphs=True)
