"""The CUDA-graph training step against its eager twin (harness.quality.train_step): from one seed
and on the same synthetic batches, both give the same losses, gradient norms and weights; a
graphed run cut short resumes; a routed model is never captured. Run on a GPU machine:
`pytest -m gpu`."""
from __future__ import annotations

import pytest
import torch

from harness.quality.synthetic_batches import TaskSampler
from harness.quality.synthetic_tasks import TASKS
from harness.quality.train import TrainConfig, train
from models import registry
from tests.test_quality import CutAfter

pytestmark = pytest.mark.gpu

DEVICE = torch.device("cuda")
TASK = TASKS["mqar"].configured({"pairs": 4, "keys": 63})
SIZES = {"mamba": {"d_model": 32, "n_layer": 2}, "transformer": {"d_model": 32, "n_layer": 2, "n_head": 2},
         "swarm": {"d_model": 32}}


def _model(name: str):
    torch.manual_seed(0)
    config = registry.resolve_config(name, "tiny", {"vocab_size": TASK.vocab_size, **SIZES[name]})
    with torch.device(DEVICE):
        return registry.build(name, config).float().train()


def _run(name: str, graphs: bool, steps: int = 12, **extra):
    model = _model(name)
    sampler = extra.pop("sampler", None) or TaskSampler(TASK, [64], 16, seed=0)
    cfg = TrainConfig(tokens=0, steps=steps, batch_size=16, context=64, lr=3e-3, eval_every=5, seed=0,
                      cuda_graphs=graphs, **extra)
    history = train(model, sampler, cfg, DEVICE, torch.bfloat16, lambda: {"accuracy": 0.0})
    return model, history


@pytest.mark.parametrize("name", ["mamba", "transformer"])
def test_a_graphed_run_trains_as_the_eager_one(name):
    eager_model, eager = _run(name, graphs=False)
    graphed_model, graphed = _run(name, graphs=True)
    assert graphed["cuda_graphs"] and not eager["cuda_graphs"]
    losses = [[loss for _, loss in h["train_curve"]] for h in (eager, graphed)]
    assert len(losses[1]) == 12 and losses[0] == pytest.approx(losses[1], rel=2e-3, abs=1e-4)
    for (key, a), b in zip(eager_model.state_dict().items(), graphed_model.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=2e-2, atol=2e-3, msg=key)


def test_a_cut_graphed_run_resumes_on_its_batch(tmp_path):
    resume = {"resume_path": str(tmp_path / "p.resume.pt"), "checkpoint_every_s": 0.0}
    _, uncut = _run("mamba", graphs=True)
    with pytest.raises(RuntimeError, match="killed"):
        _run("mamba", graphs=True, sampler=CutAfter(TaskSampler(TASK, [64], 16, seed=0), 8), **resume)
    _, resumed = _run("mamba", graphs=True, **resume)
    assert resumed["resumed_at_steps"] == [7] and resumed["cuda_graphs"]
    uncut_losses = [loss for _, loss in uncut["train_curve"]]
    assert [loss for _, loss in resumed["train_curve"]] == pytest.approx(uncut_losses, rel=2e-3, abs=1e-4)


def test_a_routed_model_trains_eagerly_when_graphs_are_asked_for():
    _, history = _run("swarm", graphs=True, steps=4)
    assert history["cuda_graphs"] is False and history["status"] == "ok"
