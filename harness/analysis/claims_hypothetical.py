"""The design document's hypothetical Transformer swarm, measured: model `transformer_swarm_full`
(models.swarm.full_attention_pool: every encoder attends over the whole causal prefix, eager
attention), dense (top_k = n_encoders, as "num_encoders x" assumes), at the claim's shape
(mes-design.txt:49-58: 2K sequence, 768d, 12 heads) for growing N until it runs out of memory,
and next to it the Mamba swarm with N=1000 (k=10): at the same shape where measured, else the
narrower one of suite=encoders, whose smaller activations make the ratio an upper bound.

Where N=1000 cannot run, the activation memory is extrapolated to it with an affine fit in N
(each encoder adds its own H x L^2 scores; the intercept is the decoder's) and labelled so. The
chunk-local `transformer_swarm` stays what a sensible design does; the verdicts that name the
hypothetical read this variant when it is stored, else say the chunk-local result is all there is.
"""
from __future__ import annotations

import pandas as pd

from harness.analysis.claims import Finding, conditions
from harness.analysis.claims_rows import backbone_activation_mb, exponent_finding, ok_rows, swarm_rows
from harness.measure.stats import fit_affine

FULL = "transformer_swarm_full"
SHAPE = {"seq_len": 2048, "model.d_model": 768, "model.n_head": 12}  # the claim's, N aside
CLAIM_N = 1000


def _at_shape(rows: pd.DataFrame) -> pd.DataFrame:
    for column, value in SHAPE.items():
        if rows.empty or column not in rows:
            return rows.iloc[0:0]
        rows = rows[rows[column] == value]
    return rows


def dense_full_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Forward points of the dense hypothetical swarm at the claim's shape, by N."""
    rows = _at_shape(ok_rows(df, suite="scaling", model=FULL, mode="forward"))
    if rows.empty or "model.top_k" not in rows:
        return rows.iloc[0:0]
    return rows[rows["model.top_k"] == rows["model.n_encoders"]].sort_values("model.n_encoders")


def first_failed_n(df: pd.DataFrame) -> int | None:
    """The smallest N of the dense hypothetical swarm at the claim's shape that did not run."""
    if "model" not in df or "status" not in df:
        return None
    rows = _at_shape(df[(df["model"] == FULL) & (df["status"] != "ok")])
    return int(rows["model.n_encoders"].min()) if not rows.empty else None


def memory_at_claim(df: pd.DataFrame) -> dict | None:
    """Activation memory of the dense hypothetical swarm at N=1000: measured, or extrapolated from
    an affine fit over the N that ran (>= 2 of them); None without data."""
    rows = dense_full_rows(df)
    if rows.empty or rows["model.n_encoders"].nunique() < 2:
        return None
    memory, which = backbone_activation_mb(rows)
    per_sequence = memory / rows["batch_size"]
    measured = rows[rows["model.n_encoders"] == CLAIM_N]
    fit = fit_affine(rows["model.n_encoders"].astype(float), per_sequence)
    return {"mb": float(per_sequence[measured.index[0]]) if not measured.empty else fit["intercept"] + fit["slope"] * CLAIM_N,
            "extrapolated": measured.empty, "slope_mb": fit["slope"], "largest_n": int(rows["model.n_encoders"].max()),
            "first_failed_n": first_failed_n(df), "which": which, "rows": rows}


def mamba_swarm_at_claim(df: pd.DataFrame) -> tuple[pd.Series | None, bool]:
    """The Mamba swarm with 1000 encoders (k=10) at L=2048: at the claim's width where measured
    (True), else suite=encoders' narrower one (False: its activations are smaller than a 768d
    swarm's, so a ratio against it is an upper bound)."""
    rows = ok_rows(df, suite="scaling", model="swarm", mode="forward", seq_len=SHAPE["seq_len"])
    if not rows.empty and {"model.n_encoders", "model.d_model"} <= set(rows):
        rows = rows[(rows["model.n_encoders"] == CLAIM_N) & (rows["model.d_model"] == SHAPE["model.d_model"])]
        if not rows.empty:
            return rows.iloc[0], True
    narrow = swarm_rows(df, CLAIM_N, 10)
    return (None, False) if narrow.empty else (narrow.iloc[0], False)


