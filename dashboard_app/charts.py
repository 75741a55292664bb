"""Plotly figures of the dashboard, as pure functions of a filtered table (testable without
Streamlit). Every axis names its unit; every model keeps its colour across views."""
from __future__ import annotations

import zlib

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from harness.measure.stats import fit_power_law

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#7f7f7f")
KNOWN_MODELS = ("mamba", "transformer", "transformer_eager", "swarm", "transformer_swarm", "mamba_moe")
METRICS = {  # column -> axis title
    "latency_ms_p50": "latency per step, median (ms)",
    "memory_mb": "peak memory (MiB; GPU allocated, else host RSS)",
    "tokens_per_s": "throughput (tokens/s)",
    "energy_j_per_token": "energy (J/token)",
}
DECODE_METRICS = {
    "latency_ms_p50": "decode step, median (ms per token)",
    "prefill_ms_p50": "prefill of the prompt, median (ms)",
    "tokens_per_s": "decode throughput (tokens/s)",
    "state_mb": "KV cache / recurrent state after the prefill (MiB)",
    "memory_mb": "peak memory while generating (MiB)",
}


def model_color(model: str) -> str:
    if model in KNOWN_MODELS:
        return PALETTE[KNOWN_MODELS.index(model)]
    # crc32, not hash(): str hashes change from process to process, colours must not
    return PALETTE[len(KNOWN_MODELS) + zlib.crc32(model.encode()) % (len(PALETTE) - len(KNOWN_MODELS))]


def launch_bound_knee(rows: pd.DataFrame, min_slope: float = 0.5) -> int | None:
    """The smallest length from which latency grows with L in every model and mode: below it
    some group's log-log slope between neighbouring lengths is under `min_slope` (the GPU waits
    on kernel launches, not on the sequence). Each group keeps at least 3 lengths to fit."""
    knees = []
    ok = rows[~rows["failed"]].dropna(subset=["latency_ms_p50", "seq_len"])
    for _, g in ok.groupby(["model", "mode"]):
        series = g.groupby("seq_len")["latency_ms_p50"].median().sort_index()
        if len(series) < 3:
            continue
        slopes = np.diff(np.log(series.to_numpy())) / np.diff(np.log(series.index.to_numpy(dtype=float)))
        knee = series.index[-1]
        for i in range(len(slopes) - 1, -1, -1):  # walk back while latency still grows
            if slopes[i] < min_slope:
                break
            knee = series.index[i]
        knees.append(min(knee, series.index[-3]))
    return int(max(knees)) if knees else None


def exponents_table(df: pd.DataFrame, metric: str, min_len: int) -> pd.DataFrame:
    rows = []
    for (model, mode), g in df[~df["failed"]].groupby(["model", "mode"]):
        g = g[g["seq_len"] >= min_len]
        fit = fit_power_law(g["seq_len"], g[metric])
        ok_lengths = df[(df["model"] == model) & (df["mode"] == mode) & (df["status"] == "ok")]["seq_len"]
        rows.append({"model": model, "mode": mode, **(fit or {"exponent": np.nan, "ci_lo": np.nan, "ci_hi": np.nan,
                                                            "points": len(g)}),
                     "longest ok L": ok_lengths.max()})
    return pd.DataFrame(rows)


def scaling_figure(df: pd.DataFrame, metric: str, mode: str) -> go.Figure:
    """metric vs sequence length per model (log-log); failed points as crosses at the last
    feasible value, the longest feasible length as a ring."""
    fig = go.Figure()
    for model, g in df[df["mode"] == mode].sort_values("seq_len").groupby("model", sort=True):
        ok = g[~g["failed"] & g[metric].notna()]
        color = model_color(model)
        fig.add_trace(go.Scatter(x=ok["seq_len"], y=ok[metric], mode="lines+markers", name=model,
                                 line={"color": color}, legendgroup=model))
        if ok.empty:
            continue
        last = ok.iloc[-1]
        fig.add_trace(go.Scatter(x=[last["seq_len"]], y=[last[metric]], mode="markers", showlegend=False,
                                 marker={"symbol": "circle-open", "size": 16, "color": color}, legendgroup=model,
                                 hovertext=f"{model}: longest feasible L={int(last['seq_len'])}", hoverinfo="text"))
        failed = g[g["failed"]]
        if not failed.empty:
            fig.add_trace(go.Scatter(x=failed["seq_len"], y=[last[metric]] * len(failed), mode="markers",
                                     name=f"{model} failed", legendgroup=model,
                                     marker={"symbol": "x", "size": 11, "color": color},
                                     hovertext=[f"{model} L={int(L)}: {s}" for L, s in zip(failed["seq_len"], failed["status"])],
                                     hoverinfo="text"))
    fig.update_layout(xaxis={"type": "log", "title": "sequence length (tokens)"},
                      yaxis={"type": "log", "title": METRICS[metric]}, title=f"{METRICS[metric]} vs length, {mode}",
                      legend_title="model")
    return fig


