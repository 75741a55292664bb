"""Process-level pooling for the claims ledger: the repeats of one point (the same config in
other processes, suites.common.with_repeats) become one row whose interval is the
between-process spread, and the rule that a timed verdict needs >= MIN_PROCESSES processes and
no noisy point.

Within one process the iterations of a launch-bound shape agree closely while processes differ
by up to 50% (clocks, allocator layout, cuBLAS heuristics), so an interval from one process's
iterations is too narrow to decide a ratio. With n >= 2 processes a pooled row's
`latency_ms_p50` is the geometric mean of the process medians and `latency_ms_ci_lo/hi` the 95%
t-interval of that mean on the log scale (n - 1 degrees of freedom); the same for
`generation_tokens_per_s` (decode). One process keeps its own bootstrap interval and can inform
a verdict but not decide it.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from harness.measure.stats import mean_interval

MIN_PROCESSES = 3
POOLED = {"latency_ms_p50": ("latency_ms_ci_lo", "latency_ms_ci_hi"),
          "generation_tokens_per_s": ("generation_tokens_per_s_ci_lo", "generation_tokens_per_s_ci_hi")}


def log_interval(values, level: float = 0.95) -> tuple[float, float, float]:
    """(geometric mean, low, high): the t-interval of the mean of log(values), back on the values' scale;
    one value is its own interval."""
    mean, low, high = mean_interval(np.log(np.asarray(values, float)), level)
    center = float(np.exp(mean))
    if len(values) < 2:
        return center, center, center
    return center, float(np.exp(low)), float(np.exp(high))


def _pool_group(group: pd.DataFrame) -> pd.Series:
    ok = group[group["status"] == "ok"]
    first = (ok if not ok.empty else group).sort_values("repeat_index").iloc[0].copy()
    first["processes"] = len(ok)
    first["process_point_ids"] = list(group["point_id"])
    if len(ok) < 2:
        first["latency_process_ms"] = list(ok["latency_ms_p50"].dropna()) if "latency_ms_p50" in ok else []
        return first
    for metric, (lo, hi) in POOLED.items():
        values = ok[metric].dropna() if metric in ok else pd.Series(dtype=float)
        if len(values) == len(ok):
            first[metric], first[lo], first[hi] = log_interval(values)
    first["latency_process_ms"] = list(ok["latency_ms_p50"].dropna())
    if "latency_noisy" in ok:
        first["latency_noisy"] = bool(ok["latency_noisy"].fillna(False).astype(bool).mean() > 0.5)
    if "tokens_per_s" in ok and first.get("latency_ms_p50"):
        first["tokens_per_s"] = first["batch_size"] * first["seq_len"] / (first["latency_ms_p50"] / 1e3) \
            if first.get("mode") in ("forward", "train") else float(ok["tokens_per_s"].median())
    return first


def pool_processes(df: pd.DataFrame, within: tuple[str, ...] = ()) -> pd.DataFrame:
    """One row per point (`base_point_id`, and per value of the `within` columns, e.g. the
    dashboard's `source`), its processes pooled (module docstring); the row's `point_id` is the
    first process's, `process_point_ids` lists every process's, `processes` counts the ok ones and
    `latency_process_ms` lists their medians. A table pooled before is returned as it is."""
    if "processes" in df:
        return df
    if df.empty or "base_point_id" not in df:
        out = df.copy()
        out["processes"] = 1
        return out
    repeat = df["repeat"] if "repeat" in df else pd.Series(0, index=df.index)
    df = df.assign(repeat_index=pd.to_numeric(repeat, errors="coerce").fillna(0),
                   base_point_id=df["base_point_id"].fillna(df["point_id"]))
    keys = ["base_point_id", *[c for c in within if c in df]]
    size = df.groupby(keys, sort=False, dropna=False)[keys[0]].transform("size")
    single = df[size == 1].copy()  # most points ran once: their row stands as it is (vectorised)
    ok = single["status"] == "ok"
    single["processes"] = ok.astype(int)
    single["process_point_ids"] = [[pid] for pid in single["point_id"]]
    latency = single["latency_ms_p50"] if "latency_ms_p50" in single else pd.Series(float("nan"), index=single.index)
    single["latency_process_ms"] = [[v] if is_ok and pd.notna(v) else [] for v, is_ok in zip(latency, ok)]
    pooled = [_pool_group(group) for _, group in df[size > 1].groupby(keys, sort=False, dropna=False)]
    many = pd.DataFrame(pooled).infer_objects() if pooled else single.iloc[0:0]
    return pd.concat([single, many], ignore_index=True).drop(columns="repeat_index")


def decidable(rows: pd.DataFrame) -> str | None:
    """Why these pooled rows cannot decide a timed verdict (too few processes, noisy), or None."""
    few = rows[rows["processes"] < MIN_PROCESSES] if "processes" in rows else rows
    if not few.empty:
        counts = sorted({int(n) for n in few["processes"]}) if "processes" in few else [1]
        return (f"{len(few)} of its points measured in {'/'.join(map(str, counts))} process(es); a timed verdict "
                f"needs >= {MIN_PROCESSES}")
    noisy = rows[rows["latency_noisy"].fillna(False).astype(bool)] if "latency_noisy" in rows else rows.iloc[0:0]
    if not noisy.empty:
        return f"{len(noisy)} of its points noisy (most processes' IQR/median > 10%)"
    return None
