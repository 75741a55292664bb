"""One function per performance view (Scaling, Encoders, Decode, Efficiency, Achieved vs
limit): each takes the `Selection` (dashboard_app.cache), draws with Streamlit, and shows an
empty state naming the command to run. The tables and figures behind a view are cached on
the selection and the view's widget values, so only the view shown is computed, and a widget
change recomputes only what it feeds: tables as data (`_cached`, a copy per rerun), figures
as resources (`_shared`: built once, never changed, not unpickled per rerun, which for a
plotly figure costs as much as drawing it). Charts are drawn through dashboard_app.views_point,
so a click on a point shows its record."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard_app import cache, charts, charts_quality, charts_swarm, data, series, views_point
from dashboard_app.cache import Selection

_cached = st.cache_data(show_spinner=False, max_entries=64)
_shared = st.cache_resource(show_spinner=False, max_entries=64)
MEANING = {"tokens_per_s": "~0 linear time, ~-1 quadratic", "energy_j_per_token": "~0 linear, ~1 quadratic (per token)"}
DECODE_CONFIG = tuple(c for c in series.CONFIG if c != "batch_size")  # decode charts hold one batch, or span them


def empty(what: str, command: str) -> None:
    """The empty state of a view: what is missing and the command that records it."""
    st.info(f"No {what} in the selection. Record some with `{command}`, or widen the filters.")


def _suite(sel: Selection, suite: str) -> pd.DataFrame:
    df = cache.selected(sel)
    return df[df["suite"] == suite]


def _gpu(sel: Selection, suite: str, key: str) -> str | None:
    """The GPU a view shows (a selector where the suite's points span several), or None."""
    gpus = sorted(_suite(sel, suite)["gpu"].astype(str).unique(), key=lambda g: (g == "cpu", g))
    if len(gpus) < 2:
        return gpus[0] if gpus else None
    return st.selectbox("GPU (one at a time: a line never joins two GPUs)", gpus, key=key)


@_cached
def _scaling_rows(sel: Selection) -> pd.DataFrame:
    """The scaling points, each in its series (a model on one GPU in one config)."""
    return series.assign(_suite(sel, "scaling"))


@_cached
def _scaling_axes(sel: Selection) -> tuple[list[int], int | None]:
    rows = _scaling_rows(sel)
    return sorted(rows["seq_len"].dropna().unique().astype(int)), charts.launch_bound_knee(rows)


@_shared
def _scaling_figures(sel: Selection, metric: str, min_len: int) -> list:
    rows = _scaling_rows(sel)
    return [charts.scaling_figure(rows, metric, mode, min_len) for mode in sorted(rows["mode"].dropna().unique())]


@_cached
def _exponents(sel: Selection, metric: str, min_len: int) -> pd.DataFrame:
    return charts.exponents_table(_scaling_rows(sel), metric, min_len)


def scaling(sel: Selection) -> None:
    lengths, knee = _scaling_axes(sel)
    if not lengths:
        return empty("scaling results", "python run.py suite=scaling")
    metric = st.radio("metric", list(charts.METRICS), format_func=charts.METRICS.get, horizontal=True, key="scaling_metric")
    min_len = st.select_slider("fit exponents from L >=", lengths, value=knee if knee in lengths else lengths[0],
                               key="scaling_min_len")
    for i, fig in enumerate(_scaling_figures(sel, metric, min_len)):
        views_point.chart(fig, f"scaling_{i}", sel)
    st.caption("One line per model on one GPU in one config (dash: GPU; the sidebar narrows them), bars: 95% CI, "
               "dotted: the fitted power law. Status row: ● measured, ✕ failed (the hover says why), ○ not run. "
               "Click a point for its record.")
    st.caption(f"Fitted exponent of the metric in L (log-log least squares, 95% CI): "
               f"{MEANING.get(metric, '~1 linear, ~2 quadratic')}. "
               + (f"Fits start at L={knee:,} by default: below it latency does not yet grow with L in some series "
                  "(launch-bound), found from the data." if knee else ""))
    st.dataframe(_exponents(sel, metric, min_len), hide_index=True)


@_shared
def _encoders(sel: Selection, metric: str, gpu: str | None, kinds: tuple[str, ...]) -> tuple[list, object]:
    """The figures per mode, and the router figure (None without routing statistics)."""
    rows = _suite(sel, "encoders")
    rows = rows[rows["gpu"] == gpu] if gpu else rows
    router = charts_swarm.router_figure(rows) if rows["routing_load_entropy_bits"].notna().any() else None
    return [charts_swarm.encoders_figure(rows, metric, mode, kinds)
            for mode in sorted(rows["mode"].dropna().unique())], router


def encoders(sel: Selection) -> None:
    rows = _suite(sel, "encoders")
    if rows.empty:
        return empty("encoder-count results", "python run.py suite=encoders")
    if rows["model.n_encoders"].isna().all():
        st.info("The selection holds only the matched baselines, no swarm points: the chart draws the baselines "
                "across the swarm's encoder counts, so add the swarm to the model filter.")
    gpu = _gpu(sel, "encoders", "encoders_gpu")
    metric = st.radio("metric", ["latency_ms_p50", "memory_mb", "tokens_per_s"], format_func=charts.METRICS.get,
                      horizontal=True, key="encoders_metric")
    kinds = st.pills("matched baselines", list(charts_swarm.KINDS), selection_mode="multi",
                     default=list(charts_swarm.KINDS), format_func=charts_swarm.KINDS.get, key="encoders_baselines")
    figures, router = _encoders(sel, metric, gpu, tuple(kinds or ()))
    for i, fig in enumerate(figures):
        views_point.chart(fig, f"encoders_{i}", sel)
    st.caption("Swarm lines in the swarm's colour, one per top-k (wider, another marker per k; the per-encoder loop "
               "dotted). Baselines flat, one colour per swarm size they are matched to (dash: mamba, dot: "
               "transformer); click a legend group title to hide it.")
    if router is not None:
        views_point.chart(router, "encoders_router", sel)
        st.caption("Routing statistics of the measured batch (untrained router; the timing profiles lift the "
                   "capacity limit, so nothing is dropped).")


@_cached
def _decode_rows(sel: Selection, gpu: str | None) -> pd.DataFrame:
    rows = _suite(sel, "decode")
    return series.assign(rows[rows["gpu"] == gpu] if gpu else rows, within=("decode_series",), vary=DECODE_CONFIG)


@_shared
def _decode_figures(sel: Selection, metric: str, gpu: str | None) -> list:
    rows = _decode_rows(sel, gpu)
    batches = rows.loc[rows["sweep"] == "latency", "batch_size"].dropna().unique().astype(int)
    return [charts.decode_figure(rows, metric, batch) for batch in sorted(batches)]


@_shared
def _max_batch_figure(sel: Selection, gpu: str | None):
    return charts.max_batch_figure(_decode_rows(sel, gpu))


def decode(sel: Selection) -> None:
    rows = _suite(sel, "decode")
    if rows.empty:
        return empty("generation results", "python run.py suite=decode")
    gpu = _gpu(sel, "decode", "decode_gpu")
    shown = rows[rows["gpu"] == gpu] if gpu else rows
    if (shown["sweep"] == "latency").any():
        metric = st.radio("metric", list(charts.DECODE_METRICS), format_func=charts.DECODE_METRICS.get,
                          horizontal=True, key="decode_metric")
        for i, fig in enumerate(_decode_figures(sel, metric, gpu)):
            views_point.chart(fig, f"decode_{i}", sel)
        st.caption("Each model with and without CUDA graphs (dashed) where its step can be captured (the "
                   "Transformer then decodes from a StaticCache); compare solid with solid, dashed with dashed. "
                   "Status row: ● measured, ✕ did not fit (or failed), ○ not run.")
    if (shown["sweep"] == "max_batch").any():
        views_point.chart(_max_batch_figure(sel, gpu), "decode_max_batch", sel)


@_cached
def _efficiency_points(sel: Selection) -> pd.DataFrame:
    """Fixed-seed loss joined to training-step latency, per model, width, device and directory."""
    df = cache.selected(sel)
    loss = df[(df["mode"] == "loss") & df["loss_final"].notna()]
    train = df[(df["mode"] == "train") & ~df["failed"] & (df["suite"] == "regression")]
    keys = ["model", "model.d_model", "gpu", "source"]
    keys = [k for k in keys if k in df.columns]
    points = (loss.groupby(keys, dropna=False)["loss_final"].median().to_frame()
              .join(train.groupby(keys, dropna=False)["latency_ms_p50"].median(), how="inner").reset_index())
    points["label"] = points["model"] + " (" + points["source"].astype(str) + ")"
    return points


@_shared
def _pareto_figure(sel: Selection, device: str):
    points = _efficiency_points(sel)
    return charts_quality.pareto_figure(points[points["gpu"] == device], "latency_ms_p50", "loss_final",
                                        "training step latency, median over the suite's shapes (ms)",
                                        "loss after the fixed-seed run (nats/token)")


def efficiency(sel: Selection) -> None:
    points = _efficiency_points(sel)
    if points.empty:
        return empty("points with both a fixed-seed loss and a training-step latency", "python run.py suite=regression")
    devices = sorted(points["gpu"].unique(), key=lambda g: (g == "cpu", g))  # a GPU first
    device = st.selectbox("device (a front only compares points measured on one)", devices, key="efficiency_device")
    st.plotly_chart(_pareto_figure(sel, device), key="efficiency_pareto")
    st.caption("Each point pools a model's fixed-seed runs and training steps (medians); their records are in "
               "Table (filter suite=regression).")
    st.dataframe(points[points["gpu"] == device], hide_index=True)


@_cached
def _achieved(sel: Selection) -> tuple[dict, pd.DataFrame]:
    """(ceilings by GPU, achieved rows); the signature covers the ceilings*.json files."""
    ceilings = data.load_ceilings(sel.store)
    return ceilings, charts.achieved_table(cache.selected(sel), ceilings)


@_shared
def _achieved_figure(sel: Selection, gpu: str, suite: str, batch: int):
    ceilings, rows = _achieved(sel)
    return charts.achieved_figure(charts.achieved_slice(rows, gpu, suite, batch), ceilings[gpu])


def achieved(sel: Selection) -> None:
    """Achieved model FLOP/s against one GPU's measured and datasheet ceilings, one suite and
    batch size at a time."""
    ceilings, rows = _achieved(sel)
    if rows.empty:
        return empty("GPU results with a measured ceiling",
                     "python -m benchmarks.ceilings --out <store>/ceilings.json, and python run.py suite=scaling")
    left, middle, right = st.columns(3)
    newest_first = rows.sort_values("created_at", ascending=False) if "created_at" in rows else rows
    gpu = left.selectbox("GPU", list(dict.fromkeys(newest_first["gpu"])), key="achieved_gpu")
    on_gpu = rows[rows["gpu"] == gpu]
    suites = sorted(set(on_gpu["suite"]), key=lambda s: (s != "scaling", s))  # the length sweep first
    suite = middle.selectbox("suite", suites, key="achieved_suite")
    in_suite = on_gpu.loc[on_gpu["suite"] == suite, "batch_size"]
    batches = sorted(set(in_suite), key=lambda b: (-(in_suite == b).sum(), b))  # the most measured first
    batch = right.selectbox("batch size", batches, key="achieved_batch")
    views_point.chart(_achieved_figure(sel, gpu, suite, int(batch)), "achieved", sel)
    c = ceilings[gpu]
    st.caption(f"Model FLOPs are analytic (params and attention/scan terms; a training step counts 3x the forward). "
               f"{gpu}: best BF16 GEMM measured {c['measured']:.0f} TF/s (the 100% line), datasheet "
               f"{c['spec'] or float('nan'):.0f} TF/s (dashed)"
               + (f", device copy {c['copy_gb_s']:.0f} GB/s" if c.get("copy_gb_s") else "") + ".")
    shown = charts.achieved_slice(rows, gpu, suite, int(batch)).sort_values(["model", "mode", "seq_len"])
    percent = st.column_config.NumberColumn(format="%.1f%%")
    st.dataframe(shown[["model", "mode", "seq_len", "achieved_tflops"]].assign(
        of_measured=100 * shown["share_of_measured"], of_datasheet=100 * shown["share_of_spec"]),
        hide_index=True, column_config={"achieved_tflops": st.column_config.NumberColumn("TF/s", format="%.1f"),
                                        "of_measured": percent, "of_datasheet": percent})