def memory_24000x(df: pd.DataFrame) -> Finding | None:
    """Hypothetical Transformer swarm / Mamba swarm activation memory per sequence at 1000 encoders,
    2K, 768d (12 heads); None when either side is missing."""
    full, (mamba, same_width) = memory_at_claim(df), mamba_swarm_at_claim(df)
    if full is None or mamba is None:
        return None
    mamba_mb = float(backbone_activation_mb(mamba.to_frame().T)[0].iloc[0]) / mamba["batch_size"]
    ratio = full["mb"] / mamba_mb
    width = "" if same_width else (f" at d_model {int(mamba['model.d_model'])} (the 768d swarm was not measured; a wider "
                                   "one holds more, so the ratio is an upper bound)")
    verdict = "supported" if ratio >= 24000 / 1.25 and same_width else \
        ("refuted" if ratio < 24000 / 1.25 else "inconclusive")
    how = (f"extrapolated from N<={full['largest_n']} (affine in N, {full['slope_mb']:,.0f} MB per encoder"
           + (f"; N={full['first_failed_n']} ran out of memory" if full["first_failed_n"] else "") + ")") \
        if full["extrapolated"] else "measured"
    return Finding(verdict,
                   f"activation memory per sequence at 1000 encoders, L=2,048, 768d, 12 heads: hypothetical Transformer "
                   f"swarm (every encoder attends over the whole sequence, eager) {full['mb'] / 1024:,.1f} GB, {how}; "
                   f"Mamba swarm (k=10) {mamba_mb:,.0f} MB measured{width}; ratio {ratio:,.0f}x; claimed 24,000x",
                   {"ratio": ratio, "transformer_swarm_mb": full["mb"], "mamba_swarm_mb": mamba_mb,
                    "extrapolated": full["extrapolated"]},
                   conditions(full["rows"].iloc[-1], mamba), list(full["rows"]["point_id"]) + [mamba["point_id"]])


def quadratic_in_length(df: pd.DataFrame) -> Finding | None:
    """Activation memory of the hypothetical swarm against L at its most-measured N; None without >= 3 L."""
    rows = ok_rows(df, suite="scaling", model=FULL, mode="forward")
    if rows.empty:
        return None
    n = rows.groupby("model.n_encoders")["seq_len"].nunique().idxmax()
    rows = rows[rows["model.n_encoders"] == n].dropna(subset=["peak_alloc_mb", "static_alloc_mb"])
    if rows["seq_len"].nunique() < 3:
        return None
    memory, which = backbone_activation_mb(rows)
    return exponent_finding(
        rows, "seq_len", memory, 2.0,
        lambda e, first, last: f"the hypothetical Transformer swarm (N={int(n)}, every encoder attending over the whole "
                               f"sequence, eager): activation memory ({which}) ~ L^{e} over L={int(first['seq_len']):,}-"
                               f"{int(last['seq_len']):,} ({memory.min():.0f} to {memory.max():.0f} MB); claimed exponent 2")


def latency_in_n(df: pd.DataFrame) -> Finding | None:
    """Forward latency of the dense hypothetical swarm against N at the claim's shape; None without >= 3 N."""
    rows = dense_full_rows(df)
    if rows.empty or rows["model.n_encoders"].nunique() < 3:
        return None
    return exponent_finding(
        rows, "model.n_encoders", rows["latency_ms_p50"], 1.0, per_process=True,
        describe=lambda e, first, last: f"the hypothetical Transformer swarm (dense, every encoder over the whole "
                                        f"sequence, L=2,048, 768d): forward latency ~ N^{e} "
                                        f"({first['latency_ms_p50']:.1f} ms at N={int(first['model.n_encoders'])}, "
                                        f"{last['latency_ms_p50']:.1f} ms at N={int(last['model.n_encoders'])})")
