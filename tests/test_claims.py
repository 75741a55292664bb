"""The claims ledger: each verdict function yields every verdict it can on synthetic result
tables, missing data says `not measured`, the catalog keeps the ledger's order, and the report
lists every claim and writes both files."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from harness.analysis import claims, claims_report
from harness.analysis import claims_anchors as anchors
from harness.analysis import claims_catalog as catalog
from harness.analysis import claims_features as features
from harness.analysis import claims_memory as memory
from harness.analysis import claims_quality as quality
from harness.analysis import claims_scope as scope
from harness.analysis import claims_speed as speed


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
    finding = speed.swarm_1000_latency(df)
    assert finding.verdict == verdict and finding.measured["ratio"] == pytest.approx(swarm_ms / 10)
    assert finding.conditions["gpu"] == "GPU" and len(finding.points) == 2


def test_missing_or_failed_data_is_not_measured_never_a_guess():
    assert speed.swarm_1000_latency(pd.DataFrame()).verdict == "not measured"
    failed = pd.DataFrame([swarm(1000, 10, 15.0, status="oom"), mamba(1000, 10, 10.0)])
    assert speed.swarm_1000_latency(failed).verdict == "not measured"
    loop_only = pd.DataFrame([{**swarm(1000, 10, 15.0), "model.pool_backend": "loop"}, mamba(1000, 10, 10.0)])
    assert speed.swarm_1000_latency(loop_only).verdict == "not measured"


@pytest.mark.parametrize("transformer_ms, verdict", [(100.0, "supported"), (12.0, "refuted"), (8.4, "refuted")])
def test_transformer_10x_verdicts(transformer_ms, verdict):
    df = pd.DataFrame([row("transformer", transformer_ms, suite="scaling"), row("mamba", 10.0, suite="scaling")])
    assert speed.transformer_10x_slower(df).verdict == verdict


@pytest.mark.parametrize("activation_mb, verdict", [(lambda n: 2.0 * n, "supported"), (lambda n: 300.0, "refuted"),
                                                   (lambda n: {10: 20, 50: 80, 100: 200, 500: 700, 1000: 2000}[n], "inconclusive")])
def test_memory_linear_in_encoders_fits_activations_affinely_in_n(activation_mb, verdict):
    """Weights grow 0.5 MB per encoder in every case; only activations proportional to N support
    "num_encoders x O(n)"."""
    df = pd.DataFrame([{**swarm(n, 10, 10.0), "static_alloc_mb": 100 + 0.5 * n,
                        "peak_alloc_mb": 100 + 0.5 * n + activation_mb(n)} for n in (10, 50, 100, 500, 1000)])
    finding = memory.memory_linear_in_encoders(df)
    assert finding.verdict == verdict, finding.detail
    assert finding.measured["weights_slope_mb"] == pytest.approx(0.5)
    assert memory.memory_linear_in_encoders(df.iloc[:2]).verdict == "not measured"


def test_long_context_verdicts():
    ok = pd.DataFrame([swarm(5, 2, 100.0, seq_len=131072, suite="scaling")])
    oom = pd.DataFrame([swarm(5, 2, 100.0, seq_len=131072, suite="scaling", status="oom")])
    short = pd.DataFrame([swarm(5, 2, 100.0, seq_len=4096, suite="scaling"), row("mamba", 5.0, seq_len=262144)])
    assert memory.long_context(ok).verdict == "supported"
    assert memory.long_context(oom).verdict == "refuted"
    finding = memory.long_context(short)
    assert finding.verdict == "not measured" and "262,144" in finding.detail


def test_every_claim_evaluates_on_an_empty_table_and_the_report_lists_all():
    rows = claims.evaluate_all(pd.DataFrame(), catalog.CLAIMS)
    assert {r["verdict"] for r in rows} == {"not measured"}
    report = claims_report.report_markdown({"GPU": rows}, "results")
    assert all(r["text"] in report for r in rows) and f"{len(catalog.CLAIMS)} not measured" in report
    assert len({c.id for c in catalog.CLAIMS}) == len(catalog.CLAIMS)


def test_the_catalog_keeps_the_ledger_order_of_the_reference_report():
    reference = json.loads((Path(__file__).parent.parent / "results" / "reference" / "claims.json").read_text())
    for gpu in {r["gpu"] for r in reference}:  # one ledger per GPU, each in the catalog's order
        assert [c.id for c in catalog.CLAIMS] == [r["id"] for r in reference if r["gpu"] == gpu]
    families = speed.CLAIMS + memory.CLAIMS + quality.CLAIMS + scope.CLAIMS + anchors.CLAIMS + features.CLAIMS
    assert {c.id for c in families} == set(catalog.CLAIMS_BY_ID)


def test_write_evaluates_the_store_and_names_the_command_in_the_report(tmp_path):
    lines = claims_report.write(str(tmp_path / "store"), str(tmp_path / "out"))
    assert len(lines) == len(catalog.CLAIMS) + 1 and lines[-1].startswith("wrote ")
    report = (tmp_path / "out" / "claims.md").read_text()
    assert f"`swarm-bench claims store={tmp_path / 'store'} out={tmp_path / 'out'}`" in report
    assert [r["id"] for r in json.loads((tmp_path / "out" / "claims.json").read_text())] == list(catalog.CLAIMS_BY_ID)


def test_an_invalid_verdict_is_an_error():
    bad = claims.Claim("x", "t", "s", "c", "n", "r", lambda df: claims.Finding("probably", ""))
    with pytest.raises(ValueError, match="probably"):
        claims.evaluate_all(pd.DataFrame(), [bad])


@pytest.mark.parametrize("lo, hi, verdict", [(0.9, 1.1, "supported"), (1.3, 1.5, "refuted"), (0.1, 0.7, "refuted"),
                                             (1.1, 1.3, "inconclusive")])
def test_exponent_verdict_is_an_equivalence_test(lo, hi, verdict):
    assert claims.exponent_verdict({"ci_lo": lo, "ci_hi": hi}, 1.0)[0] == verdict


@pytest.mark.parametrize("power, verdict", [(1, "supported"), (2, "refuted")])
def test_moe_linear_memory_fits_memory_above_the_weights(power, verdict):
    df = pd.DataFrame([row("mamba_moe", 1.0, suite="scaling", seq_len=L, peak_alloc_mb=900 + 1e-3 * L ** power,
                           static_alloc_mb=900) for L in (512, 2048, 8192, 32768)])
    assert memory.moe_linear_memory(df).verdict == verdict  # the 900 MB of weights do not flatten the fit
    assert memory.transformer_swarm_quadratic(df).verdict == "not measured"


def attention_rows(eager_extra_mb, state_mb=0.1, eager_status="ok"):
    base = dict(suite="scaling", seq_len=4096, batch_size=4, **{"model.n_head": 12})
    return pd.DataFrame([
        row("transformer", 1.0, peak_alloc_mb=1000, **base),
        row("transformer_eager", 1.0, peak_alloc_mb=1000 + eager_extra_mb, status=eager_status, **base),
        row("mamba", 1.0, suite="decode", seq_len=512, state_mb=state_mb, **{"batch_size": 1, "model.n_layer": 1})])


@pytest.mark.parametrize("eager_extra_mb, state_mb, verdict", [(48 * 64, 16 / 1024, "supported"),
                                                               (48 * 64, 110 / 1024, "refuted")])
def test_attention_memory_compares_score_bytes_per_head_with_state_bytes_per_layer(eager_extra_mb, state_mb, verdict):
    finding = catalog.CLAIMS_BY_ID["attention_memory_4K"].evaluate(attention_rows(eager_extra_mb, state_mb))
    assert finding.verdict == verdict and finding.measured["scores_mb_per_head"] == pytest.approx(64)
    oom = catalog.CLAIMS_BY_ID["attention_memory_4K"].evaluate(attention_rows(0, eager_status="oom"))
    assert oom.verdict == "inconclusive" and "ran out of memory" in oom.detail
    assert catalog.CLAIMS_BY_ID["attention_memory_1K"].evaluate(attention_rows(1.0)).verdict == "not measured"


@pytest.mark.parametrize("transformer_mb, verdict", [(3000.0, "refuted"), (1e8, "supported")])
def test_swarm_memory_24000x(transformer_mb, verdict):
    extra = {"model.n_encoders": 1000, "model.top_k": 10, "static_alloc_mb": 100}
    df = pd.DataFrame([swarm(1000, 10, 10.0, peak_alloc_mb=2000, static_alloc_mb=100),
                       row("transformer_swarm", 10.0, peak_alloc_mb=transformer_mb, **extra)])
    assert memory.swarm_memory_24000x(df).verdict == verdict


@pytest.mark.parametrize("ratio, ci, verdict", [(6.0, 0.02, "supported"), (4.5, 0.2, "inconclusive"),
                                               (3.0, 0.02, "refuted")])
def test_generation_throughput_uses_the_best_batch_of_each_model(ratio, ci, verdict):
    def gen(m, b, tps, **kw):
        return row(m, 1.0, suite="decode", seq_len=2048, sweep="max_batch", batch_size=b, generation_tokens_per_s=tps,
                   generation_tokens_per_s_ci_lo=tps * (1 - ci), generation_tokens_per_s_ci_hi=tps * (1 + ci),
                   cuda_graphs=False, **kw)
    rows = [gen(m, b, tps) for m, b, tps in [("transformer", 64, 900.0), ("transformer", 256, 1000.0),
                                             ("mamba", 64, 800.0), ("mamba", 1024, 1000.0 * ratio)]]
    rows.append(row("mamba", 1.0, suite="decode", seq_len=2048, sweep="max_batch", batch_size=2048, status="oom"))
    finding = speed.generation_throughput_5x(pd.DataFrame(rows))
    assert finding.verdict == verdict and finding.measured["pairs"]["eager"]["mamba_batch"] == 1024
    assert finding.measured["transformer_largest_batch"] == 256 and finding.measured["decided_by"] == "eager"


def test_generation_throughput_never_pairs_graphs_with_eager():
    """Graphs for Mamba only (the old asymmetric sweep): no pair exists; with both, graphs decide."""
    def gen(m, tps, graphs):
        return row(m, 1.0, suite="decode", seq_len=2048, sweep="max_batch", batch_size=64,
                   generation_tokens_per_s=tps, cuda_graphs=graphs)
    asymmetric = pd.DataFrame([gen("mamba", 5000.0, True), gen("transformer", 1000.0, False)])
    assert speed.generation_throughput_5x(asymmetric).verdict == "not measured"
    both = pd.DataFrame([gen("mamba", 5000.0, True), gen("transformer", 4000.0, True),
                         gen("mamba", 3000.0, False), gen("transformer", 500.0, False)])
    finding = speed.generation_throughput_5x(both)
    assert finding.measured["decided_by"] == "graphs" and finding.verdict == "refuted"
    assert finding.measured["pairs"]["eager"]["ratio"] == pytest.approx(6.0)


@pytest.mark.parametrize("moe_tps, verdict", [(lambda L: 2e6, "supported"), (lambda L: 2e6 if L > 1024 else 1.0,
                                                                             "inconclusive"), (lambda L: 1.0, "refuted")])
def test_moe_vs_transformer_needs_both_less_memory_and_more_tokens(moe_tps, verdict):
    rows = [row(m, 1.0, suite="scaling", seq_len=L, peak_alloc_mb=mem, tokens_per_s=tps(L))
            for L in (512, 2048, 8192) for m, mem, tps in [("mamba_moe", 500, moe_tps), ("transformer", 600, lambda L: 1e6)]]
    assert memory.moe_vs_transformer(pd.DataFrame(rows)).verdict == verdict


def quality_row(label, bpb, capacity="unlimited", corpus="c1", seed=0, lr=0.004):
    return row(label.split("-")[0], 1.0, suite="quality", label=label, test_bpb_mean=bpb, eval_capacity=capacity,
               corpus_id=corpus, tokenizer_sha256="t1", seed=seed, lr=lr)


def sweep_row(label, val_bpb, lr):
    return {**quality_row(label, None, lr=lr), "val_bpb_mean": val_bpb, "score_split": "val"}


def test_a_model_run_at_two_rates_counts_at_the_one_its_sweep_chose_and_features_pair_at_one_rate():
    runs = [quality_row("transformer", 1.60, seed=s) for s in (0, 1)]
    swarm_at = {0.004: 1.58, 0.008: 1.50}  # the swarm ran at both rates; its sweep chose 8e-3
    runs += [quality_row("swarm-5", bpb, seed=s, lr=lr) for lr, bpb in swarm_at.items() for s in (0, 1)]
    runs += [sweep_row("swarm-5", 2.0, 0.004), sweep_row("swarm-5", 1.9, 0.008)]
    runs += [quality_row(features.STATEFUL, 1.57, seed=s) for s in (0, 1)]  # a feature run at 4e-3
    finding = quality.quality_swarm_105(pd.DataFrame(runs))
    assert finding.measured["ratio"] == pytest.approx(1.60 / 1.50) and "lr 0.004 vs 0.008" in finding.detail
    sweep_chose_the_other = [r for r in runs if r.get("score_split") != "val"] + [sweep_row("swarm-5", 1.8, 0.004)]
    assert quality.quality_swarm_105(pd.DataFrame(sweep_chose_the_other)).measured["ratio"] == pytest.approx(1.60 / 1.58)
    stateful = features.stateful_routing(pd.DataFrame(runs))  # against swarm-5 at 4e-3, not the swept 8e-3
    assert stateful.verdict == "supported" and stateful.measured["bpb_baseline"] == pytest.approx(1.58)


@pytest.mark.parametrize("swarm_bpbs, verdict", [((1.5, 1.5), "supported"), ((2.5, 1.7), "refuted"),
                                                 ((1.6, 1.55), "inconclusive")])
def test_quality_swarm_105_compares_held_out_bits_per_byte_seed_by_seed(swarm_bpbs, verdict):
    df = pd.DataFrame([quality_row("swarm-5", bpb, seed=seed) for seed, bpb in enumerate(swarm_bpbs)]
                      + [quality_row("transformer", 1.6, seed=seed) for seed in range(2)]
                      + [quality_row("transformer", None, corpus=None) | {"mode": "synthetic"}])  # not a corpus run
    finding = quality.quality_swarm_105(df)
    assert finding.verdict == verdict and len(finding.measured["per_seed"]) == 2


def test_quality_verdicts_pair_size_by_size_and_report_the_total_matched_transformer():
    df = pd.DataFrame([quality_row("swarm-5", 1.5, seed=s) | {"size": size, "point_id": f"s{size}{s}"}
                       for s in range(2) for size in ("d128", "d256")]
                      + [quality_row("transformer", bpb, seed=s) | {"size": size, "point_id": f"t{size}{s}"}
                         for s in range(2) for size, bpb in (("d128", 1.6), ("d256", 1.65))]
                      + [quality_row("transformer-total", 1.4, seed=s) | {"size": "d128", "point_id": f"x{s}"}
                         for s in range(2)])
    finding = quality.quality_swarm_105(df)
    assert len(finding.measured["per_seed"]) == 4 and finding.verdict == "supported"  # 1.067 and 1.1, 4 pairs
    assert "at d128 = 1.067" in finding.detail and "at d256 = 1.100" in finding.detail
    assert "[seed 0: 1.067, seed 1: 1.067]" in finding.detail  # each ratio names its seed
    assert "Transformer-total" in finding.detail and finding.measured["ratio_total_matched"] == pytest.approx(1.4 / 1.5)
    assert "domain labels" in finding.detail


def test_the_total_matched_transformer_names_the_model_it_is_sized_to(monkeypatch):
    def run(label, bpb, seed, params):
        return quality_row(label, bpb, seed=seed) | {"size": "d128", "point_id": f"{label}{seed}", "params_total": params}

    df = pd.DataFrame([run("swarm-5", 1.5, s, 3.5e6) for s in range(2)] + [run("transformer", 1.6, s, 2.7e6)
                       for s in range(2)] + [run("transformer-total", 1.4, s, 7.41e6) for s in range(2)]
                      + [run("swarm-25", 1.7, 0, 8.17e6)])
    conf = [{"model": "swarm", "label": "swarm-5"}, {"model": "swarm", "label": "swarm-25"},
            {"model": "transformer", "label": "transformer-total", "match": "params_total", "target": "swarm-25"}]
    monkeypatch.setattr(quality, "shipped_suite_value", lambda suite, key: conf)
    # sized to its target (swarm-25), not to the model it is read against
    assert ("against the total-matched Transformer (sized to swarm-25's total parameters: 7.41M at d128 against "
            "swarm-25's 8.17M and the 5-encoder swarm's 3.50M): ") in quality.quality_swarm_105(df).detail
    unrecorded = df.assign(params_total=[3.5e6, 3.5e6, 2.7e6, 2.7e6, None, None, 8.17e6])  # older records
    assert ("(sized to swarm-25's total parameters: its total not recorded at d128 against swarm-25's 8.17M and the "
            "5-encoder swarm's 3.50M)") in quality.quality_swarm_105(unrecorded).detail
    assert "sized to swarm-25's total parameters: its total not recorded at d128):" in \
        quality.quality_swarm_105(df.drop(columns="params_total")).detail
    monkeypatch.setattr(quality, "shipped_suite_value", lambda suite, key: conf[:1] + [conf[2] | {"target": None}])
    assert "sized to swarm-5's total parameters: 7.41M at d128 against the 5-encoder swarm's 3.50M" in \
        quality.quality_swarm_105(df).detail  # no target: the first entry, as the suite sizes it
    monkeypatch.setattr(quality, "shipped_suite_value", lambda suite, key: [])
    assert "(sized to a total parameter count: 7.41M at d128 against the 5-encoder swarm's 3.50M)" in \
        quality.quality_swarm_105(df).detail


def test_quality_claims_refuse_capacity_limited_scores_and_mixed_corpora():
    limited = pd.DataFrame([quality_row("swarm-5", 1.5, capacity=None), quality_row("transformer", 1.6)])
    assert quality.quality_swarm_105(limited).verdict == "not measured"
    mixed = pd.DataFrame([quality_row("swarm-5", 1.5), quality_row("transformer", 1.6, corpus="c2")])
    finding = quality.quality_swarm_105(mixed)
    assert finding.verdict == "not measured" and "not mixed" in finding.detail


def test_quality_mamba_95_needs_quality_and_speed():
    df = pd.DataFrame([quality_row("mamba", 1.59), quality_row("transformer", 1.63),
                       row("transformer", 11.0, suite="scaling"), row("mamba", 10.9, suite="scaling")])
    finding = quality.quality_mamba_95(df)
    assert finding.verdict == "refuted" and finding.measured["bpb_ratio"] == pytest.approx(1.63 / 1.59)


def test_moe_mamba_steps_are_read_off_the_validation_curves_of_matched_runs():
    import json as _json

    assert quality.tokens_to_reach([[100, 3.0], [200, 2.0], [300, 1.5]], 1.75) == pytest.approx(250.0)
    assert quality.tokens_to_reach([[100, 3.0]], 2.0) is None

    def run(label, curve, active, seed):
        return quality_row(label, curve[-1][1], seed=seed) | {"val_bpb_curve": _json.dumps(curve),
                                                               "params_active": active, "point_id": f"{label}{seed}"}

    mamba = [[100, 3.0], [200, 2.0], [300, 1.6]]
    fast = [[100, 1.6], [200, 1.5], [300, 1.4]]  # reaches Mamba's final 1.6 at 100 of 300 tokens: 3x
    df = pd.DataFrame([run("mamba", mamba, 1000, s) for s in range(2)] + [run("mamba_moe", fast, 1050, s) for s in range(2)])
    finding = quality.moe_mamba_2_35x(df)
    assert finding.verdict == "supported" and finding.measured["per_seed"] == [3.0, 3.0]
    slow = pd.DataFrame([run("mamba", mamba, 1000, 0), run("mamba_moe", [[100, 3.0], [300, 1.7]], 1000, 0)])
    finding = quality.moe_mamba_2_35x(slow)
    assert finding.verdict == "refuted" and finding.measured["ratio"] is None  # never reaches it: 0x, no mean
    assert "never reached in any of 1 pairs" in finding.detail
    half = pd.DataFrame([run("mamba", mamba, 1000, s) for s in range(2)] + [run("mamba_moe", fast, 1050, 0),
                        run("mamba_moe", [[100, 3.0], [300, 1.7]], 1050, 1)])
    finding = quality.moe_mamba_2_35x(half)  # the mean is over the pairs that reached Mamba's bpb
    assert finding.measured["ratio"] == 3.0 and "3.00x over the 1 of 2 pairs that reached it" in finding.detail
    unmatched = pd.DataFrame([run("mamba", mamba, 1000, 0), run("mamba_moe", fast, 700, 0)])
    finding = quality.moe_mamba_2_35x(unmatched)
    assert finding.verdict == "not measured" and "void" in finding.detail


@pytest.mark.parametrize("claim, variant, baseline", [
    (features.stateful_routing, features.STATEFUL, features.STATELESS),
    (features.ensemble_benefits, features.ENSEMBLE, features.SINGLE_ENCODER)])  # k=2 against its k=1 twin
@pytest.mark.parametrize("variant_bpbs, verdict", [((1.6, 1.6), "supported"), ((1.8, 1.75), "refuted"),
                                                   ((1.6, 1.75), "inconclusive")])
def test_a_feature_claim_pairs_its_variant_with_its_baseline_per_seed(claim, variant, baseline, variant_bpbs, verdict):
    def run(label, bpb, seed):
        return quality_row(label, bpb, seed=seed) | {"size": "d256", "point_id": f"{label}{seed}"}

    df = pd.DataFrame([run(variant, bpb, s) for s, bpb in enumerate(variant_bpbs)]
                      + [run(baseline, 1.7, s) for s in range(2)])
    finding = claim(df)
    assert finding.verdict == verdict and "d256 seed 0" in finding.detail
    assert f"({variant} vs {baseline}, both at lr" in finding.detail
    assert claim(df[df["label"] == baseline]).verdict == "not measured"


def test_a_feature_lower_on_every_seed_is_supported_only_where_the_pairs_agree_in_size():
    def pairs(differences):
        return pd.DataFrame([quality_row(features.STATEFUL, 1.7 + d, seed=s) | {"point_id": f"v{s}"}
                             for s, d in enumerate(differences)]
                            + [quality_row(features.STATELESS, 1.7, seed=s) | {"point_id": f"b{s}"}
                               for s in range(len(differences))])

    steady = features.stateful_routing(pairs([-0.0034, -0.0019, -0.0033]))  # the H200 stateful pairs' sizes
    assert steady.verdict == "supported"
    assert "mean paired difference -0.0029 bpb, 95% interval [-0.0049, -0.0008]" in steady.detail
    scattered = features.stateful_routing(pairs([-0.001, -0.02, -0.0005]))  # lower on 3 of 3, one by luck of size
    assert scattered.verdict == "inconclusive" and "lower on 3 of 3 pairs" in scattered.detail
    single = features.stateful_routing(pairs([-0.01]))
    assert single.verdict == "inconclusive" and "one pair (-0.0100 bpb): no interval" in single.detail


def test_adaptive_depth_needs_better_bits_per_byte_without_more_encoders():
    def run(label, bpb, k, seed):
        return quality_row(label, bpb, seed=seed) | {"point_id": f"{label}{seed}", "test_k_mean": k}

    cheaper = pd.DataFrame([run(features.DYNAMIC_K, 1.6, 1.8, s) for s in range(2)]
                           + [run(features.FIXED_K, 1.7, 2.0, s) for s in range(2)])
    finding = features.adaptive_depth(cheaper)
    assert finding.verdict == "supported" and finding.measured["k_mean"] == pytest.approx(1.8)
    costlier = cheaper.assign(test_k_mean=[2.6, 2.6, 2.0, 2.0])
    finding = features.adaptive_depth(costlier)
    assert finding.verdict == "inconclusive" and "more encoders per chunk" in finding.detail
    # records from before test_k_mean: a fixed-k swarm scored without capacity drops uses exactly top_k
    older = cheaper.assign(test_k_mean=[1.8, 1.8, None, None], **{"model.top_k": [3, 3, 2, 2],
                                                                  "model.routing_threshold": [0.6, 0.6, None, None]})
    assert "1.80 against 2.00" in features.adaptive_depth(older).detail


@pytest.mark.parametrize("attention_bpbs, verdict", [((1.6, 1.6), "supported"), ((1.8, 1.75), "refuted"),
                                                     ((1.6, 1.75), "inconclusive")])
def test_error_correction_pairs_attention_fusion_with_the_gate(attention_bpbs, verdict):
    df = pd.DataFrame([quality_row(features.ATTENTION_FUSION, bpb, seed=s) | {"point_id": f"a{s}"}
                       for s, bpb in enumerate(attention_bpbs)]
                      + [quality_row(features.GATE_FUSION, 1.7, seed=s) | {"point_id": f"g{s}"} for s in range(2)])
    finding = features.error_correction(df)
    assert finding.verdict == verdict and "seed 1" in finding.detail
