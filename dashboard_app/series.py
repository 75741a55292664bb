"""What one line of a chart is, and what its points say: a series is a model on one GPU in
one config (the config fields that differ between the model's rows, e.g. `n_encoders=32`),
so a line never joins H100 and H200 points or two configs into a zigzag; each point carries
its key (data.point_keys, for the Point view), a hover text (model, mode, L, batch, dtype,
GPU, run, commit, median with its 95% CI, processes, status, backend) and its CI as error
bars."""
from __future__ import annotations

import numpy as np
import pandas as pd

from dashboard_app import data

CONFIG = ("batch_size", "dtype", "preset", "model.d_model", "model.n_layer", "model.n_head", "model.n_encoders",
          "model.top_k", "model.pool_backend", "model.capacity_factor", "model.chunk_len", "model.d_state")
SHORT = {"batch_size": "B", "model.n_encoders": "N", "model.top_k": "k", "model.d_model": "d", "model.n_layer": "layers",
         "model.n_head": "heads", "model.capacity_factor": "capacity", "model.pool_backend": "pool",
         "model.chunk_len": "chunk", "model.d_state": "d_state"}
DASHES = ("solid", "dash", "dot", "dashdot", "longdash")  # one per GPU of a chart
SYMBOLS = ("circle", "square", "diamond", "triangle-up", "star", "hexagon")  # one per config of a model


def short_gpu(name: str) -> str:
    """`NVIDIA H100 80GB HBM3` -> `H100`, `NVIDIA H200` -> `H200`, `cpu` -> `cpu`."""
    words = str(name).removeprefix("NVIDIA ").split()
    return words[0] if words else str(name)


def assign(rows: pd.DataFrame, within: tuple[str, ...] = ("model",), vary: tuple[str, ...] = CONFIG) -> pd.DataFrame:
    """`rows` with `series` (the line's name: the `within` values, then the GPU where the chart
    has several, then the config fields that differ between the group's rows on that GPU, e.g.
    `swarm · H200 · N=1000, k=10`), `dash` (per GPU) and `symbol` (per config in the group)."""
    rows = rows.copy()
    gpus = sorted(rows["gpu"].astype(str).unique(), key=lambda g: (g == "cpu", g))
    rows["dash"] = rows["gpu"].astype(str).map({g: DASHES[i % len(DASHES)] for i, g in enumerate(gpus)})
    rows["series"], rows["symbol"] = "", "circle"
    for _, g in rows.groupby([*within, "gpu"], dropna=False, sort=False):
        fields = [c for c in vary if c in g and g[c].astype(str).nunique() > 1]
        names = [SHORT.get(f, f.removeprefix("model.")) for f in fields]
        config = (g[fields].apply(lambda r: ", ".join(f"{n}={_plain(v)}" for n, v in zip(names, r)), axis=1)
                  if fields else pd.Series("", index=g.index))
        variants = {c: SYMBOLS[i % len(SYMBOLS)] for i, c in enumerate(sorted(config.unique()))}
        head = g[list(within)].astype(str).agg(" ".join, axis=1)
        gpu = g["gpu"].map(short_gpu) if len(gpus) > 1 else None
        rows.loc[g.index, "series"] = [" · ".join(p for p in parts if p) for parts in
                                       zip(head, gpu if gpu is not None else [""] * len(g), config)]
        rows.loc[g.index, "symbol"] = config.map(variants)
    return rows


def _plain(v) -> str:
    """A config value as text: 32.0 -> 32."""
    try:
        f = float(v)
        return str(int(f)) if f.is_integer() else f"{f:g}"
    except (TypeError, ValueError):
        return str(v)


def interval(rows: pd.DataFrame, metric: str) -> tuple[pd.Series, pd.Series]:
    """The 95% interval of `metric`: latency's own; tokens/s from it (inversely proportional);
    NaN for the rest (memory is near-deterministic; energy has one window)."""
    lo, hi = rows["latency_ms_ci_lo"], rows["latency_ms_ci_hi"]
    if metric == "latency_ms_p50":
        return lo, hi
    if metric == "tokens_per_s":
        scale = rows["tokens_per_s"] * rows["latency_ms_p50"]
        return scale / hi, scale / lo
    nan = pd.Series(np.nan, index=rows.index)
    return nan, nan


def error_bars(rows: pd.DataFrame, metric: str) -> dict:
    lo, hi = interval(rows, metric)
    return {"type": "data", "symmetric": False, "array": (hi - rows[metric]).clip(lower=0).fillna(0),
            "arrayminus": (rows[metric] - lo).clip(lower=0).fillna(0), "thickness": 1, "width": 3}


def hover(rows: pd.DataFrame, metric: str, unit: str) -> list[str]:
    """One hover text per row."""
    lo, hi = interval(rows, metric)
    get = lambda name: rows[name] if name in rows else pd.Series(None, index=rows.index)  # noqa: E731
    out = []
    for i, (_, r) in enumerate(rows.iterrows()):
        value = r[metric]
        ci = f" [{lo.iloc[i]:.4g}, {hi.iloc[i]:.4g}]" if pd.notna(lo.iloc[i]) and pd.notna(hi.iloc[i]) else ""
        shown = f"{value:.4g}{ci} {unit}" if pd.notna(value) else r["status"]
        sha = str(get("git_sha").iloc[i] or "")[:8]
        out.append(f"<b>{r['series'] if 'series' in r else r['model']}</b><br>{r['mode']} L={_plain(r['seq_len'])} "
                   f"batch={_plain(r['batch_size'])} {r['dtype']} on {short_gpu(r['gpu'])}<br>{shown}"
                   f" ({int(r.get('processes') or 0)} process(es)), status {r['status']}<br>run {r['run_id']} "
                   f"commit {sha or '-'}<br>backend {get('backend').iloc[i] or '-'}<br><i>click: the full record</i>")
    return out


def marks(rows: pd.DataFrame, metric: str, unit: str) -> dict:
    """The per-point keyword arguments of a measured trace: hover, error bars, point keys."""
    return {"hovertext": hover(rows, metric, unit), "hoverinfo": "text", "customdata": list(data.point_keys(rows)),
            "error_y": error_bars(rows, metric)}
