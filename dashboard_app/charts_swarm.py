"""The Encoders view's figures: a swarm metric against its encoder count N, one line per
top-k (the swarm's colour, wider and another marker per k; the per-encoder loop dotted), and
the matched baselines as flat lines grouped by the swarm size they are matched to, each
group its own colour (one legend group per size, the baseline model by dash); and the
router's load balance against N. A config measured in several runs: the newest on the line,
the older faint beside it."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboard_app import data, series, ticks
from dashboard_app.charts import METRICS, UNITS, model_color, newest_per_x

GROUP_COLOURS = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666")
BASELINE_DASHES = {"mamba": "dash", "transformer": "dot"}
K_SYMBOLS = ("circle", "square", "diamond", "triangle-up", "star", "hexagon")
KINDS = {"params_active": "matched active params", "params_total": "matched total params"}
MATCHED = re.compile(r"(params_\w+) of swarm N=(\d+) k=(\d+)")


def baseline_groups(rows: pd.DataFrame) -> pd.DataFrame:
    """The baselines of `rows` (no encoder count) with their group: `kind` (params_active or
    params_total), the swarm `N` and `k` they are matched to, and the group's label."""
    base = rows[rows["model.n_encoders"].isna()].copy()
    parsed = base["matched_to"].astype(str).str.extract(MATCHED)
    base["kind"], base["N"], base["k"] = parsed[0], pd.to_numeric(parsed[1]), pd.to_numeric(parsed[2])
    base["group"] = np.where(base["kind"] == "params_active",
                             "matched to the active params of k=" + base["k"].astype("Int64").astype(str)
                             + " (N=" + base["N"].astype("Int64").astype(str) + ")",
                             "matched to the total params of N=" + base["N"].astype("Int64").astype(str))
    base.loc[base["kind"].isna(), "group"] = "unmatched baselines"
    return base.sort_values(["kind", "k", "N", "model"], na_position="last")


def encoders_figure(df: pd.DataFrame, metric: str, mode: str, kinds: tuple[str, ...] = tuple(KINDS)) -> go.Figure:
    """Swarm `metric` vs N per (model, top-k, pool), with CI bars and point keys; the baselines
    of the matching `kinds` as flat lines across the swarm's N range, grouped by matched size."""
    fig = go.Figure()
    rows = df[(df["mode"] == mode) & ~df["failed"] & df[metric].notna()].copy()
    rows["pool"] = rows["model.pool_backend"] if "model.pool_backend" in rows else None
    swarm = rows[rows["model.n_encoders"].notna()].assign(series=lambda r: r["model"])
    k_values = sorted(swarm["model.top_k"].dropna().unique())
    for (model, k, pool), group in swarm.groupby(["model", "model.top_k", "pool"], dropna=False):
        g, older = newest_per_x(group, "model.n_encoders")
        loop = isinstance(pool, str) and pool not in ("auto", "grouped")
        name = f"{model} k={int(k)}" + (f" ({pool})" if loop else "")
        fig.add_trace(go.Scatter(x=g["model.n_encoders"], y=g[metric], mode="lines+markers", name=name,
                                 legendgroup="swarm", legendgrouptitle_text="swarm, by top-k",
                                 legendrank=100 + k_values.index(k),
                                 line={"color": model_color(model), "width": 1 + np.log2(k),
                                       "dash": "dot" if loop else "solid"},
                                 marker={"symbol": K_SYMBOLS[k_values.index(k) % len(K_SYMBOLS)], "size": 8},
                                 **series.marks(g.assign(series=name), metric, UNITS.get(metric, ""))))
        if not older.empty:
            fig.add_trace(go.Scatter(x=older["model.n_encoders"], y=older[metric], mode="markers", opacity=0.35,
                                     name=f"{name} older runs", legendgroup="swarm", showlegend=False,
                                     marker={"color": model_color(model)},
                                     **series.marks(older.assign(series=name), metric, UNITS.get(metric, ""))))
    span = [swarm["model.n_encoders"].min(), swarm["model.n_encoders"].max()] if not swarm.empty else [1, 1]
    base = baseline_groups(rows)
    base = base[base["kind"].isin(kinds) | base["kind"].isna()].assign(key=lambda b: data.point_keys(b))
    for i, (group, g) in enumerate(base.groupby("group", sort=False)):
        colour = GROUP_COLOURS[i % len(GROUP_COLOURS)]
        for _, b in g.iterrows():
            by = " by width" if b["kind"] == "params_total" and b["model"] == "transformer" else ""
            fig.add_trace(go.Scatter(
                x=span, y=[b[metric]] * 2, mode="lines", name=f"{b['model']}{by}", legendgroup=group,
                legendgrouptitle_text=group, legendrank=200 + i,
                line={"dash": BASELINE_DASHES.get(b["model"], "dashdot"), "color": colour, "width": 1.5},
                hovertext=f"{b['model']} {group}: {b[metric]:.4g} {UNITS.get(metric, '')}", hoverinfo="text",
                customdata=[b["key"]] * 2))
    fig.update_layout(xaxis={**ticks.log_axis(swarm["model.n_encoders"], binary=False), "title": "encoders N"},
                      yaxis={**ticks.log_axis(rows[metric], binary=False), "title": METRICS[metric]},
                      title=f"{METRICS[metric]} vs encoder count, {mode}",
                      height=max(560, 180 + 21 * len(fig.data) + 36 * (base["group"].nunique() + 1)),
                      legend={"groupclick": "toggleitem"}, meta={"colour": "baselines by matched size"})
    return fig


def router_figure(df: pd.DataFrame) -> go.Figure:
    """Router load balance at initialisation vs N: load entropy / log2 N (1 = even) and the
    share of encoders that ran, one line per top-k (swarm forward points)."""
    rows = df[(df["mode"] == "forward") & df["model.n_encoders"].notna()].copy()
    if "model.pool_backend" in rows:  # the per-encoder loop routes as the grouped pool does
        rows = rows[rows["model.pool_backend"] != "loop"]
    rows["n"] = rows["model.n_encoders"]
    rows["evenness"] = pd.to_numeric(rows.get("routing_load_entropy_bits"), errors="coerce") / np.log2(rows["n"])
    rows["used"] = pd.to_numeric(rows.get("routing_experts_used"), errors="coerce") / rows["n"]
    fig = go.Figure()
    for (model, k), group in rows.dropna(subset=["evenness"]).groupby(["model", "model.top_k"]):
        g, color = newest_per_x(group, "n")[0], model_color(model)
        fig.add_trace(go.Scatter(x=g["n"], y=g["evenness"], mode="lines+markers", name=f"{model} k={int(k)} evenness",
                                 line={"color": color, "width": 1 + np.log2(k)}, customdata=list(data.point_keys(g))))
        fig.add_trace(go.Scatter(x=g["n"], y=g["used"], mode="lines+markers", name=f"{model} k={int(k)} encoders used",
                                 line={"color": color, "width": 1 + np.log2(k), "dash": "dot"},
                                 customdata=list(data.point_keys(g))))
    fig.update_layout(xaxis={**ticks.log_axis(rows["n"], binary=False), "title": "encoders N"},
                      yaxis={"title": "share (load entropy / log2 N; encoders used / N)", "range": [0, 1.05]},
                      title="router load over one batch", legend_title="swarm, top-k")
    return fig
