"""Training resumes on CUDA: a run cut short continues from its resume file with the fused AdamW
and the CUDA RNG. The H200 run of 2026-12-02 crashed here when the file was read onto the GPU
(the CPU RNG state must stay a CPU ByteTensor). Run on a GPU machine: `pytest -m gpu`."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from harness.quality.train import TokenSampler, TrainConfig, train
from models import registry
from tests.test_quality import CutAfter

pytestmark = pytest.mark.gpu


def test_a_cut_cuda_run_resumes_from_its_file(tmp_path):
    streams = {"a": np.arange(3000) % 13, "b": np.arange(3000) % 7}
    cfg = TrainConfig(tokens=16 * 2 * 8, batch_size=2, context=8, eval_every=5, seed=0,
                      resume_path=str(tmp_path / "p.resume.pt"), checkpoint_every_s=0.0)
    device = torch.device("cuda")

    def fresh():
        torch.manual_seed(0)
        model = registry.build("swarm", registry.resolve_config("swarm", "tiny", {"vocab_size": 64})).to(device)
        return model, TokenSampler(streams, 8, 2, seed=0)

    def evaluate():
        return {"loss": 0.0}

    model, sampler = fresh()
    with pytest.raises(RuntimeError, match="killed"):
        train(model, CutAfter(sampler, 8), cfg, device, torch.bfloat16, evaluate)
    model, sampler = fresh()
    resumed = train(model, sampler, cfg, device, torch.bfloat16, evaluate)
    assert resumed["resumed_at_steps"] == [7] and resumed["status"] == "ok"
    assert resumed["steps"] == cfg.planned_steps and not (tmp_path / "p.resume.pt.unusable").exists()
    assert all(p.device.type == "cuda" for p in model.parameters())
