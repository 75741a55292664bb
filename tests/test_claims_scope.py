"""The complexity and scope claims (harness.analysis.claims_scope) yield each of their verdicts
on synthetic tables, below the launch-bound knee nothing is fitted, and the claims that cannot
be measured say why."""
from __future__ import annotations

import pandas as pd
import pytest

from harness.analysis import claims_scope as scope
from tests.test_claims import row


def _lengths(model: str, power: float, noise: float = 0.0, lengths=(4096, 8192, 16384, 32768)) -> list[dict]:
    return [row(model, 1e-3 * n ** power * (1 + noise * (-1) ** i), suite="scaling", seq_len=n,
                point_id=f"{model}-{n}") for i, n in enumerate(lengths)]


@pytest.mark.parametrize("power,noise,verdict", [(2.0, 0.0, "supported"), (1.0, 0.0, "refuted"),
                                                 (1.7, 0.6, "inconclusive")])
def test_transformer_time_exponent(power, noise, verdict):
    finding = scope.time_transformer_quadratic(pd.DataFrame(_lengths("transformer", power, noise)))
    assert finding.verdict == verdict and finding.measured["exponent"] == pytest.approx(power, abs=0.5)


@pytest.mark.parametrize("power,verdict", [(1.0, "supported"), (2.0, "refuted")])
def test_mamba_time_exponent(power, verdict):
    assert scope.time_mamba_linear(pd.DataFrame(_lengths("mamba", power))).verdict == verdict


def test_nothing_below_the_knee_is_fitted():
    rows = _lengths("mamba", 1.0, lengths=(512, 1024, 2048, 4096))
    assert scope.time_mamba_linear(pd.DataFrame(rows)).verdict == "not measured"


def _encoders(model: str, power: float) -> list[dict]:
    return [row(model, 5.0 * n ** power, **{"model.n_encoders": n, "model.top_k": 10, "model.pool_backend": "auto"})
            for n in (10, 100, 1000)]


@pytest.mark.parametrize("power,verdict", [(1.0, "supported"), (0.02, "refuted")])
def test_compute_in_encoders(power, verdict):
    assert scope.compute_linear_in_encoders(pd.DataFrame(_encoders("swarm", power))).verdict == verdict


@pytest.mark.parametrize("power,verdict", [(1.5, "supported"), (0.02, "refuted")])
def test_transformer_swarm_super_linear(power, verdict):
    finding = scope.compute_superlinear_transformer_swarm(pd.DataFrame(_encoders("transformer_swarm", power)))
    assert finding.verdict == verdict and "has not been measured" in finding.detail


def _memory(model: str, activation_mb: float, n: int = 8192) -> dict:
    return row(model, 1.0, suite="scaling", seq_len=n, peak_alloc_mb=100 + activation_mb, static_alloc_mb=100,
               point_id=f"{model}-{n}")


@pytest.mark.parametrize("eager_mb,verdict", [(2000.0, "supported"), (50.0, "refuted")])
def test_memory_1000x_at_8k(eager_mb, verdict):
    df = pd.DataFrame([_memory("transformer_eager", eager_mb), _memory("mamba", 2.0), _memory("transformer", 4.0)])
    finding = scope.memory_1000x_long(df)
    assert finding.verdict == verdict and finding.measured["ratio"] == pytest.approx(eager_mb / 2.0)
    assert "with SDPA (no score matrix) 2.0x" in finding.detail


def test_memory_claim_needs_8k():
    df = pd.DataFrame([_memory("transformer_eager", 100.0, n=4096), _memory("mamba", 1.0, n=4096)])
    assert scope.memory_1000x_long(df).verdict == "not measured"


def test_unmeasurable_claims_say_why():
    claim = next(c for c in scope.CLAIMS if c.id == "gpt4_120")
    finding = claim.evaluate(pd.DataFrame())
    assert finding.verdict == "not measured" and "not public" in finding.detail


def test_feature_claims_without_their_runs_name_the_runs_they_need():
    from harness.analysis import claims_features as features

    for claim in features.CLAIMS:
        finding = claim.evaluate(pd.DataFrame())
        assert finding.verdict == "not measured" and "suite.parts=[features]" in finding.detail
