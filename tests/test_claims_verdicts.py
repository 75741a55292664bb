"""Verdicts that stand: processes pooled into between-process intervals, a timed verdict needs >= 3
processes and no noisy point, one ledger per GPU, and each new rule (claims_anchors, the symmetric
throughput pair) yields every verdict it can on synthetic tables."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from harness.analysis import claims, claims_pool
from harness.analysis import claims_anchors as anchors
from harness.analysis import claims_catalog as catalog


def point(model, latency, seq_len=2048, suite="scaling", mode="forward", repeat=None, noisy=False, gpu="GPU A",
          run="r1", **extra) -> dict:
    base = f"{suite}-{model}-{mode}-{seq_len}"
    return {"suite": suite, "model": model, "mode": mode, "seq_len": seq_len, "status": "ok", "batch_size": 4,
            "latency_ms_p50": latency, "latency_ms_ci_lo": latency * 0.99, "latency_ms_ci_hi": latency * 1.01,
            "latency_noisy": noisy, "point_id": f"{base}#{repeat or 0}", "base_point_id": base, "repeat": repeat,
            "gpu_name": gpu, "run_id": run, "dtype": "bf16", "params_active": 1e6, "created_at": "2026-12-01", **extra}


def processes(model, latencies, **kw) -> list[dict]:
    return [point(model, ms, repeat=r or None, **kw) for r, ms in enumerate(latencies)]


def test_pooling_gives_the_between_process_interval_of_the_geometric_mean():
    pooled = claims_pool.pool_processes(pd.DataFrame(processes("mamba", [10.0, 12.0, 11.0])))
    assert len(pooled) == 1
    row = pooled.iloc[0]
    assert row["processes"] == 3 and row["point_id"] == "scaling-mamba-forward-2048#0"
    assert row["process_point_ids"] == [f"scaling-mamba-forward-2048#{r}" for r in range(3)]
    assert row["latency_ms_p50"] == pytest.approx(math.exp(sum(map(math.log, [10, 12, 11])) / 3))
    assert row["latency_ms_ci_lo"] < 10.0 and row["latency_ms_ci_hi"] > 12.0  # wider than any one process's CI
    assert sorted(row["latency_process_ms"]) == [10.0, 11.0, 12.0]


def _ten_x(rows) -> dict:
    return next(r for r in claims.evaluate_all(pd.DataFrame(rows), catalog.CLAIMS) if r["id"] == "transformer_10x")


def test_a_timed_verdict_needs_three_processes_and_no_noisy_point():
    three = processes("transformer", [100.0, 101.0, 99.0]) + processes("mamba", [10.0, 10.1, 9.9])
    assert _ten_x(three)["verdict"] == "supported"
    one = processes("transformer", [100.0]) + processes("mamba", [10.0])
    finding = _ten_x(one)
    assert finding["verdict"] == "inconclusive" and "would be supported" in finding["detail"]
    assert "1 process(es)" in finding["detail"]
    noisy = processes("transformer", [100.0, 101.0, 99.0]) + processes("mamba", [10.0, 10.1, 9.9], noisy=True)
    assert "noisy" in _ten_x(noisy)["detail"] and _ten_x(noisy)["verdict"] == "inconclusive"


def test_the_ledger_is_evaluated_per_gpu_and_a_failed_point_joins_its_runs_gpu():
    rows = processes("transformer", [100.0] * 3) + processes("mamba", [10.0] * 3)
    rows += processes("transformer", [11.0] * 3, gpu="GPU B", run="r2") + processes("mamba", [10.0] * 3, gpu="GPU B",
                                                                                    run="r2")
    failed = {**point("transformer_eager", 1.0, gpu=None, run="r2"), "status": "oom", "latency_ms_p50": None}
    df = pd.DataFrame(rows + [failed])
    assert list(claims.device_of(df))[-1] == "GPU B"
    by_gpu = claims.evaluate_by_gpu(df, catalog.CLAIMS)
    assert set(by_gpu) == {"GPU A", "GPU B"}
    verdicts = {gpu: next(r["verdict"] for r in rows if r["id"] == "transformer_10x") for gpu, rows in by_gpu.items()}
    assert verdicts == {"GPU A": "supported", "GPU B": "refuted"}
    assert set(claims.evaluate_by_gpu(pd.DataFrame(), catalog.CLAIMS)) == {"no results"}


@pytest.mark.parametrize("transformer_ms, verdict", [
    ({512: 5, 1024: 8, 2048: 20, 4096: 50, 8192: 120}, "supported"),  # faster from 2K on
    ({512: 5, 1024: 8, 2048: 9, 4096: 10, 8192: 30}, "refuted"),  # only from 8K
    ({512: 5, 1024: 8, 2048: 9, 4096: 10, 8192: 11}, "refuted")])  # never
def test_scan_crossover(transformer_ms, verdict):
    mamba_ms = {512: 10, 1024: 10, 2048: 12, 4096: 20, 8192: 25}
    rows = [point("mamba", ms, seq_len=L) for L, ms in mamba_ms.items()]
    rows += [point("transformer", ms, seq_len=L) for L, ms in transformer_ms.items()]
    assert anchors.scan_crossover(pd.DataFrame(rows)).verdict == verdict


@pytest.mark.parametrize("mamba_mb, verdict", [(1080, "supported"), (770, "refuted"), (1200, "inconclusive")])
def test_mamba_training_memory_against_the_anchor(mamba_mb, verdict):
    rows = [point("mamba", 1.0, mode="train", peak_alloc_mb=mamba_mb), point("transformer", 1.0, mode="train",
                                                                             peak_alloc_mb=1000)]
    assert anchors.mamba_train_memory(pd.DataFrame(rows)).verdict == verdict


def _swarm(**kw):
    return point("swarm", 10.0, suite="encoders", **{"model.n_encoders": 1000, "model.top_k": 10, "model.d_model": 256},
                 **kw)


@pytest.mark.parametrize("per_sequence_mb, verdict", [(500, "supported"), (50, "refuted")])
def test_the_swarm_memory_formula_at_our_shape(per_sequence_mb, verdict):
    row = _swarm(static_alloc_mb=100, peak_alloc_mb=100 + 4 * per_sequence_mb)  # batch 4
    finding = anchors.swarm_memory_formula(pd.DataFrame([row]))
    assert finding.verdict == verdict and finding.measured["formula_mb"] == pytest.approx(500)


def test_the_swarm_memory_formula_prefers_the_claims_shape():
    ours = _swarm(static_alloc_mb=100, peak_alloc_mb=2100)  # 500 MB per sequence at 256d
    claims = point("swarm", 10.0, suite="scaling", batch_size=1, static_alloc_mb=100, peak_alloc_mb=400,
                   **{"model.n_encoders": 1000, "model.top_k": 10, "model.d_model": 768})
    finding = anchors.swarm_memory_formula(pd.DataFrame([ours, claims]))
    assert finding.measured["formula_mb"] == pytest.approx(1500) and finding.measured["measured_mb"] == pytest.approx(300)
    assert finding.verdict == "refuted" and "the claim's shape" in finding.detail


@pytest.mark.parametrize("eager_mb, eager_ms, verdict", [(1e6, 2000.0, "supported"), (5e3, 2000.0, "refuted"),
                                                         (1e6, 100.0, "refuted")])
def test_1000x_memory_and_100x_compute(eager_mb, eager_ms, verdict):
    rows = [point("swarm", 10.0, seq_len=8192, static_alloc_mb=100, peak_alloc_mb=1100, flops_per_token=1e8),
            point("transformer_eager", eager_ms, seq_len=8192, static_alloc_mb=100, peak_alloc_mb=100 + eager_mb,
                  flops_per_token=2e8)]
    assert anchors.less_memory_less_compute(pd.DataFrame(rows)).verdict == verdict


@pytest.mark.parametrize("power, verdict", [(1, "supported"), (2, "refuted")])
def test_swarm_memory_in_the_sequence_length_uses_the_backbone(power, verdict):
    rows = [point("swarm", 1.0, seq_len=L, static_alloc_mb=100, peak_alloc_mb=100 + 5e-3 * L ** power,
                  backbone_static_alloc_mb=100, backbone_peak_alloc_mb=100 + 1e-3 * L ** power,
                  **{"model.n_encoders": 5, "model.top_k": 2}) for L in (2048, 8192, 16384, 131072)]
    finding = anchors.swarm_linear_memory_in_L(pd.DataFrame(rows))
    assert finding.verdict == verdict and "backbone" in finding.detail


def test_a_memory_fit_in_L_never_mixes_configs():
    """A single-length point of another shape (suite=claims' 1000-encoder, 768d swarm) stays out
    of the sweep's fit and its label."""
    sweep = [point("swarm", 1.0, seq_len=L, static_alloc_mb=100, peak_alloc_mb=100 + 1e-3 * L,
                   **{"model.n_encoders": 5, "model.top_k": 2, "model.d_model": 768}) for L in (2048, 8192, 131072)]
    stray = point("swarm", 1.0, seq_len=2048, batch_size=1, static_alloc_mb=100, peak_alloc_mb=5000, point_id="stray",
                  **{"model.n_encoders": 1000, "model.top_k": 10, "model.d_model": 768})
    finding = anchors.swarm_linear_memory_in_L(pd.DataFrame(sweep + [stray]))
    assert finding.verdict == "supported" and "N=5 k=2" in finding.detail and stray["point_id"] not in finding.points


def test_claims_that_cannot_be_measured_say_why():
    for claim_id in ("long_context_models", "gpt4_120"):
        finding = catalog.CLAIMS_BY_ID[claim_id].evaluate(pd.DataFrame())
        assert finding.verdict == "not measured" and not finding.detail.startswith("no stored result")


def _full(n, seq_len=2048, activation_mb=None, latency=None, status="ok", **kw):
    """A dense hypothetical-swarm point at the claim's shape: each encoder adds 300 MB of scores."""
    act = 50 + 300 * n if activation_mb is None else activation_mb
    return point("transformer_swarm_full", latency or 2.0 * n, seq_len=seq_len, status=status, batch_size=1,
                 static_alloc_mb=100, peak_alloc_mb=100 + act, backbone_static_alloc_mb=100,
                 backbone_peak_alloc_mb=100 + act, point_id=f"full-{n}-{seq_len}", base_point_id=f"full-{n}-{seq_len}",
                 **{"model.n_encoders": n, "model.top_k": n, "model.d_model": 768, "model.n_head": 12}, **kw)


def _mamba_swarm_at_claim(activation_mb):
    return point("swarm", 10.0, batch_size=1, static_alloc_mb=100, peak_alloc_mb=100 + activation_mb,
                 backbone_static_alloc_mb=100, backbone_peak_alloc_mb=100 + activation_mb,
                 **{"model.n_encoders": 1000, "model.top_k": 10, "model.d_model": 768, "model.n_head": 12})


@pytest.mark.parametrize("mamba_mb, verdict", [(10.0, "supported"), (200.0, "refuted")])
def test_24000x_extrapolates_the_hypothetical_swarm_to_1000_encoders(mamba_mb, verdict):
    rows = [_full(n) for n in (4, 16, 64, 256)] + [{**_full(512), "status": "oom"}, _mamba_swarm_at_claim(mamba_mb)]
    finding = catalog.CLAIMS_BY_ID["memory_24000x"].evaluate(claims_pool.pool_processes(pd.DataFrame(rows)))
    assert finding.verdict == verdict and finding.measured["extrapolated"]
    assert finding.measured["transformer_swarm_mb"] == pytest.approx(50 + 300 * 1000)
    assert "extrapolated from N<=256" in finding.detail and "N=512 ran out of memory" in finding.detail


@pytest.mark.parametrize("power, verdict", [(2, "supported"), (1, "refuted")])
def test_the_hypothetical_swarm_is_judged_quadratic_in_length(power, verdict):
    rows = [_full(4, seq_len=L, activation_mb=1e-4 * L ** power) for L in (512, 1024, 2048, 4096, 8192)]
    finding = catalog.CLAIMS_BY_ID["transformer_swarm_quadratic"].evaluate(pd.DataFrame(rows))
    assert finding.verdict == verdict and "every encoder attending over the whole sequence" in finding.detail


@pytest.mark.parametrize("power, verdict", [(1.5, "supported"), (1.0, "refuted")])
def test_compute_in_n_reads_the_hypothetical_swarm(power, verdict):
    rows = [_full(n, latency=0.1 * n ** power) for n in (4, 16, 64, 256)]
    finding = catalog.CLAIMS_BY_ID["compute_superlinear_transformer_swarm"].evaluate(pd.DataFrame(rows))
    assert finding.verdict == verdict and "hypothetical" in finding.detail
