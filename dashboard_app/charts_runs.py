"""The Runs and History views' figures, pure functions of dashboard_app.runs and
dashboard_app.history tables: a point's metric over commits or dates with its 95% band and
the gate's step verdicts, and the forest of candidate / baseline latency ratios."""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from dashboard_app import ticks
from dashboard_app.charts import METRICS, PALETTE

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
                                 customdata=list(g["record"]),
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
    yaxis = ticks.log_axis(values, binary=False) if log else {"type": "linear"}
    fig.update_layout(xaxis=xaxis, yaxis={**yaxis, "title": METRICS[metric]},
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
        fig.add_vline(x=x, line_dash=dash, line_color="#7f7f7f")  # plotly.js v4: a shape on a log axis in data units
    fig.update_layout(xaxis={"type": "log", "title": "latency ratio, candidate / baseline (gate's per-point CI)"},
                      yaxis={"tickvals": list(range(len(points))), "ticktext": points, "autorange": "reversed"},
                      height=max(320, 26 * len(points) + 140), title="latency ratio per point",
                      legend_title="candidate")
    return fig