def decode_figure(df: pd.DataFrame, metric: str, batch: int) -> go.Figure:
    """A decode metric vs context length at one batch size: one line per model and CUDA-graph
    setting (dashed with graphs); out-of-memory contexts as crosses."""
    fig = go.Figure()
    rows = df[(df["sweep"] == "latency") & (df["batch_size"] == batch)].sort_values("seq_len")
    for series, g in rows.groupby("decode_series", sort=True):
        model = g["model"].iloc[0]
        ok = g[~g["failed"] & g[metric].notna()]
        dash = "dash" if series.endswith("(CUDA graphs)") else "solid"
        fig.add_trace(go.Scatter(x=ok["seq_len"], y=ok[metric], mode="lines+markers", name=series,
                                 line={"color": model_color(model), "dash": dash}))
        failed = g[g["failed"]]
        if not failed.empty and not ok.empty:
            fig.add_trace(go.Scatter(x=failed["seq_len"], y=[ok[metric].iloc[-1]] * len(failed), mode="markers",
                                     name=f"{series} {failed['status'].iloc[0]}",
                                     marker={"symbol": "x", "size": 11, "color": model_color(model)}))
    fig.update_layout(xaxis={"type": "log", "title": "context: prompt length (tokens)"},
                      yaxis={"type": "log", "title": DECODE_METRICS[metric]},
                      title=f"{DECODE_METRICS[metric]} vs context, batch {batch}", legend_title="model")
    return fig


def max_batch_figure(df: pd.DataFrame) -> go.Figure:
    """Generation throughput (prefill included) vs batch size per model, up to the first batch
    that did not fit (a cross)."""
    fig = go.Figure()
    rows = df[df["sweep"] == "max_batch"].sort_values("batch_size")
    for series, g in rows.groupby("decode_series", sort=True):
        model = g["model"].iloc[0]
        ok = g[~g["failed"] & g["generation_tokens_per_s"].notna()]
        fig.add_trace(go.Scatter(x=ok["batch_size"], y=ok["generation_tokens_per_s"], mode="lines+markers",
                                 name=series, line={"color": model_color(model)}))
        failed = g[g["failed"]]
        if not failed.empty and not ok.empty:
            fig.add_trace(go.Scatter(x=failed["batch_size"], y=[ok["generation_tokens_per_s"].iloc[-1]] * len(failed),
                                     mode="markers", name=f"{series} {failed['status'].iloc[0]}",
                                     marker={"symbol": "x", "size": 11, "color": model_color(model)}))
    context = rows["seq_len"].dropna().unique()
    fig.update_layout(xaxis={"type": "log", "title": "batch size"},
                      yaxis={"title": "generation throughput (tokens/s, prefill included)"},
                      title="largest batch that fits" + (f", prompt {int(context[0])}" if len(context) == 1 else ""),
                      legend_title="model")
    return fig


