"""The catalog of the claims ledger: every quantitative claim of the Mamba Encoder Swarm design
document (mes-design.txt), of the Mamba-MoE write-up (mamba-r1-moe.txt) and of the design brief's
table of claims under test, one `Claim` (harness.analysis.claims) each. Quoted text is verbatim;
"~" in a claim is read as +-25%. `python run.py suite=claims` measures what they need
(conf/suite/claims.yaml); harness.analysis.claims_report writes the ledger.

The claims live by family: `claims_speed` (latency and throughput), `claims_memory` (memory
scaling and footprint, long contexts), `claims_quality` (held-out bits per byte) and
`claims_scope` (time complexity, compute in N, and the claims that cannot be measured),
`claims_anchors` (the remaining memory and compute claims and the brief's published anchors),
`claims_features` (the swarm's features against their baselines);
`claims_rows` holds the row selection they share. `CLAIMS` is the one ordered list, in the
ledger's order (LEDGER_ORDER). Claims whose measurements do not exist yet say `not measured`
and name the suite that will measure them.
"""
from __future__ import annotations

from harness.analysis import claims_anchors, claims_features, claims_memory, claims_quality, claims_scope, claims_speed
from harness.analysis.claims import Claim

LEDGER_ORDER = (
    "swarm_1000_latency", "swarm_5_latency", "transformer_10x", "sparse_switching",
    "memory_linear_in_encoders", "long_context", "memory_24000x", "transformer_swarm_quadratic",
    "moe_linear_memory", "transformer_quadratic_eager", "transformer_quadratic_fused", "moe_vs_transformer",
    "generation_throughput_5x", "quality_swarm_105", "quality_mamba_95",
    "attention_memory_1K", "attention_memory_4K", "attention_memory_16K",
    "time_transformer_quadratic", "time_mamba_linear", "compute_linear_in_encoders",
    "compute_superlinear_transformer_swarm", "memory_1000x_long", "stateful_routing", "gpt4_120",
    "swarm_linear_memory_in_L", "swarm_memory_1_5gb", "memory_1000x_compute_100x", "long_context_models",
    "scan_crossover_2k", "mamba_train_memory_4_12", "moe_mamba_2_35x", "adaptive_depth",
    "error_correction", "ensemble_benefits",
)


def _in_ledger_order(*families: list[Claim]) -> list[Claim]:
    by_id = {claim.id: claim for family in families for claim in family}
    if len(by_id) != sum(map(len, families)) or set(by_id) != set(LEDGER_ORDER):
        raise RuntimeError(f"claims catalog: ids {sorted(by_id)} do not match LEDGER_ORDER one to one")
    return [by_id[claim_id] for claim_id in LEDGER_ORDER]


CLAIMS: list[Claim] = _in_ledger_order(claims_speed.CLAIMS, claims_memory.CLAIMS, claims_quality.CLAIMS,
                                       claims_scope.CLAIMS, claims_anchors.CLAIMS, claims_features.CLAIMS)
CLAIMS_BY_ID = {claim.id: claim for claim in CLAIMS}
