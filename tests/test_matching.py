"""Matching baselines to a target's size (models.matching.match_to), like against like: active
parameters to active, total to total, for every routed model as candidate and as target; and
the suites that match (quality, encoders) size Mamba-MoE by its active count, not its total."""
from __future__ import annotations

import pytest

from models import matching, registry
from models.errors import ModelConfigError
from suites.common import RunContext
from suites.quality import build_points
from tests.test_synthetic import params as quality_params

ROUTED = ["swarm", "mamba2_swarm", "transformer_swarm", "mamba_moe"]


@pytest.fixture(autouse=True)
def _own_count_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
KINDS = ["params_active", "params_total"]


def _count(name: str, config: dict, kind: str) -> int:
    return matching.count_params(name, config, active=kind == "params_active")


def _best_by_depth(name: str, config: dict, goal: int, kind: str) -> int:
    """The n_layer whose count is closest to `goal`, by trying every depth."""
    return min(range(1, 33), key=lambda n: abs(_count(name, {**config, "n_layer": n}, kind) - goal))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("target", ROUTED)
def test_a_routed_mamba_moe_is_sized_by_the_same_count_as_its_target(target, kind):
    target_config = registry.resolve_config(target, "small")
    candidate = registry.resolve_config("mamba_moe", "small")
    sized = matching.match_to("mamba_moe", candidate, target, target_config, kind=kind)
    goal = _count(target, target_config, kind)
    assert sized["n_layer"] == _best_by_depth("mamba_moe", candidate, goal, kind)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("candidate", ["swarm", "transformer_swarm"])
def test_routed_swarms_are_sized_by_width_to_the_same_count(candidate, kind):
    target_config = registry.resolve_config("mamba_moe", "small")
    config = registry.resolve_config(candidate, "small")
    sized = matching.match_to(candidate, config, "mamba_moe", target_config, kind=kind, by="width")
    goal = _count("mamba_moe", target_config, kind)
    got = _count(candidate, sized, kind)
    for other in (sized["d_model"] - 64, sized["d_model"] + 64):  # no neighbouring width is closer
        if other >= 64:
            neighbour = {**sized, "d_model": other, "n_head": max(1, other // 64)}
            assert abs(got - goal) <= abs(_count(candidate, neighbour, kind) - goal)


def test_active_matching_of_mamba_moe_is_not_its_total_matching():
    """The bug this guards: a params_active goal met with the candidate's total count left
    Mamba-MoE at 1 layer (5.18M active of 8.96M total against the swarm's active count)."""
    target = registry.resolve_config("swarm", "small", {"n_encoders": 5, "top_k": 2})
    candidate = registry.resolve_config("mamba_moe", "small")
    by_active = matching.match_to("mamba_moe", candidate, "swarm", target, kind="params_active")
    goal = _count("swarm", target, "params_active")
    assert abs(_count("mamba_moe", by_active, "params_active") - goal) < 0.2 * goal
    assert by_active["n_layer"] > 1


def test_an_unknown_kind_is_refused():
    config = registry.resolve_config("mamba", "tiny")
    with pytest.raises(ModelConfigError, match="valid: params_active, params_total"):
        matching.match_to("mamba", config, "mamba", config, kind="params")


def test_the_quality_suite_sizes_mamba_moe_by_active_parameters():
    cpu = RunContext(device="cpu", dtype="fp32", seed=0, vocab_size=16384, model_choice=None)
    models = [{"model": "swarm", "label": "swarm-5", "overrides": {"n_encoders": 5, "top_k": 2}},
              {"model": "mamba_moe", "match": "params_active"}]
    points, _ = build_points(quality_params(models=models, preset="small"), cpu)
    configs = {p.config["label"]: p.config["model_config"] for p in points}
    goal = _count("swarm", configs["swarm-5"], "params_active")
    moe = configs["mamba_moe"]
    assert moe["n_layer"] == _best_by_depth("mamba_moe", moe, goal, "params_active")
