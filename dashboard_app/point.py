"""One point's record, for the Point view (no Streamlit): its one-line label, the headline
numbers of its (pooled) row, its timing samples per process as a histogram, the per-point
overhead breakdown, the error text of a failed process, the torch.profiler trace a
`profile=true` run wrote beside the record, and the environment as a table."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboard_app import series, ticks
from dashboard_app.charts import PALETTE, model_color

OVERHEAD = {"process_start": "process start", "import": "imports", "build": "model and inputs",
            "first_call": "first call (kernels, compilation)", "measure": "measurement"}


def _plain(v) -> str:
    """A size as text: 4096 -> 4K, 3000 -> 3K, 4 -> 4."""
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "-"
    return ticks.label(float(v), binary=float(v) > 0 and np.log2(float(v)).is_integer())


def label(row: pd.Series) -> str:
    """e.g. `scaling · transformer forward L=4K B=4 bf16 · H200 · ok`; N and k for a swarm,
    the sweep and CUDA graphs for decode, the task for a synthetic run."""
    sizes = f"L={_plain(row.get('seq_len'))} B={_plain(row.get('batch_size'))}"
    if pd.notna(row.get("model.n_encoders")):
        sizes += f" N={int(row['model.n_encoders'])} k={int(row['model.top_k'])}"
    extra = " ".join(str(row[c]) for c in ("sweep", "synthetic_task", "label") if c in row and pd.notna(row[c]))
    graphs = " CUDA graphs" if str(row.get("decode_series", "")).endswith("(CUDA graphs)") else ""
    return (f"{row['suite']} · {row['model']} {row['mode']} {sizes} {row['dtype']}{graphs}"
            + (f" {extra}" if extra else "") + f" · {series.short_gpu(row['gpu'])} · {row['status']}")


def _number(v: float, unit: str) -> str:
    """Short enough for a metric: 20.8 ms, 788K tokens/s, 9.96 GiB."""
    if unit == "MiB" and abs(v) >= 1024:
        return f"{v / 1024:.3g} GiB"
    return (ticks.label(v) if abs(v) >= 10_000 else f"{v:.4g}") + (f" {unit}" if unit else "")


def headline(row: pd.Series) -> list[tuple[str, str, str]]:
    """(name, value, detail) of the row's headline numbers: median latency (its 95% CI the
    detail), throughput, memory, bits per byte or final loss, processes."""
    out = []
    if pd.notna(row.get("latency_ms_p50")):
        ci = (f"95% CI [{row['latency_ms_ci_lo']:.4g}, {row['latency_ms_ci_hi']:.4g}] ms"
              if pd.notna(row.get("latency_ms_ci_lo")) else "no CI")
        out.append(("median latency", _number(row["latency_ms_p50"], "ms"), ci))
    for column, name, unit in (("tokens_per_s", "throughput", "tokens/s"), ("memory_mb", "peak memory", "MiB"),
                               ("test_bpb_mean", "held-out bits/byte", ""), ("loss_final", "final loss", "nats")):
        if pd.notna(row.get(column)):
            out.append((name, _number(row[column], unit), ""))
    total = len(row.get("process_point_ids") or [1])
    out.append(("processes", f"{int(row.get('processes') or 0)} ok of {total}", "pooled: geometric mean of the "
                "process medians, between-process CI" if total > 1 else ""))
    return out


def samples(records: list[dict]) -> pd.DataFrame:
    """Every timing sample of the records: process (its repeat), what was timed, ms."""
    rows = []
    for record in records:
        process = f"process {(record.get('config') or {}).get('repeat', 0)}"
        for what, values in (("step", record.get("samples_ms")),
                             ("prefill", (record.get("decode") or {}).get("prefill_samples_ms"))):
            rows += [{"process": process, "timed": what, "ms": v} for v in values or [] if v is not None]
    return pd.DataFrame(rows, columns=["process", "timed", "ms"])


def samples_figure(frame: pd.DataFrame, model: str, median: float | None) -> go.Figure:
    """A histogram of the step samples per process (overlaid), prefill samples beside them,
    the pooled median as a line."""
    fig = go.Figure()
    processes = sorted(frame["process"].unique())
    for (what, process), g in frame.groupby(["timed", "process"]):
        color = model_color(model) if len(processes) == 1 else PALETTE[processes.index(process) % len(PALETTE)]
        fig.add_trace(go.Histogram(x=g["ms"], name=f"{what}, {process} ({len(g)})", opacity=0.6,
                                   marker={"color": color}, xaxis="x2" if what == "prefill" else "x"))
    if median is not None and np.isfinite(median):
        fig.add_vline(x=median, line_dash="dash", annotation_text=f"median {median:.4g} ms")
    layout = {"barmode": "overlay", "title": "timing samples (ms per timed call)", "height": 340,
              "xaxis": {"title": "ms per step" + (", and per prefill (right)" if "prefill" in set(frame["timed"])
                                                   else "")}, "yaxis": {"title": "samples"}}
    if "prefill" in set(frame["timed"]):
        layout.update(xaxis={**layout["xaxis"], "domain": [0, 0.62]},
                      xaxis2={"domain": [0.68, 1], "title": "ms per prefill", "anchor": "y"})
    fig.update_layout(**layout)
    return fig


def overhead(record: dict) -> pd.DataFrame:
    """The point's wall time split into its phases (seconds), the rest as `other`."""
    parts = record.get("overhead_s") or {}
    rows = [{"phase": OVERHEAD[k], "s": float(parts[k])} for k in OVERHEAD if isinstance(parts.get(k), (int, float))]
    wall = parts.get("wall")
    if isinstance(wall, (int, float)) and rows and wall > sum(r["s"] for r in rows):
        rows.append({"phase": "other", "s": wall - sum(r["s"] for r in rows)})
    return pd.DataFrame(rows, columns=["phase", "s"])


def overhead_figure(frame: pd.DataFrame, wall: float | None) -> go.Figure:
    fig = go.Figure()
    for i, (_, r) in enumerate(frame.iterrows()):
        fig.add_trace(go.Bar(x=[r["s"]], y=["wall"], orientation="h", name=f"{r['phase']} {r['s']:.2f} s",
                             marker={"color": PALETTE[i % len(PALETTE)]}))
    fig.update_layout(barmode="stack", height=200, xaxis={"title": "seconds"},
                      title="where the point's wall time went" + (f" ({wall:.1f} s)" if wall else ""))
    return fig


def trace_file(store: str, source: str, record: dict) -> Path | None:
    """The torch.profiler trace the record names (`profile.trace`, beside the record), or None."""
    name = (record.get("profile") or {}).get("trace")
    return Path(store) / source / name if name else None


def environment(record: dict) -> pd.DataFrame:
    """The record's environment (env, packages flattened) as setting / value rows."""
    env = dict(record.get("env") or {})
    packages = env.pop("packages", None) or {}
    rows = [{"setting": k, "value": str(v)} for k, v in sorted(env.items())]
    rows += [{"setting": f"package {k}", "value": str(v)} for k, v in sorted(packages.items())]
    return pd.DataFrame(rows, columns=["setting", "value"])
