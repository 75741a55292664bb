"""The chunked reference scan equals the plain sequential recurrence: outputs, final state,
and gradients of every input."""
from __future__ import annotations

import pytest
import torch

from models.selective_scan import selective_scan_chunked, selective_scan_sequential


def _inputs(batch=2, dim=6, length=37, n=4, with_z=True):
    u = torch.randn(batch, dim, length, dtype=torch.float64)
    delta = torch.randn(batch, dim, length, dtype=torch.float64) * 0.5
    A = -torch.rand(dim, n, dtype=torch.float64) * 2 - 0.1
    B = torch.randn(batch, n, length, dtype=torch.float64)
    C = torch.randn(batch, n, length, dtype=torch.float64)
    D = torch.randn(dim, dtype=torch.float64)
    z = torch.randn(batch, dim, length, dtype=torch.float64) if with_z else None
    bias = torch.randn(dim, dtype=torch.float64) * 0.1
    return [t.requires_grad_(True) if t is not None else None for t in (u, delta, A, B, C, D, z, bias)]


@pytest.mark.parametrize("length,chunk_len", [(37, 8), (64, 64), (5, 16), (33, 1), (100, 32)])
def test_chunked_matches_sequential_outputs_and_state(length, chunk_len):
    u, delta, A, B, C, D, z, bias = _inputs(length=length)
    kw = dict(D=D, z=z, delta_bias=bias, delta_softplus=True, return_last_state=True)
    y_seq, h_seq = selective_scan_sequential(u, delta, A, B, C, **kw)
    y_chk, h_chk = selective_scan_chunked(u, delta, A, B, C, chunk_len=chunk_len, **kw)
    assert y_chk.shape == y_seq.shape == (2, 6, length)
    torch.testing.assert_close(y_chk.double(), y_seq.double(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(h_chk, h_seq, rtol=1e-5, atol=1e-5)


def test_chunked_matches_sequential_gradients():
    inputs = _inputs(length=45)
    grads = []
    for fn in (selective_scan_sequential, lambda *a, **k: selective_scan_chunked(*a, chunk_len=8, **k)):
        u, delta, A, B, C, D, z, bias = [t.detach().clone().requires_grad_(True) for t in inputs]
        y = fn(u, delta, A, B, C, D=D, z=z, delta_bias=bias, delta_softplus=True)
        (y * torch.linspace(-1, 1, y.numel(), dtype=y.dtype).view_as(y)).sum().backward()
        grads.append([t.grad for t in (u, delta, A, B, C, D, z, bias)])
    for g_seq, g_chk in zip(*grads):
        torch.testing.assert_close(g_chk, g_seq, rtol=1e-5, atol=1e-6)


def test_initial_state_continues_a_split_sequence():
    u, delta, A, B, C, D, _, bias = [t.detach() if t is not None else None for t in _inputs(length=40, with_z=False)]
    kw = dict(D=D, delta_bias=bias, delta_softplus=True)
    whole = selective_scan_chunked(u, delta, A, B, C, chunk_len=8, **kw)
    first, state = selective_scan_chunked(u[..., :17], delta[..., :17], A, B[..., :17], C[..., :17],
                                          chunk_len=8, return_last_state=True, **kw)
    second = selective_scan_chunked(u[..., 17:], delta[..., 17:], A, B[..., 17:], C[..., 17:],
                                    chunk_len=8, initial_state=state, **kw)
    torch.testing.assert_close(torch.cat([first, second], dim=-1), whole, rtol=1e-5, atol=1e-5)


def test_output_keeps_input_dtype():
    u, delta, A, B, C, D, z, bias = [t.detach() if t is not None else None for t in _inputs()]
    y = selective_scan_chunked(u.float(), delta.float(), A.float(), B.float(), C.float(), D.float())
    assert y.dtype == torch.float32
