"""Claims about the swarm's features (seeds/mes-design.txt, "Mamba-Specific Advantages",
"Dynamic Compute Allocation" and "Swarm Amplification Effect": ensemble benefits, error
correction), read from the features part of suite=quality: each variant trained at the same
budget as its baseline and paired with it per size and seed on held-out bits per byte
(conf/suite/quality.yaml, feature_models). Ensemble benefits reads the pair the other way round:
swarm-5 (k=2) is the variant, its one-encoder twin (k=1) the baseline.

A feature "helps" (supported) when its variant scores lower bpb than the baseline on every pair
and the 95% t-interval of the mean paired difference lies below zero: with three seeds, lower on
all three happens by chance one time in eight, and each run's bf16 training moves its bpb by up to
a few thousandths (results/reference/h200/logs/same-seed-reruns-2026-12-02), so the pairs must
also agree in size. Lower on none: refuted, with no interval asked: a feature that never lowers bpb
does not improve it, significant or not. Otherwise inconclusive. Dynamic k must also
not use more encoders per chunk on test text than the fixed k it is compared with; otherwise
a gain would be bought with compute, and the verdict says so.
"""
from __future__ import annotations

import pandas as pd

from harness.analysis.claims import Claim, Finding, conditions, not_measured
from harness.analysis.claims_quality import by_size_seed, quality_rows
from harness.analysis.claims_rows import SRC
from harness.measure.stats import mean_interval

STATEFUL, STATELESS = "swarm-5 stateful", "swarm-5"
DYNAMIC_K, FIXED_K = "swarm-5 top-p 0.6 k<=3", "swarm-5"
ATTENTION_FUSION, GATE_FUSION = "swarm-5 fusion=attention", "swarm-5"
ENSEMBLE, SINGLE_ENCODER = "swarm-5", "swarm-5 k=1"


def encoders_per_chunk(rows: pd.DataFrame) -> pd.Series:
    """Mean encoders per chunk on test text: recorded (test_k_mean), else top_k for fixed-k routing,
    which scoring without capacity drops gives every chunk exactly (records from before
    test_k_mean was recorded)."""
    recorded = rows["test_k_mean"] if "test_k_mean" in rows else pd.Series(float("nan"), index=rows.index)
    threshold = rows["model.routing_threshold"] if "model.routing_threshold" in rows else pd.Series(0.0, index=rows.index)
    top_k = rows["model.top_k"] if "model.top_k" in rows else pd.Series(float("nan"), index=rows.index)
    return recorded.fillna(top_k.where(threshold.fillna(0.0) == 0.0))


def _pairs(df: pd.DataFrame, variant: str, baseline: str) -> tuple[pd.DataFrame, str | None]:
    """Per (size, seed) both ran: the variant's and the baseline's bpb, k and point ids."""
    rows, refusal = quality_rows(df, one_rate=False)
    if refusal or rows.empty:
        return pd.DataFrame(), refusal
    rows = rows.assign(k_mean=encoders_per_chunk(rows))
    mine, base = by_size_seed(rows, variant, with_rate=True), by_size_seed(rows, baseline, with_rate=True)
    keys = mine.index.intersection(base.index)  # (size, seed, lr): the baseline at the variant's own rate
    return pd.DataFrame({"variant": mine.loc[keys, "test_bpb_mean"], "baseline": base.loc[keys, "test_bpb_mean"],
                         "variant_k": mine.loc[keys, "k_mean"], "baseline_k": base.loc[keys, "k_mean"],
                         "variant_id": mine.loc[keys, "point_id"], "baseline_id": base.loc[keys, "point_id"]}).sort_index(), None


def _helps(df: pd.DataFrame, variant: str, baseline: str, what: str) -> tuple[Finding, pd.DataFrame]:
    pairs, refusal = _pairs(df, variant, baseline)
    if refusal:
        return Finding("not measured", refusal), pairs
    if pairs.empty:
        return not_measured(f"suite=quality suite.parts=[features]: {variant!r} and {baseline!r} at the same size "
                            "and seed"), pairs
    better = pairs["variant"] < pairs["baseline"]
    mean, low, high = mean_interval(pairs["variant"] - pairs["baseline"])
    verdict = "supported" if better.all() and high < 0 else "refuted" if not better.any() else "inconclusive"
    interval = (f"mean paired difference {mean:+.4f} bpb, 95% interval [{low:+.4f}, {high:+.4f}]" if len(pairs) > 1
                else f"one pair ({mean:+.4f} bpb): no interval")
    per_pair = ", ".join(f"{'' if size == '-' else size + ' '}seed {seed}: {v:.3f} vs {b:.3f}"
                         for (size, seed, _), v, b in zip(pairs.index, pairs["variant"], pairs["baseline"]))
    rates = ", ".join(sorted({f"{lr:g}" for *_, lr in pairs.index}))
    detail = (f"{what}: bpb {pairs['variant'].mean():.3f} against {pairs['baseline'].mean():.3f} "
              f"({variant} vs {baseline}, both at lr {rates}; {per_pair}); "
              f"lower on {int(better.sum())} of {len(pairs)} pairs; {interval}")
    first = pairs.index[0]
    rows, _ = quality_rows(df, one_rate=False)
    where = conditions(rows[rows["point_id"] == pairs.loc[first, "variant_id"]].iloc[0],
                       rows[rows["point_id"] == pairs.loc[first, "baseline_id"]].iloc[0])
    measured = {"bpb_variant": pairs["variant"].mean(), "bpb_baseline": pairs["baseline"].mean(),
                "difference_mean": mean, **({"difference_low": low, "difference_high": high} if len(pairs) > 1 else {})}
    return Finding(verdict, detail, measured,
                   where, [*pairs["variant_id"], *pairs["baseline_id"]]), pairs


