"""What the claims of the catalog share: where they are quoted from, how "~" is read, and the
selection of stored rows (ok points of one suite and model; the swarm at N encoders and top-k;
the Mamba matched to a swarm's active parameters) plus the power-law finding the scaling claims
are judged by.
"""
from __future__ import annotations

import pandas as pd

from harness.analysis.claims import Finding, conditions, exponent_verdict
from harness.measure.stats import fit_power_law

SRC = "seeds/mes-design.txt"
MOE_SRC = "seeds/mamba-r1-moe.txt"
APPROX = 1.25  # "~x" is read as x within +-25%


def ok_rows(df: pd.DataFrame, **where) -> pd.DataFrame:
    """Rows with status ok and every `column=value` of `where` (none when a column is absent)."""
    rows = df[df["status"] == "ok"] if "status" in df else df.iloc[0:0]
    for column, value in where.items():
        if column not in rows:
            return rows.iloc[0:0]
        rows = rows[rows[column] == value]
    return rows


def one_sweep(rows: pd.DataFrame, keys=("model.n_encoders", "model.top_k", "model.d_model", "batch_size")) -> pd.DataFrame:
    """The rows of the one config measured at the most lengths, so a fit over L never mixes two
    configs (suite=claims adds single-length points of other shapes beside a sweep)."""
    present = [k for k in keys if k in rows]
    if rows.empty or not present:
        return rows
    group = rows.groupby(present, dropna=False, sort=False).ngroup()
    return rows[group == rows.groupby(group)["seq_len"].nunique().idxmax()]


def swarm_rows(df: pd.DataFrame, n: int, k: int, mode: str = "forward", seq_len: int = 2048) -> pd.DataFrame:
    """The encoders suite's swarm at `n` encoders and top-`k`, on the batched pool (not the loop)."""
    rows = ok_rows(df, suite="encoders", model="swarm", mode=mode, seq_len=seq_len)
    if rows.empty or "model.n_encoders" not in rows:
        return rows.iloc[0:0]
    rows = rows[(rows["model.n_encoders"] == n) & (rows["model.top_k"] == k)]
    return rows[rows.get("model.pool_backend", pd.Series("auto", index=rows.index)).fillna("auto") != "loop"]


def matched_mamba_rows(df: pd.DataFrame, n: int, k: int, seq_len: int = 2048) -> pd.DataFrame:
    """The Mamba the encoders suite matched to the active parameters of the swarm N=`n` k=`k`."""
    rows = ok_rows(df, suite="encoders", model="mamba", mode="forward", seq_len=seq_len)
    if rows.empty or "matched_to" not in rows:
        return rows.iloc[0:0]
    return rows[rows["matched_to"] == f"params_active of swarm N={n} k={k}"]


def activation_mb(rows: pd.DataFrame) -> pd.Series:
    """Peak memory above the resident weights and inputs: what grows with the sequence."""
    return rows["peak_alloc_mb"] - rows["static_alloc_mb"]


BACKBONE = "backbone (logits left out)"
WHOLE = "whole model (B x L x vocab logits included: these records have no backbone figure)"


def has_backbone(rows: pd.DataFrame) -> bool:
    """Whether every row has a backbone figure (harness.tasks.forward_train: last-position
    logits, or the chunked cross entropy in training)."""
    return not rows.empty and "backbone_peak_alloc_mb" in rows and bool(rows["backbone_peak_alloc_mb"].notna().all())


def backbone_activation_mb(rows: pd.DataFrame) -> tuple[pd.Series, str]:
    """The sequence mixer's activation memory and which figure it is: the backbone iteration's
    peak above its static allocation where every row has one, else the whole model's."""
    if has_backbone(rows):
        return rows["backbone_peak_alloc_mb"] - rows["backbone_static_alloc_mb"], BACKBONE
    return activation_mb(rows), WHOLE


def exponent_finding(rows: pd.DataFrame, x: str, y: pd.Series, claimed: float, describe,
                     per_process: bool = False) -> Finding:
    """Fit y ~ rows[x]^e and judge e against `claimed`; `describe(exponent text, first row, last
    row)` words the key figure. `per_process`: y is latency, fitted to every process's median
    (`latency_process_ms` of the pooled rows), so the exponent's CI carries the between-process
    spread."""
    xs, ys = rows[x], y
    if per_process and "latency_process_ms" in rows:
        pairs = [(xv, v) for xv, values in zip(rows[x], rows["latency_process_ms"])
                 for v in (values if isinstance(values, list) and values else [])]
        if pairs:
            xs, ys = [p[0] for p in pairs], [p[1] for p in pairs]
    fit = fit_power_law(xs, ys)
    verdict, lo, hi = exponent_verdict(fit, claimed)
    first, last = rows.loc[rows[x].idxmin()], rows.loc[rows[x].idxmax()]
    return Finding(verdict, describe(f"{fit['exponent']:.2f} [{lo:.2f}, {hi:.2f}]", first, last),
                   {"exponent": fit["exponent"], "exponent_lo": lo, "exponent_hi": hi}, conditions(first, last),
                   list(rows["point_id"]))