def encoders_figure(df: pd.DataFrame, metric: str, mode: str) -> go.Figure:
    """Swarm metric vs encoder count, one line per (top-k, pool backend); the matched baselines
    as dashed flat lines across the same N range."""
    fig = go.Figure()
    rows = df[(df["mode"] == mode) & ~df["failed"] & df[metric].notna()].copy()
    rows["pool"] = rows["model.pool_backend"] if "model.pool_backend" in rows else None
    swarm = rows[rows["model.n_encoders"].notna()]
    for (model, k, pool), g in swarm.sort_values("model.n_encoders").groupby(["model", "model.top_k", "pool"], dropna=False):
        suffix = f" ({pool})" if isinstance(pool, str) and pool not in ("auto", "grouped") else ""
        fig.add_trace(go.Scatter(x=g["model.n_encoders"], y=g[metric], mode="lines+markers",
                                 name=f"{model} k={int(k)}{suffix}",
                                 line={"color": model_color(model), "width": 1 + np.log2(k),
                                       "dash": "dot" if suffix else "solid"}))
    span = [swarm["model.n_encoders"].min(), swarm["model.n_encoders"].max()] if not swarm.empty else [1, 1]
    for _, b in rows[rows["model.n_encoders"].isna()].iterrows():
        fig.add_trace(go.Scatter(x=span, y=[b[metric]] * 2, mode="lines",
                                 name=f"{b['model']} ({b['matched_to'] or 'baseline'})",
                                 line={"dash": "dash", "color": model_color(b["model"]), "width": 1}))
    fig.update_layout(xaxis={"type": "log", "title": "encoders N"}, yaxis={"type": "log", "title": METRICS[metric]},
                      title=f"{METRICS[metric]} vs encoder count, {mode}", legend_title="swarm, top-k / baselines",
                      height=560)
    return fig


def router_figure(df: pd.DataFrame) -> go.Figure:
    """Router load balance at initialisation vs N: load entropy / log2 N (1 = even) and the
    share of encoders that ran, one line per top-k (swarm forward points)."""
    rows = df[(df["mode"] == "forward") & df["model.n_encoders"].notna()].copy()
    rows["n"] = rows["model.n_encoders"]
    rows["evenness"] = pd.to_numeric(rows.get("routing_load_entropy_bits"), errors="coerce") / np.log2(rows["n"])
    rows["used"] = pd.to_numeric(rows.get("routing_experts_used"), errors="coerce") / rows["n"]
    fig = go.Figure()
    for (model, k), g in rows.dropna(subset=["evenness"]).sort_values("n").groupby(["model", "model.top_k"]):
        color = model_color(model)
        fig.add_trace(go.Scatter(x=g["n"], y=g["evenness"], mode="lines+markers", name=f"{model} k={int(k)} evenness",
                                 line={"color": color, "width": 1 + np.log2(k)}))
        fig.add_trace(go.Scatter(x=g["n"], y=g["used"], mode="lines+markers", name=f"{model} k={int(k)} encoders used",
                                 line={"color": color, "width": 1 + np.log2(k), "dash": "dot"}))
    fig.update_layout(xaxis={"type": "log", "title": "encoders N"},
                      yaxis={"title": "share (load entropy / log2 N; encoders used / N)", "range": [0, 1.05]},
                      title="router load over one batch", legend_title="swarm, top-k")
    return fig


def loss_curves_figure(curves: pd.DataFrame) -> go.Figure:
    fig = go.Figure()
    for (model, label), g in curves.groupby(["model", "label"]):
        fig.add_trace(go.Scatter(x=g["tokens"], y=g["loss"], mode="lines", name=label,
                                 line={"color": model_color(model), "width": 1}))
    fig.update_layout(xaxis={"title": "tokens trained"}, yaxis={"title": "training loss (nats/token)"},
                      title="fixed-seed training runs", legend_title="model / run")
    return fig


def synthetic_figure(table: pd.DataFrame, task: str, chance: float, trained_up_to: int) -> go.Figure:
    """Accuracy against sequence length of one synthetic task, a line per model (mean over seeds)."""
    rows = table[table["task"] == task]
    columns = sorted((c for c in rows if c.startswith("acc@") and rows[c].notna().any()), key=lambda c: int(c[4:]))
    fig = go.Figure()
    for model, g in rows.groupby("model"):
        color = model_color(model)
        fig.add_trace(go.Scatter(x=[int(c[4:]) for c in columns], y=[g[c].mean() for c in columns],
                                 mode="lines+markers", name=model, line={"color": color}, marker={"color": color}))
    fig.add_hline(y=chance, line_dash="dot", annotation_text="chance")
    # a shape on a log axis is placed in log10 units: x=256 would land at 10^256
    fig.add_vline(x=np.log10(trained_up_to), line_dash="dash", annotation_text="longest training length")
    fig.update_layout(xaxis={"type": "log", "title": "sequence length (tokens)"},
                      yaxis={"title": "accuracy on the answers", "range": [0, 1.02]}, title=task, legend_title="model")
    return fig


