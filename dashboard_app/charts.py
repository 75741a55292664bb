"""Plotly figures of the Scaling, Decode and Achieved views, as pure functions of a filtered
table (testable without Streamlit). Every axis names its unit and log axes tick whole values
(dashboard_app.ticks); every model keeps its colour across views; a line is one series
(dashboard_app.series: a model on one GPU in one config) and each measured point carries its
key, hover text and CI. Failures never sit among the measurements: a status row under the
chart marks, per series and length, measured (dot), failed (cross, the status in the hover)
and not run (open circle)."""
from __future__ import annotations

import zlib

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard_app import data, series, ticks
from harness.measure.stats import fit_power_law

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#7f7f7f")
KNOWN_MODELS = ("mamba", "transformer", "transformer_eager", "swarm", "transformer_swarm", "mamba_moe")
METRICS = {  # column -> axis title
    "latency_ms_p50": "latency per step, median (ms)",
    "memory_mb": "peak memory (MiB; GPU allocated, else host RSS)",
    "tokens_per_s": "throughput (tokens/s)",
    "energy_j_per_token": "energy (J/token)",
}
UNITS = {"latency_ms_p50": "ms", "memory_mb": "MiB", "tokens_per_s": "tokens/s", "energy_j_per_token": "J/token",
         "prefill_ms_p50": "ms", "state_mb": "MiB", "generation_tokens_per_s": "tokens/s"}
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
    """The smallest length from which latency grows with L in every series and mode: below it
    some group's log-log slope between neighbouring lengths is under `min_slope` (the GPU waits
    on kernel launches, not on the sequence). Each group keeps at least 3 lengths to fit."""
    knees = []
    ok = rows[~rows["failed"]].dropna(subset=["latency_ms_p50", "seq_len"])
    for _, g in ok.groupby(["series" if "series" in ok else "model", "mode"]):
        curve = g.groupby("seq_len")["latency_ms_p50"].median().sort_index()
        if len(curve) < 3:
            continue
        slopes = np.diff(np.log(curve.to_numpy())) / np.diff(np.log(curve.index.to_numpy(dtype=float)))
        knee = curve.index[-1]
        for i in range(len(slopes) - 1, -1, -1):  # walk back while latency still grows
            if slopes[i] < min_slope:
                break
            knee = curve.index[i]
        knees.append(min(knee, curve.index[-3]))
    return int(max(knees)) if knees else None


def _lengths(values) -> str:
    return ", ".join(ticks.label(v, binary=True) for v in sorted(set(values))) or "-"


def exponents_table(df: pd.DataFrame, metric: str, min_len: int) -> pd.DataFrame:
    """Per series and mode: the fitted exponent of `metric` in L from `min_len` (95% CI), the
    lengths it rests on, and where the series failed or was not run."""
    rows, everywhere = [], set(df["seq_len"].dropna())
    for (name, mode), g in df.groupby(["series", "mode"]):
        ok = g[~g["failed"] & g[metric].notna()]
        fitted = ok[ok["seq_len"] >= min_len]
        fit = fit_power_law(fitted["seq_len"], fitted[metric]) or {"exponent": np.nan, "ci_lo": np.nan,
                                                                   "ci_hi": np.nan, "points": len(fitted)}
        rows.append({"series": name, "model": g["model"].iloc[0], "mode": mode, **fit,
                     "fitted at L": _lengths(fitted["seq_len"]), "longest ok L": ok["seq_len"].max(),
                     "failed at L": _lengths(g.loc[g["failed"], "seq_len"]),
                     "not run at L": _lengths(everywhere - set(g["seq_len"]))})
    return pd.DataFrame(rows)


def mark_x(fig: go.Figure, x: float, text: str, log: bool = True, dash: str = "dot", row: int | None = None) -> None:
    """A vertical line at `x` with `text` at its top. The dashboard's plotly.js (v4) places a
    shape on a log axis in data units but an annotation in log10 units (x=256 lands at 10^256),
    so each gets its own; tests/test_dashboard_browser.py checks the drawn axes."""
    where = {"row": row, "col": 1} if row else {}
    fig.add_vline(x=x, line_dash=dash, line_color="#888", **where)
    fig.add_annotation(x=np.log10(x) if log else x, y=1, xref="x", yref="y domain", text=text, showarrow=False,
                       xanchor="left", yanchor="bottom", font={"size": 10, "color": "#666"})


def _color(g: pd.DataFrame) -> str:
    return model_color(str(g["model"].iloc[0]))


