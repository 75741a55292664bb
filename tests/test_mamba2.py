"""Mamba-2 on CPU: the chunked SSD against the plain recurrence, the block's decode step
against its forward pass, and upstream `Mamba2`'s parameter names (the GPU twins are in
tests/test_gpu_mamba2.py)."""
from __future__ import annotations

import pytest
import torch

from models.mamba2_block import Mamba2Block
from models.ssd import segment_sum, ssd_chunked, ssd_sequential

# mamba_ssm/modules/mamba2.py: Mamba2(d_model, ...) with rmsnorm=True, no bias, d_ssm=None
UPSTREAM_NAMES = {"in_proj.weight", "conv1d.weight", "conv1d.bias", "dt_bias", "A_log", "D", "norm.weight",
                  "out_proj.weight"}


def _inputs(batch=2, seqlen=37, heads=4, headdim=8, groups=2, state=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, seqlen, heads, headdim, generator=g)
    dt = torch.nn.functional.softplus(torch.randn(batch, seqlen, heads, generator=g))
    A = -torch.rand(heads, generator=g) * 4 - 0.1
    B = torch.randn(batch, seqlen, groups, state, generator=g)
    C = torch.randn(batch, seqlen, groups, state, generator=g)
    D = torch.randn(heads, generator=g)
    return x, dt, A, B, C, D


def test_segment_sum_is_the_sum_between_steps():
    a = torch.tensor([1.0, 2.0, 3.0, 4.0])
    out = segment_sum(a)
    assert out[3, 1] == 3.0 + 4.0 and out[2, 2] == 0.0 and out[1, 0] == 2.0
    assert torch.isinf(out[0, 1]) and out[0, 1] < 0


@pytest.mark.parametrize("chunk_len", [1, 5, 16, 64])
def test_chunked_ssd_equals_the_recurrence(chunk_len):
    x, dt, A, B, C, D = _inputs()
    h0 = torch.randn(2, 4, 8, 6)
    y_ref, h_ref = ssd_sequential(x, dt, A, B, C, D, initial_state=h0)
    y, h = ssd_chunked(x, dt, A, B, C, chunk_len=chunk_len, D=D, initial_state=h0)
    torch.testing.assert_close(y, y_ref, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(h, h_ref, rtol=1e-4, atol=1e-4)


def test_chunked_ssd_is_causal():
    x, dt, A, B, C, D = _inputs(seqlen=40)
    y, _ = ssd_chunked(x, dt, A, B, C, chunk_len=16, D=D)
    x2 = x.clone()
    x2[:, 25] += 1.0
    y2, _ = ssd_chunked(x2, dt, A, B, C, chunk_len=16, D=D)
    assert torch.equal(y[:, :25], y2[:, :25]) and not torch.allclose(y[:, 25:], y2[:, 25:])


def _block(**kw):
    torch.manual_seed(0)
    return Mamba2Block(32, d_state=8, headdim=16, chunk_size=8, **kw).eval()


def test_block_parameter_names_match_upstream():
    assert set(dict(_block().named_parameters())) == UPSTREAM_NAMES


def test_block_steps_continue_its_prefill():
    block, x = _block(ngroups=2), torch.randn(2, 30, 32)
    with torch.no_grad():
        full = block(x)
        y, state = block(x[:, :20], return_state=True)
        torch.testing.assert_close(y, full[:, :20])
        for t in range(20, 30):
            out, state = block.step(x[:, t], state)
            torch.testing.assert_close(out, full[:, t], rtol=1e-4, atol=1e-5)
    assert block.last_backend == "reference" and block.last_step_backend == "torch"


def test_block_prefill_shorter_than_the_conv_window():
    block, x = _block(), torch.randn(1, 6, 32)
    with torch.no_grad():
        full = block(x)
        _, state = block(x[:, :2], return_state=True)
        for t in range(2, 6):
            out, state = block.step(x[:, t], state)
    torch.testing.assert_close(out, full[:, 5], rtol=1e-4, atol=1e-5)


def test_block_refuses_impossible_head_splits():
    with pytest.raises(ValueError, match="headdim"):
        Mamba2Block(32, headdim=24)
    with pytest.raises(ValueError, match="ngroups"):
        Mamba2Block(32, headdim=16, ngroups=3)