def pareto_front(points: pd.DataFrame, cost: str, quality: str) -> pd.DataFrame:
    """Rows not dominated by a cheaper-and-better one (lower cost and lower loss are better)."""
    ordered = points.sort_values([cost, quality])
    return ordered[ordered[quality] <= ordered[quality].cummin()]


def pareto_figure(points: pd.DataFrame, cost: str, quality: str, cost_title: str, quality_title: str) -> go.Figure:
    fig = go.Figure()
    for model, g in points.groupby("model"):
        fig.add_trace(go.Scatter(x=g[cost], y=g[quality], mode="markers", name=model, text=g["label"],
                                 marker={"color": model_color(model), "size": 11}))
    front = pareto_front(points, cost, quality)
    fig.add_trace(go.Scatter(x=front[cost], y=front[quality], mode="lines", name="Pareto front",
                             line={"dash": "dot", "color": "#444"}))
    fig.update_layout(xaxis={"type": "log", "title": cost_title}, yaxis={"title": quality_title},
                      title="quality vs cost (lower-left is better)")
    return fig


def achieved_table(df: pd.DataFrame, ceilings: dict[str, dict]) -> pd.DataFrame:
    """Achieved model TFLOP/s (analytic FLOPs/token x tokens/s; a training step counts 3x the
    forward) as a share of the GPU's dense BF16 ceiling (`load_ceilings`), where it has one."""
    rows = df[~df["failed"] & df["flops_per_token"].notna() & df["tokens_per_s"].notna()
              & df["gpu"].isin(list(ceilings)) & df["mode"].isin(["forward", "train"])].copy()
    if rows.empty:  # (a store of training runs only, say)
        return rows
    factor = np.where(rows["mode"] == "train", 3.0, 1.0)
    rows["achieved_tflops"] = rows["flops_per_token"] * rows["tokens_per_s"] * factor / 1e12
    rows["share_of_measured"] = rows["achieved_tflops"] / rows["gpu"].map(lambda g: ceilings[g]["measured"])
    rows["share_of_spec"] = rows["achieved_tflops"] / rows["gpu"].map(lambda g: ceilings[g]["spec"] or float("nan"))
    return rows


def achieved_figure(rows: pd.DataFrame) -> go.Figure:
    fig = go.Figure()
    for (model, mode), g in rows.sort_values("seq_len").groupby(["model", "mode"]):
        fig.add_trace(go.Scatter(x=g["seq_len"], y=100 * g["share_of_measured"], mode="markers", name=f"{model} {mode}",
                                 text=g["suite"] + " " + g["source"].astype(str), opacity=0.8,
                                 marker={"color": model_color(model), "size": 9,
                                         "symbol": "circle" if mode == "forward" else "diamond-open"}))
    fig.update_layout(xaxis={"type": "log", "title": "sequence length (tokens)"},
                      yaxis={"title": "achieved / measured BF16 GEMM ceiling (%)"},
                      title="achieved model FLOP/s vs the GPU's ceiling")
    return fig


STEP_MARKERS = {  # gate verdict of a step -> (marker symbol, colour); unchanged steps are not marked
    "regressed": ("triangle-up", "#d62728"), "improved": ("triangle-down", "#2ca02c"), "failed": ("x", "#000000"),
    "baseline failed": ("x-open", "#7f7f7f"), "incomparable": ("diamond-open", "#7f7f7f"),
}


