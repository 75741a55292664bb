"""The Quality and Efficiency views' data and figures, pure functions of the quality tables
(harness.analysis.quality_report) and records: the bits-per-byte heatmap (model x domain,
mean over seeds with half their range, the best of each domain starred, coloured by how far
above that best), synthetic-task accuracy against length, learning curves (corpus training,
synthetic tasks, fixed-seed runs) with exponential smoothing, and the quality/cost front."""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from dashboard_app import ticks
from dashboard_app.charts import mark_x, model_color

CURVE_KINDS = {"corpus": "corpus training (suite=quality)", "synthetic": "synthetic tasks (suite=quality)",
               "fixed-seed": "fixed-seed runs (suite=regression)"}
CURVE_COLUMNS = ["kind", "model", "label", "run", "seed", "task", "tokens", "loss"]


def bpb_summary(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(mean, half range, seeds) per model (rows) and domain (columns, `mean bpb` first) of the
    per-seed bits-per-byte table; rows ordered by mean bpb."""
    columns = list(table.columns)
    domains = columns[columns.index("mean bpb"):columns.index("tokens")]  # bpb_table: mean, then each domain
    grouped = table.groupby("model")[domains]
    mean = grouped.mean().sort_values("mean bpb")
    spread = ((grouped.max() - grouped.min()) / 2).loc[mean.index]
    return mean, spread, table.groupby("model")["seed"].nunique().loc[mean.index].to_frame("seeds")


def bpb_heatmap(table: pd.DataFrame) -> go.Figure:
    mean, spread, seeds = bpb_summary(table)
    best = mean.min()
    above = 100 * (mean / best - 1)
    text = [[("★ " if mean.iat[i, j] == best.iat[j] else "") + f"{mean.iat[i, j]:.3f} ± {spread.iat[i, j]:.3f}"
             for j in range(mean.shape[1])] for i in range(mean.shape[0])]
    labels = [f"{m} ({n} seed{'s' if n > 1 else ''})" for m, n in zip(mean.index, seeds["seeds"])]
    fig = go.Figure(go.Heatmap(z=above.to_numpy(), x=list(mean.columns), y=labels, text=text, texttemplate="%{text}",
                               colorscale="YlOrRd", zmin=0, colorbar={"title": "% above<br>the best"},
                               hovertemplate="%{y}, %{x}: %{text} bits/byte<br>%{z:.1f}% above the best<extra></extra>"))
    fig.update_layout(title="held-out bits per byte: mean ± half the seed range (★ best per domain; lower is better)",
                      yaxis={"autorange": "reversed"}, height=140 + 44 * len(labels))
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
    mark_x(fig, trained_up_to, "longest training length", dash="dash")
    fig.update_layout(xaxis={**ticks.log_axis([int(c[4:]) for c in columns]), "title": "sequence length (tokens)"},
                      yaxis={"title": "accuracy on the answers", "range": [0, 1.02]}, title=task, legend_title="model")
    return fig


def _curve(rows: list, kind: str, values: list, tokens_per_step: float, **labels) -> None:
    """A curve's points: [tokens, loss] pairs (suite=quality), or one loss per step."""
    for i, v in enumerate(values):
        tokens, loss = v if isinstance(v, (list, tuple)) and len(v) == 2 else ((i + 1) * tokens_per_step, v)
        if loss is not None:
            rows.append({"kind": kind, **labels, "tokens": tokens, "loss": loss})


def curves(records: list[dict]) -> pd.DataFrame:
    """Long table of every training curve among `records`: corpus and synthetic-task training
    (suite=quality) and the fixed-seed loss runs, against tokens trained."""
    rows: list[dict] = []
    for record in records:
        config = record.get("config") or {}
        label, seed, run = config.get("label", config.get("model")), config.get("seed"), record.get("run_id", "")
        task = config.get("synthetic_task")
        for kind, part in (("corpus", "quality"), ("synthetic", "synthetic")):
            training = record[part].get("training") if isinstance(record.get(part), dict) else None
            if isinstance(training, dict) and training.get("train_curve"):
                steps = training.get("steps") or len(training["train_curve"])
                _curve(rows, kind, training["train_curve"], (training.get("tokens") or steps) / steps,
                       model=config.get("model"), label=f"{label} seed {seed}" + (f" {task}" if task else ""),
                       run=run, seed=seed, task=task)
        loss = record.get("loss")
        if isinstance(loss, dict) and loss.get("curve"):
            _curve(rows, "fixed-seed", loss["curve"], config.get("batch_size", 1) * config.get("seq_len", 1),
                   model=config.get("model"), run=run, seed=seed, task=None,
                   label=f"{config.get('model')}/{config.get('preset')} {run[:15]} #{config.get('repeat', 0)}")
    frame = pd.DataFrame(rows, columns=CURVE_COLUMNS)
    frame["loss"] = pd.to_numeric(frame["loss"], errors="coerce")
    return frame


def default_curves(curves: pd.DataFrame) -> list[str]:
    """The curves shown first: one seed of each model (corpus, synthetic), the newest run
    (fixed-seed)."""
    first = curves.drop_duplicates("label")
    if (first["kind"] == "fixed-seed").all():
        return list(first.loc[first["run"] == first["run"].max(), "label"])
    lowest = first["seed"].min()
    return list(first.loc[first["seed"].isna() | (first["seed"] == lowest), "label"])


def curves_figure(curves: pd.DataFrame, labels: list[str], smoothing: float) -> go.Figure:
    """The chosen curves against tokens trained, each smoothed by an exponential moving average
    over `smoothing` of its length (the raw curve faint behind it)."""
    fig = go.Figure()
    for label in labels:
        g = curves[curves["label"] == label]
        if g.empty:
            continue
        color = model_color(str(g["model"].iloc[0]))
        span = max(1.0, smoothing * len(g))
        if span > 1:
            fig.add_trace(go.Scatter(x=g["tokens"], y=g["loss"], mode="lines", name=f"{label} raw", legendgroup=label,
                                     showlegend=False, opacity=0.25, line={"color": color, "width": 1},
                                     hoverinfo="skip"))
        fig.add_trace(go.Scatter(x=g["tokens"], y=g["loss"].ewm(span=span).mean(), mode="lines", name=label,
                                 legendgroup=label, line={"color": color, "width": 1.5}))
    fig.update_layout(xaxis={"title": "tokens trained"}, yaxis={"title": "training loss (nats/token)"},
                      title="learning curves" + (f" (smoothed over {smoothing:.0%} of each run)" if smoothing else ""),
                      legend_title="model / run")
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
    fig.update_layout(xaxis={**ticks.log_axis(points[cost], binary=False), "title": cost_title},
                      yaxis={"title": quality_title}, title="quality vs cost (lower-left is better)")
    return fig
