"""The swarm's and Mamba-MoE's grouped CUDA dispatch against their per-encoder loops.
Run on a GPU machine with mamba-ssm installed: `pytest -m gpu`."""
from __future__ import annotations

import pytest
import torch

from models import kernels
from models.grouped import group_offsets, grouped_linear
from models.mamba_moe import MambaMoE, MambaMoEConfig
from models.swarm import SwarmConfig, SwarmLM

pytestmark = pytest.mark.gpu


def rel_err(a, b):
    return (torch.linalg.norm(a.float() - b.float()) / torch.linalg.norm(b.float())).item()


def test_grouped_mm_matches_loop_with_empty_groups_and_gradients():
    torch.manual_seed(0)
    weight = torch.randn(300, 96, 64, device="cuda", dtype=torch.bfloat16, requires_grad=True)
    experts = torch.randint(0, 300, (40,), device="cuda").sort().values.repeat_interleave(16)
    x = torch.randn(len(experts), 64, device="cuda", dtype=torch.bfloat16, requires_grad=True)
    offsets = group_offsets(experts, 300)
    fast = grouped_linear(x, weight, offsets, "grouped_mm")
    grads_fast = torch.autograd.grad(fast.float().square().sum(), (x, weight))
    ref = grouped_linear(x, weight, offsets, "loop")
    grads_ref = torch.autograd.grad(ref.float().square().sum(), (x, weight))
    assert rel_err(fast, ref) < 1e-2
    for g, g_ref in zip(grads_fast, grads_ref):
        assert rel_err(g, g_ref) < 2e-2


@pytest.mark.parametrize("encoder_type,share_rank", [("mamba", 0), ("mamba", 16), ("transformer", 0)])
def test_grouped_swarm_matches_loop_on_cuda(encoder_type, share_rank):
    torch.manual_seed(0)
    cfg = SwarmConfig(vocab_size=512, d_model=128, n_encoders=300, top_k=4, chunk_len=64, encoder_type=encoder_type,
                      share_rank=share_rank, domains=["a", "b", "c"], generalists=30)
    model = SwarmLM(cfg).cuda().train()
    idx = torch.randint(0, 512, (8, 1000), device="cuda")  # 16 chunks (the last partial) x 8 rows x k=4
    outputs = {}
    for pool in ("loop", "grouped"):
        model.encoders.pool_backend = pool
        model.zero_grad()
        torch.manual_seed(1)  # same router noise
        with torch.autocast("cuda", dtype=torch.bfloat16):
            logits, loss = model(idx, idx)
        loss.backward()
        encoder_norm = model.encoders.layers[0].norm1_weight if encoder_type == "transformer" \
            else model.encoders.layers[0].norm_weight
        outputs[pool] = (logits.detach(), model.router.proj.weight.grad.clone(), encoder_norm.grad.clone(),
                         model.encoders.last_dispatch["pool"])
    assert outputs["grouped"][3].startswith(("grouped+grouped_mm+cuda_scan", "transformer+grouped_mm"))
    fused = "cuda_fused" if kernels.causal_conv1d_fn() is not None else "cuda_scan"  # auto without causal-conv1d
    assert outputs["loop"][3] in (f"loop+{fused}", "transformer+loop+sdpa")
    assert rel_err(outputs["grouped"][0], outputs["loop"][0]) < 2e-2
    for i in (1, 2):
        assert rel_err(outputs["grouped"][i], outputs["loop"][i]) < 5e-2


def test_scan_splits_beyond_the_kernel_grid_limit():
    """d_inner 512 and 300 dispatched chunks: 153,600 scan channels, more than one launch."""
    torch.manual_seed(0)
    cfg = SwarmConfig(vocab_size=512, d_model=256, n_encoders=100, top_k=10, chunk_len=128, encoder_layers=1,
                      decoder_layers=1, capacity_factor=0)
    model = SwarmLM(cfg).cuda().to(torch.bfloat16).eval()
    idx = torch.randint(0, 512, (4, 128 * 8), device="cuda")
    with torch.no_grad():
        model.encoders.pool_backend = "loop"
        ref, _ = model(idx)
        model.encoders.pool_backend = "grouped"
        fast, _ = model(idx)
    assert model.encoders.last_dispatch["chunks"] * 512 > 65535
    assert rel_err(fast, ref) < 2e-2


def test_mamba_moe_grouped_experts_match_loop_on_cuda():
    torch.manual_seed(0)
    model = MambaMoE(MambaMoEConfig(vocab_size=512, d_model=128, n_layer=2, n_experts=8)).cuda()
    idx = torch.randint(0, 512, (4, 512), device="cuda")
    out = {}
    for backend in ("loop", "grouped_mm"):
        model.cfg.expert_backend = backend
        with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
            out[backend] = model(idx)[0]
    assert rel_err(out["grouped_mm"], out["loop"]) < 2e-2
