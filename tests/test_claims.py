"""The claims ledger: each verdict function yields every verdict it can on synthetic result
tables, missing data says `not measured`, and the report lists every claim."""
from __future__ import annotations

import pandas as pd
import pytest

from harness import claims
from harness import claims_catalog as catalog


def row(model, latency, ci=0.02, suite="encoders", mode="forward", seq_len=2048, status="ok", **extra) -> dict:
    return {"suite": suite, "model": model, "mode": mode, "seq_len": seq_len, "status": status,
            "latency_ms_p50": latency, "latency_ms_ci_lo": latency * (1 - ci), "latency_ms_ci_hi": latency * (1 + ci),
            "point_id": f"{model}-{latency}-{extra.get('model.n_encoders')}", "gpu_name": "GPU", "dtype": "bf16",
            "batch_size": 8, "params_active": 1e6, **extra}


def swarm(n, k, latency, **kw):
    return row("swarm", latency, **{"model.n_encoders": n, "model.top_k": k, "model.pool_backend": "auto"}, **kw)


def mamba(n, k, latency, **kw):
    return row("mamba", latency, matched_to=f"params_active of swarm N={n} k={k}", **kw)


@pytest.mark.parametrize("swarm_ms, ci, verdict", [(15.0, 0.02, "supported"), (25.0, 0.02, "refuted"),
                                                   (18.5, 0.10, "inconclusive")])
def test_swarm_1000_latency_verdicts(swarm_ms, ci, verdict):
    df = pd.DataFrame([swarm(1000, 10, swarm_ms, ci=ci), mamba(1000, 10, 10.0, ci=ci)])
    finding = catalog.swarm_1000_latency(df)
    assert finding.verdict == verdict and finding.measured["ratio"] == pytest.approx(swarm_ms / 10)
    assert finding.conditions["gpu"] == "GPU" and len(finding.points) == 2


def test_missing_or_failed_data_is_not_measured_never_a_guess():
    assert catalog.swarm_1000_latency(pd.DataFrame()).verdict == "not measured"
    failed = pd.DataFrame([swarm(1000, 10, 15.0, status="oom"), mamba(1000, 10, 10.0)])
    assert catalog.swarm_1000_latency(failed).verdict == "not measured"
    loop_only = pd.DataFrame([{**swarm(1000, 10, 15.0), "model.pool_backend": "loop"}, mamba(1000, 10, 10.0)])
    assert catalog.swarm_1000_latency(loop_only).verdict == "not measured"


@pytest.mark.parametrize("transformer_ms, verdict", [(100.0, "supported"), (12.0, "refuted"), (8.4, "refuted")])
def test_transformer_10x_verdicts(transformer_ms, verdict):
    df = pd.DataFrame([row("transformer", transformer_ms, suite="scaling"), row("mamba", 10.0, suite="scaling")])
    assert catalog.transformer_10x_slower(df).verdict == verdict


@pytest.mark.parametrize("memory, verdict", [(lambda n: 2.0 * n, "supported"), (lambda n: 1500 + 0.01 * n, "refuted")])
def test_memory_linear_in_encoders_uses_the_fitted_exponent(memory, verdict):
    df = pd.DataFrame([{**swarm(n, 10, 10.0), "peak_alloc_mb": memory(n)} for n in (10, 50, 100, 500, 1000)])
    finding = catalog.memory_linear_in_encoders(df)
    assert finding.verdict == verdict
    assert catalog.memory_linear_in_encoders(df.iloc[:2]).verdict == "not measured"


def test_long_context_verdicts():
    ok = pd.DataFrame([swarm(5, 2, 100.0, seq_len=131072, suite="scaling")])
    oom = pd.DataFrame([swarm(5, 2, 100.0, seq_len=131072, suite="scaling", status="oom")])
    short = pd.DataFrame([swarm(5, 2, 100.0, seq_len=4096, suite="scaling"), row("mamba", 5.0, seq_len=262144)])
    assert catalog.long_context(ok).verdict == "supported"
    assert catalog.long_context(oom).verdict == "refuted"
    finding = catalog.long_context(short)
    assert finding.verdict == "not measured" and "262,144" in finding.detail


def test_every_claim_evaluates_on_an_empty_table_and_the_report_lists_all():
    rows = claims.evaluate_all(pd.DataFrame(), catalog.CLAIMS)
    assert {r["verdict"] for r in rows} == {"not measured"}
    report = claims.report_markdown(rows, "results")
    assert all(r["text"] in report for r in rows) and "11 not measured" in report
    assert len({c.id for c in catalog.CLAIMS}) == len(catalog.CLAIMS)


def test_an_invalid_verdict_is_an_error():
    bad = claims.Claim("x", "t", "s", "c", "n", "r", lambda df: claims.Finding("probably", ""))
    with pytest.raises(ValueError, match="probably"):
        claims.evaluate_all(pd.DataFrame(), [bad])