def newest_per_x(g: pd.DataFrame, x: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the newest row at each x, the older ones): a line joins one measurement per x; a config
    measured again in another run is drawn as faint markers beside it (History compares them)."""
    ordered = g.sort_values("created_at", na_position="first")
    older = ordered.duplicated(subset=[x], keep="last")
    return ordered[~older].sort_values(x), ordered[older]


STATUS_MARKS = {"measured": ("circle", 6), "failed": ("x", 11), "not run": ("circle-open", 8)}


def status_marks(rows: pd.DataFrame, x: str) -> pd.DataFrame:
    """The status row's marks: per series and x of the chart, `measured`, `failed` (a point
    key, the status in the hover) or `not run` (no record of that series there)."""
    marks = pd.DataFrame({"series": rows["series"], "model": rows["model"], "x": rows[x],
                          "status": np.where(rows["failed"], "failed", "measured"), "text": rows["status"],
                          "key": data.point_keys(rows)})
    everywhere = sorted(rows[x].dropna().unique())
    missing = [{"series": name, "model": g["model"].iloc[0], "x": v, "status": "not run", "text": "not run", "key": ""}
               for name, g in rows.groupby("series") for v in everywhere if v not in set(g[x])]
    return pd.concat([marks, pd.DataFrame(missing, columns=marks.columns)], ignore_index=True)


def status_figure(rows: pd.DataFrame, x: str, height: int = 460) -> go.Figure:
    """Two rows sharing the x axis: the measurements, and under them the status row of each
    series in `rows` (its `series`, `model`, `failed`, `status` and `x` columns), one trace
    per status (few traces draw fast), each mark in its model's colour."""
    names = sorted(rows["series"].unique())
    share = min(0.45, (18 * len(names) + 30) / (height + 18 * len(names)))
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.04, row_heights=[1 - share, share])
    marks = status_marks(rows, x)
    for what, (symbol, size) in STATUS_MARKS.items():
        g = marks[marks["status"] == what]
        if not g.empty:
            fig.add_trace(go.Scatter(
                x=g["x"], y=g["series"], mode="markers", name=what, showlegend=False, customdata=list(g["key"]),
                marker={"symbol": symbol, "size": size, "color": [model_color(str(m)) for m in g["model"]]},
                hoverinfo="text", hovertext=[f"{n} at {x}={ticks.label(v, True)}: {t}"
                                             for n, v, t in zip(g["series"], g["x"], g["text"])]), row=2, col=1)
    fig.update_yaxes(type="category", categoryorder="array", categoryarray=names[::-1], title_text="status",
                     tickfont={"size": 10}, row=2, col=1)
    fig.update_xaxes(**ticks.log_axis(marks["x"]))
    fig.update_layout(height=height + 18 * len(names) + 22 * (len(names) // 4 + 1),
                      legend={"groupclick": "togglegroup", "orientation": "h", "yanchor": "top", "y": -0.12})
    return fig


def _measured(fig: go.Figure, g: pd.DataFrame, name: str, metric: str, x: str, color: str, dash: str) -> None:
    """A series' line (the newest measurement per x, CI error bars, hover, point keys) and the
    older measurements of the same config as faint markers."""
    line, older = newest_per_x(g[~g["failed"] & g[metric].notna()], x)
    fig.add_trace(go.Scatter(x=line[x], y=line[metric], mode="lines+markers", name=name, legendgroup=name,
                             line={"color": color, "dash": dash},
                             marker={"color": color, "symbol": line["symbol"].iloc[0] if len(line) else "circle"},
                             **series.marks(line, metric, UNITS.get(metric, ""))), row=1, col=1)
    if not older.empty:
        fig.add_trace(go.Scatter(x=older[x], y=older[metric], mode="markers", name=f"{name} older runs",
                                 legendgroup=name, showlegend=False, opacity=0.35, marker={"color": color, "size": 7},
                                 **series.marks(older, metric, UNITS.get(metric, ""))), row=1, col=1)


def _fit_line(fig: go.Figure, ok: pd.DataFrame, name: str, metric: str, min_len: int, color: str) -> None:
    """The fitted power law of a series from `min_len` on, dotted over the lengths it rests on."""
    fitted = ok[(ok["seq_len"] >= min_len) & (ok[metric] > 0)]
    fit = fit_power_law(fitted["seq_len"], fitted[metric])
    if not fit:
        return
    logx, logy = np.log(fitted["seq_len"].astype(float)), np.log(fitted[metric].astype(float))
    xs = np.array([fitted["seq_len"].min(), fitted["seq_len"].max()], float)
    ys = np.exp(logy.mean() + fit["exponent"] * (np.log(xs) - logx.mean()))
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name=f"{name} fit", legendgroup=name, showlegend=False,
                             line={"color": color, "dash": "dot", "width": 1}, hoverinfo="text",
                             hovertext=f"{name}: L^{fit['exponent']:.2f} [{fit['ci_lo']:.2f}, {fit['ci_hi']:.2f}] "
                                       f"from L={ticks.label(min_len, True)}"), row=1, col=1)


