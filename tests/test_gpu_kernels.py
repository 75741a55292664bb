"""The fused CUDA paths against the PyTorch reference, and our block against mamba_ssm.Mamba.
Run on a GPU machine with mamba-ssm installed: `pytest -m gpu`."""
from __future__ import annotations

import pytest
import torch

from models import kernels
from models.mamba_block import MambaBlock

pytestmark = pytest.mark.gpu


def _pair(backend: str, d_model=128, seed=0):
    torch.manual_seed(seed)
    fast = MambaBlock(d_model, backend=backend).cuda()
    ref = MambaBlock(d_model, backend="reference").cuda()
    ref.load_state_dict(fast.state_dict())
    return fast, ref


@pytest.mark.parametrize("backend", ["cuda_fused", "cuda_scan"])
def test_cuda_backend_matches_reference(backend):
    if backend == "cuda_fused" and kernels.causal_conv1d_fn() is None:
        pytest.skip("cuda_fused needs causal-conv1d, which is not installed")
    fast, ref = _pair(backend)
    x = torch.randn(2, 300, 128, device="cuda", requires_grad=True)
    x_ref = x.detach().clone().requires_grad_(True)
    y, y_ref = fast(x), ref(x_ref)
    assert fast.last_backend == backend and ref.last_backend == "reference"
    assert torch.linalg.norm(y - y_ref) / torch.linalg.norm(y_ref) < 1e-3
    g = torch.randn_like(y)
    y.backward(g)
    y_ref.backward(g)
    assert torch.linalg.norm(x.grad - x_ref.grad) / torch.linalg.norm(x_ref.grad) < 1e-3
    for (name, p), p_ref in zip(fast.named_parameters(), ref.parameters()):
        err = torch.linalg.norm(p.grad - p_ref.grad) / torch.linalg.norm(p_ref.grad)
        assert err < 5e-3, name


def test_state_dict_moves_to_upstream_mamba():
    upstream = pytest.importorskip("mamba_ssm").Mamba
    ours = MambaBlock(256, backend="cuda_scan").cuda()
    theirs = upstream(d_model=256).cuda()
    theirs.load_state_dict(ours.state_dict())  # same names and shapes, strict
    x = torch.randn(2, 512, 256, device="cuda")
    with torch.no_grad():
        assert torch.linalg.norm(ours(x) - theirs(x)) / torch.linalg.norm(theirs(x)) < 1e-4


def test_auto_backend_on_cuda_is_a_fused_kernel():
    block = MambaBlock(64).cuda()
    block(torch.randn(1, 16, 64, device="cuda"))
    assert block.last_backend in ("cuda_fused", "cuda_scan")