def _rgba(color: str, alpha: float) -> str:
    r, g, b = (int(color[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def history_figure(points: pd.DataFrame, steps: pd.DataFrame, metric: str, axis: str) -> go.Figure:
    """`metric` of each point key (a line per `label`) against commit (categories in the order
    first measured) or date, its 95% interval as a band and error bars where known (`lo`/`hi`),
    and the steps the gate flags (`steps`, by verdict) as markers on the later measurement."""
    fig = go.Figure()
    for i, (label, g) in enumerate(points.sort_values("when").groupby("label", sort=True)):
        color = PALETTE[i % len(PALETTE)]
        band = g.dropna(subset=["lo", "hi"])
        if not band.empty:
            fig.add_trace(go.Scatter(x=list(band["x"]) + list(band["x"])[::-1],
                                     y=list(band["hi"]) + list(band["lo"])[::-1], mode="lines", fill="toself",
                                     fillcolor=_rgba(color, 0.2), line={"width": 0}, name=f"{label} 95% CI",
                                     legendgroup=label, showlegend=False, hoverinfo="skip"))
        fig.add_trace(go.Scatter(x=g["x"], y=g["value"], mode="lines+markers", name=label, legendgroup=label,
                                 line={"color": color}, marker={"color": color}, hovertext=g["text"],
                                 error_y={"type": "data", "symmetric": False, "array": g["hi"] - g["value"],
                                          "arrayminus": g["value"] - g["lo"], "color": color, "thickness": 1},
                                 hoverinfo="text+y"))
    for verdict, g in steps[steps["verdict"] != "unchanged"].groupby("verdict"):
        symbol, color = STEP_MARKERS.get(verdict, ("circle-open", "#7f7f7f"))
        fig.add_trace(go.Scatter(x=g["x"], y=g["value"], mode="markers", name=f"step: {verdict}",
                                 marker={"symbol": symbol, "size": 15, "color": color},
                                 hovertext=g["label"] + ": " + verdict + ", " + g["text"], hoverinfo="text"))
    values = points["value"][points["value"] > 0]
    log = not values.empty and values.max() > 10 * values.min()
    xaxis = ({"type": "category", "title": "commit (in the order first measured)", "categoryorder": "array",
              "categoryarray": list(dict.fromkeys(points.sort_values("when")["x"]))} if axis == "commit"
             else {"type": "date", "title": "when the run measured it (UTC)"})
    fig.update_layout(xaxis=xaxis, yaxis={"type": "log" if log else "linear", "title": METRICS[metric]},
                      title=f"{METRICS[metric]} by {axis}", legend_title="point (config on a device)")
    return fig


FOREST_SYMBOLS = {"regressed": "triangle-right", "improved": "triangle-left"}


def forest_figure(forest: pd.DataFrame, threshold: float) -> go.Figure:
    """Candidate / baseline latency ratio of each point (a row per `point`, log x) with its
    interval, a marker per candidate (triangles where the gate says regressed or improved);
    1 solid and the gate's threshold around it dotted."""
    points = list(dict.fromkeys(forest["point"]))
    candidates = list(dict.fromkeys(forest["candidate"]))
    fig = go.Figure()
    for j, name in enumerate(candidates):
        g = forest[forest["candidate"] == name]
        color = PALETTE[j % len(PALETTE)]
        offset = (j - (len(candidates) - 1) / 2) * 0.6 / len(candidates)  # candidates side by side in a row
        fig.add_trace(go.Scatter(
            x=g["ratio"], y=[points.index(p) + offset for p in g["point"]], mode="markers", name=name,
            error_x={"type": "data", "symmetric": False, "array": g["hi"] - g["ratio"],
                     "arrayminus": g["ratio"] - g["lo"], "color": color},
            marker={"color": color, "size": 10, "symbol": [FOREST_SYMBOLS.get(v, "circle") for v in g["verdict"]]},
            hovertext=[f"{p}: {r:.3f} [{lo:.3f}, {hi:.3f}] {v}, processes {n}" for p, r, lo, hi, v, n in
                       zip(g["point"], g["ratio"], g["lo"], g["hi"], g["verdict"], g["processes"])],
            hoverinfo="text"))
    for x, dash in ((1.0, "solid"), (1 + threshold, "dot"), (1 - threshold, "dot")):
        fig.add_vline(x=np.log10(x), line_dash=dash, line_color="#7f7f7f")  # log axis: shapes in log10 units
    fig.update_layout(xaxis={"type": "log", "title": "latency ratio, candidate / baseline (gate's per-point CI)"},
                      yaxis={"tickvals": list(range(len(points))), "ticktext": points, "autorange": "reversed"},
                      height=max(320, 26 * len(points) + 140), title="latency ratio per point",
                      legend_title="candidate")
    return fig