def scaling_figure(df: pd.DataFrame, metric: str, mode: str, min_len: int | None = None) -> go.Figure:
    """metric vs sequence length per series (log-log) with CI bars, the fitted power law from
    `min_len` (dotted, the start marked), a ring at the longest feasible length, status row."""
    rows = df[df["mode"] == mode]
    fig, longest = status_figure(rows, "seq_len"), []
    for name, g in rows.groupby("series", sort=True):
        color, dash = _color(g), g["dash"].iloc[0]
        _measured(fig, g, name, metric, "seq_len", color, dash)
        ok = g[~g["failed"] & g[metric].notna()].sort_values("seq_len")
        if ok.empty:
            continue
        if min_len is not None:
            _fit_line(fig, ok, name, metric, min_len, color)
        longest.append((name, ok["seq_len"].iloc[-1], ok[metric].iloc[-1], color))
    if longest:  # one trace for every ring: few traces draw fast
        names, xs, ys, colors = zip(*longest)
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="markers", showlegend=False, name="longest feasible",
                                 marker={"symbol": "circle-open", "size": 16, "color": list(colors)}, hoverinfo="text",
                                 hovertext=[f"{n}: longest feasible L={int(v)}" for n, v in zip(names, xs)]),
                      row=1, col=1)
    if min_len is not None and len(rows):
        mark_x(fig, min_len, f"fits from L={ticks.label(min_len, True)}", row=1)
    values = rows.loc[~rows["failed"], metric]
    fig.update_yaxes(title_text=METRICS[metric], **ticks.log_axis(values, binary=False), row=1, col=1)
    fig.update_xaxes(title_text="sequence length (tokens)", row=2, col=1)
    fig.update_layout(title=f"{METRICS[metric]} vs length, {mode}", legend_title="model (· GPU · config)")
    return fig


def decode_figure(df: pd.DataFrame, metric: str, batch: int) -> go.Figure:
    """A decode metric vs context length at one batch size: one line per series (dashed with
    CUDA graphs), the contexts that did not fit in the status row."""
    rows = df[(df["sweep"] == "latency") & (df["batch_size"] == batch)]
    fig = status_figure(rows, "seq_len")
    for name, g in rows.groupby("series", sort=True):
        dash = "dash" if "(CUDA graphs)" in name else "solid"
        _measured(fig, g, name, metric, "seq_len", _color(g), dash)
    fig.update_yaxes(title_text=DECODE_METRICS[metric], row=1, col=1,
                     **ticks.log_axis(rows.loc[~rows["failed"], metric], binary=False))
    fig.update_xaxes(title_text="context: prompt length (tokens)", row=2, col=1)
    fig.update_layout(title=f"{DECODE_METRICS[metric]} vs context, batch {batch}", legend_title="model")
    return fig


def max_batch_figure(df: pd.DataFrame) -> go.Figure:
    """Generation throughput (prefill included) vs batch size per series, up to the first batch
    that did not fit (status row)."""
    rows = df[df["sweep"] == "max_batch"]
    fig = status_figure(rows, "batch_size")
    for name, g in rows.groupby("series", sort=True):
        dash = "dash" if "(CUDA graphs)" in name else "solid"
        _measured(fig, g, name, "generation_tokens_per_s", "batch_size", _color(g),
                  dash)
    context = rows["seq_len"].dropna().unique()
    fig.update_yaxes(title_text="generation throughput (tokens/s, prefill included)", row=1, col=1)
    fig.update_xaxes(title_text="batch size", row=2, col=1)
    fig.update_layout(title="largest batch that fits" + (f", prompt {int(context[0])}" if len(context) == 1 else ""),
                      legend_title="model")
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


def achieved_slice(rows: pd.DataFrame, gpu: str, suite: str, batch: int) -> pd.DataFrame:
    """The achieved rows of one GPU, suite and batch size (achieved_table)."""
    return rows[(rows["gpu"] == gpu) & (rows["suite"] == suite) & (rows["batch_size"] == batch)]


def achieved_figure(rows: pd.DataFrame, ceiling: dict) -> go.Figure:
    """Achieved model FLOP/s of `rows` (one GPU) as a % of its measured BF16 GEMM ceiling, with
    that ceiling (100%) and the datasheet's drawn."""
    fig = go.Figure()
    for (model, mode), g in rows.sort_values("seq_len").groupby(["model", "mode"]):
        fig.add_trace(go.Scatter(x=g["seq_len"], y=100 * g["share_of_measured"], mode="markers", name=f"{model} {mode}",
                                 opacity=0.8, hovertext=g["suite"] + " " + g["source"].astype(str), hoverinfo="text+y",
                                 customdata=list(data.point_keys(g)),
                                 marker={"color": model_color(model), "size": 9,
                                         "symbol": "circle" if mode == "forward" else "diamond-open"}))
    fig.add_hline(y=100, line={"color": "#444", "width": 1},
                  annotation_text=f"measured BF16 GEMM {ceiling['measured']:.0f} TF/s")
    if ceiling.get("spec"):
        fig.add_hline(y=100 * ceiling["spec"] / ceiling["measured"], line={"color": "#444", "width": 1, "dash": "dash"},
                      annotation_text=f"datasheet {ceiling['spec']:.0f} TF/s")
    fig.update_layout(xaxis={**ticks.log_axis(rows["seq_len"]), "title": "sequence length (tokens)"},
                      yaxis={"title": "achieved / measured BF16 GEMM ceiling (%)"},
                      title="achieved model FLOP/s vs the GPU's ceiling")
    return fig
