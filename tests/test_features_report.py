"""The features table (harness.analysis.features_report): variants paired with their baselines per
seed, and forward latency joined from suite=scaling records of exactly the trained config."""
from __future__ import annotations

from harness.analysis import features_report
from harness.quality import corpus_build
from suites import scaling
from suites.common import RunContext, measurement_point
from suites.quality import build_points
from tests.test_corpus import sources  # noqa: F401  (the fixture corpus)
from tests.test_quality import CPU, params

ATTENTION = {"model": "swarm", "label": "swarm fusion=attention", "baseline": "swarm",
             "overrides": {"n_encoders": 4, "top_k": 1, "fusion": "attention"}}


def _scored(point_config: dict, bpb: float) -> dict:
    return {"status": "ok", "config": point_config, "model_info": {"params_total": 1000},
            "quality": {"test": {"prose": {"bpb": bpb}}, "test_bpb_mean": bpb, "eval_capacity": "unlimited",
                        "routing": {}}}


def _timed(config: dict, point_config: dict, median_ms: float, batch_size: int | None = None) -> dict:
    params = scaling.ScalingParams(name="scaling", modes=["forward"], batch_size=batch_size or point_config["batch_size"],
                                   warmup=1, iters=2, max_time_s=1.0, energy_min_s=0.0, timeout_s=60.0)
    point = measurement_point(params, CPU, "swarm", config, "forward", point_config["seq_len"], None, "t")
    return {"status": "ok", "config": point.config, "latency_ms": {"median": median_ms},
            "model_info": {"extra": {"routing": {"k_mean": 1.0}}}}


def test_variants_pair_with_their_baseline_and_take_the_latency_of_their_exact_config(sources):  # noqa: F811
    corpus_build.build(sources)
    points, _ = build_points(params(sources.out, seeds=[0, 1], parts=["corpus", "features"],
                                    feature_models=[ATTENTION]), CPU)
    by = {(p.config["label"], p.config["seed"]): p.config for p in points}
    records = [_scored(by[("swarm", 0)], 2.0), _scored(by[("swarm", 1)], 2.2),
               _scored(by[("swarm fusion=attention", 0)], 1.8), _scored(by[("swarm fusion=attention", 1)], 2.3),
               _scored(by[("mamba", 0)], 1.0)]
    # what suite=scaling model=swarm model.fusion=attention ... builds: the same resolved config
    variant = by[("swarm fusion=attention", 0)]
    choice = {"name": "swarm", "overrides": {**ATTENTION["overrides"], "domains": variant["model_config"]["domains"]}}
    ctx = RunContext(device="cpu", dtype="fp32", seed=0, vocab_size=variant["model_config"]["vocab_size"],
                     model_choice=choice)
    timed_config = scaling.model_configs(["swarm"], "tiny", "none", ctx, capacity_factor=0.0)["swarm"]
    timings = [_timed(timed_config, variant, 5.0), _timed(timed_config, variant, 7.0),
               _timed(timed_config, variant, 99.0, batch_size=variant["batch_size"] + 1)]  # another batch: not joined
    (row,) = features_report.table(records, [ATTENTION], timings).to_dict("records")
    assert (row["variant"], row["baseline"], row["seeds"], row["lower on"]) == ("swarm fusion=attention", "swarm", 2, "1 of 2")
    assert row["Δ bpb"] == "-0.0500 ± 0.1500"
    assert row["Δ 95% interval"] == "[-1.9559, +1.8559]"  # two pairs: t(0.975, 1) = 12.71 times the standard error
    assert row["forward ms variant"] == "6.00 [5.00, 7.00] (2) at 1.00 encoders/chunk" and row["forward ms baseline"] == "-"


def test_no_pair_no_row():
    assert features_report.table([], [ATTENTION]).empty
