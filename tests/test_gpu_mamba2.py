"""Mamba-2's Triton paths against the PyTorch reference, and our block against upstream
`mamba_ssm.Mamba2`. Run on a GPU machine with mamba-ssm installed: `pytest -m gpu`."""
from __future__ import annotations

import pytest
import torch

from models.mamba2_block import Mamba2Block

pytestmark = pytest.mark.gpu


def _rel(a, b):
    return (torch.linalg.norm(a.float() - b.float()) / torch.linalg.norm(b.float())).item()


@pytest.mark.parametrize("backend", ["cuda_fused", "cuda_scan"])
def test_triton_backend_matches_reference(backend):
    torch.manual_seed(0)
    fast = Mamba2Block(256, ngroups=2, backend=backend).cuda()
    ref = Mamba2Block(256, ngroups=2, backend="reference").cuda()
    ref.load_state_dict(fast.state_dict())
    x = torch.randn(2, 600, 256, device="cuda", requires_grad=True)  # not a multiple of the 256 chunk
    x_ref = x.detach().clone().requires_grad_(True)
    y, y_ref = fast(x), ref(x_ref)
    assert fast.last_backend == backend and ref.last_backend == "reference"
    assert _rel(y, y_ref) < 1e-3
    g = torch.randn_like(y)
    y.backward(g)
    y_ref.backward(g)
    assert _rel(x.grad, x_ref.grad) < 1e-3
    for (name, p), p_ref in zip(fast.named_parameters(), ref.parameters()):
        assert _rel(p.grad, p_ref.grad) < 5e-3, name


def test_state_dict_moves_to_upstream_mamba2():
    upstream = pytest.importorskip("mamba_ssm").Mamba2
    torch.manual_seed(0)
    ours = Mamba2Block(256, backend="cuda_fused").cuda()
    theirs = upstream(d_model=256).cuda()
    theirs.load_state_dict(ours.state_dict())  # same names and shapes, strict
    x = torch.randn(2, 512, 256, device="cuda")
    with torch.no_grad():
        assert _rel(ours(x), theirs(x)) < 1e-4


def test_decode_kernels_match_the_reference_step():
    torch.manual_seed(0)
    block = Mamba2Block(256).cuda().eval()
    x = torch.randn(3, 40, 256, device="cuda")
    with torch.no_grad():
        _, state = block(x[:, :32], return_state=True)
        ref_state = tuple(s.clone() for s in state)
        for t in range(32, 40):
            out, state = block.step(x[:, t], state)
            ref, ref_state = block.step_reference(x[:, t], ref_state)
            assert block.last_step_backend == "selective_state_update"
            assert _rel(out, ref) < 1e-3
        assert _rel(state[1], ref_state[1]) < 1e-3


def test_auto_backend_on_cuda_is_a_triton_kernel():
    block = Mamba2Block(64).cuda()
    block(torch.randn(1, 16, 64, device="cuda"))
    assert block.last_backend in ("cuda_fused", "cuda_scan")


def test_mamba2_swarm_on_triton_matches_its_reference():
    from models.swarm import SwarmConfig, SwarmLM

    torch.manual_seed(0)
    cfg = dict(vocab_size=512, d_model=128, n_encoders=50, top_k=4, chunk_len=64, encoder_type="mamba2",
               pool_backend="loop", n_head=4)
    fast = SwarmLM(SwarmConfig(**cfg)).cuda().eval()
    ref = SwarmLM(SwarmConfig(**cfg, backend="reference")).cuda().eval()
    ref.load_state_dict(fast.state_dict())
    idx = torch.randint(0, 512, (2, 256), device="cuda")
    with torch.no_grad():
        logits, _ = fast(idx)
        expected, _ = ref(idx)
    assert "mamba2+cuda_fused" in fast.kernel_backend() and "mamba2+reference" in ref.kernel_backend()
    assert _rel(logits, expected) < 1e-3


@pytest.mark.parametrize("encoder_type", ["mamba", "mamba2"])
def test_stateful_swarm_on_cuda_matches_its_reference(encoder_type):
    """The forward's concatenated sequences through mamba-ssm's kernels against the reference scans;
    the prefill's position-by-position loop carries states through mamba-ssm's chunked SSD
    (initial_states) for Mamba-2 encoders and through the reference scan for Mamba-1."""
    from models.swarm import SwarmConfig, SwarmLM

    torch.manual_seed(0)
    cfg = dict(vocab_size=512, d_model=128, n_encoders=12, top_k=2, chunk_len=64, encoder_type=encoder_type,
               pool_backend="loop" if encoder_type == "mamba2" else "auto", n_head=4, stateful_encoders=True)
    fast = SwarmLM(SwarmConfig(**cfg)).cuda().eval()
    ref = SwarmLM(SwarmConfig(**cfg, backend="reference")).cuda().eval()
    ref.load_state_dict(fast.state_dict())
    idx = torch.randint(0, 512, (2, 256), device="cuda")
    with torch.no_grad():
        assert _rel(fast(idx)[0], ref(idx)[0]) < 1e-3
        assert fast.kernel_backend().startswith("encoders=stateful-concatenated")
        assert _rel(fast._encode(idx, encoder_table=True), ref._encode(idx)) < 1e-3
        assert fast.kernel_backend().startswith("encoders=stateful-loop")