def stateful_routing(df: pd.DataFrame) -> Finding:
    finding, _ = _helps(df, STATEFUL, STATELESS, "encoders that resume their state across routing decisions")
    return finding


def error_correction(df: pd.DataFrame) -> Finding:
    finding, _ = _helps(df, ATTENTION_FUSION, GATE_FUSION, "attention fusion (each token re-weights its chunk's "
                                                           "encoder outputs) against the router's gates alone")
    return finding


def ensemble_benefits(df: pd.DataFrame) -> Finding:
    finding, _ = _helps(df, ENSEMBLE, SINGLE_ENCODER, "two encoders on each chunk, their outputs fused by the "
                                                      "router's gates (k=2), against one (k=1), the same encoders")
    return finding


def adaptive_depth(df: pd.DataFrame) -> Finding:
    finding, pairs = _helps(df, DYNAMIC_K, FIXED_K, "top-p routing (fewest encoders reaching 0.6 of the router's "
                                                    "mass, at most 3) against fixed k=2")
    if pairs.empty or pairs["variant_k"].isna().all():
        return finding
    k_variant, k_base = pairs["variant_k"].mean(), pairs["baseline_k"].mean()
    detail = f"{finding.detail}; encoders per chunk on test text {k_variant:.2f} against {k_base:.2f}"
    if finding.verdict == "supported" and k_variant > k_base:
        return Finding("inconclusive", f"{detail}: the gain comes with more encoders per chunk, so it is not "
                       "adaptivity alone", finding.measured, finding.conditions, finding.points)
    return Finding(finding.verdict, detail, {**finding.measured, "k_mean": k_variant}, finding.conditions, finding.points)


CLAIMS = [
    Claim("stateful_routing", "Stateful Routing: Encoders maintain context across routing decisions", f"{SRC}:71",
          "encoders that carry state from one routed chunk to the next, read as: it improves held-out bpb",
          "suite=quality suite.parts=[features]: swarm-5 with stateful_encoders=true against swarm-5",
          "lower bpb than the stateless swarm on every size and seed, the 95% interval of the mean paired "
          "difference below zero: supported; lower on none: refuted; else inconclusive",
          stateful_routing),
    Claim("adaptive_depth", "Adaptive Depth: Route complex tokens through more encoders", f"{SRC}:103",
          "dynamic k (top-p routing, Huang et al. 2024) against fixed k, read as: it improves held-out bpb "
          "without more encoders per chunk on average",
          "suite=quality suite.parts=[features]: swarm-5 with routing_threshold=0.6, top_k=3 against swarm-5",
          "lower bpb than fixed k=2 on every size and seed, the 95% interval of the mean paired difference "
          "below zero, at no larger mean k: supported; lower on none: refuted; else (or with a larger mean k) "
          "inconclusive", adaptive_depth),
    Claim("ensemble_benefits", "Ensemble Benefits: Multiple perspectives on same input", f"{SRC}:118",
          "k encoders reading each chunk (the swarm's k=2) against one encoder per chunk (k=1), same encoders, "
          "budget and rate, read as: the second perspective improves held-out bpb (it also doubles the encoders' "
          "compute per chunk)",
          "suite=quality suite.parts=[features]: swarm-5 with top_k=1 against swarm-5",
          "lower bpb at k=2 than at k=1 on every size and seed, the 95% interval of the mean paired difference "
          "below zero: supported; lower on none: refuted; else inconclusive",
          ensemble_benefits),
    Claim("error_correction", "Error Correction: Cross-encoder validation and refinement", f"{SRC}:120",
          "the aggregator's attention-based output fusion (seeds/mes-design.txt:205), where each token weighs "
          "the k encoder outputs of its chunk by attention (query from its input, the router's gates as the "
          "prior) before the decoder, against the router's gates alone, read as: it improves held-out bpb",
          "suite=quality suite.parts=[features]: swarm-5 with fusion=attention against swarm-5",
          "lower bpb than gate fusion on every size and seed, the 95% interval of the mean paired difference "
          "below zero: supported; lower on none: refuted; else inconclusive",
          error_correction),
]
