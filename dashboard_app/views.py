"""One function per dashboard view: each takes the `Selection` (dashboard_app.cache), draws with
Streamlit, and shows an empty state naming the command to run. The tables and figures behind
a view are cached on the selection and the view's widget values, so only the view shown is
computed, and a widget change recomputes only what it feeds: tables as data (`_cached`, a copy
per rerun), figures as resources (`_shared`: built once, never changed, not unpickled per
rerun, which for a plotly figure costs as much as drawing it)."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard_app import cache, charts, data
from dashboard_app.cache import Selection
from harness.analysis import claims as claims_ledger
from harness.analysis.claims_catalog import CLAIMS

_cached = st.cache_data(show_spinner=False, max_entries=64)
_shared = st.cache_resource(show_spinner=False, max_entries=64)


def empty(what: str, command: str) -> None:
    """The empty state of a view: what is missing and the command that records it."""
    st.info(f"No {what} in the selection. Record some with `{command}`, or widen the filters.")


def _suite(sel: Selection, suite: str) -> pd.DataFrame:
    df = cache.selected(sel)
    return df[df["suite"] == suite]


@_cached
def _scaling_axes(sel: Selection) -> tuple[list[int], int | None]:
    rows = _suite(sel, "scaling")
    return sorted(rows["seq_len"].dropna().unique().astype(int)), charts.launch_bound_knee(rows)


@_shared
def _scaling_figures(sel: Selection, metric: str) -> list:
    rows = _suite(sel, "scaling")
    return [charts.scaling_figure(rows, metric, mode) for mode in sorted(rows["mode"].dropna().unique())]


@_cached
def _exponents(sel: Selection, metric: str, min_len: int) -> pd.DataFrame:
    return charts.exponents_table(_suite(sel, "scaling"), metric, min_len)


def scaling(sel: Selection) -> None:
    lengths, knee = _scaling_axes(sel)
    if not lengths:
        return empty("scaling results", "python run.py suite=scaling")
    metric = st.radio("metric", list(charts.METRICS), format_func=charts.METRICS.get, horizontal=True, key="scaling_metric")
    min_len = st.select_slider("fit exponents from L >=", lengths, value=knee if knee in lengths else lengths[0],
                               key="scaling_min_len")
    for i, fig in enumerate(_scaling_figures(sel, metric)):
        st.plotly_chart(fig, key=f"scaling_{i}")
    meaning = {"tokens_per_s": "~0 linear time, ~-1 quadratic"}.get(metric, "~1 linear, ~2 quadratic")
    st.caption(f"Fitted exponent of the metric in L (log-log least squares, 95% CI): {meaning}. "
               + (f"Fits start at L={knee:,} by default: below it latency does not yet grow with L in some model "
                  "(launch-bound), found from the data." if knee else ""))
    st.dataframe(_exponents(sel, metric, min_len), hide_index=True)


@_shared
def _encoders(sel: Selection, metric: str) -> tuple[list, object]:
    """The figures per mode, and the router figure (None without routing statistics)."""
    rows = _suite(sel, "encoders")
    router = charts.router_figure(rows) if rows["routing_load_entropy_bits"].notna().any() else None
    return [charts.encoders_figure(rows, metric, mode) for mode in sorted(rows["mode"].dropna().unique())], router


def encoders(sel: Selection) -> None:
    if _suite(sel, "encoders").empty:
        return empty("encoder-count results", "python run.py suite=encoders")
    metric = st.radio("metric", ["latency_ms_p50", "memory_mb", "tokens_per_s"], format_func=charts.METRICS.get,
                      horizontal=True, key="encoders_metric")
    figures, router = _encoders(sel, metric)
    for i, fig in enumerate(figures):
        st.plotly_chart(fig, key=f"encoders_{i}")
    if router is not None:
        st.plotly_chart(router, key="encoders_router")
        st.caption("Routing statistics of the measured batch (untrained router; the timing profiles lift the "
                   "capacity limit, so nothing is dropped).")


@_cached
def _decode_sweeps(sel: Selection) -> tuple[bool, bool, bool]:
    """Whether the selection holds decode points, a latency sweep, a largest-batch sweep."""
    rows = _suite(sel, "decode")
    return not rows.empty, bool((rows["sweep"] == "latency").any()), bool((rows["sweep"] == "max_batch").any())


@_shared
def _decode_figures(sel: Selection, metric: str) -> list:
    rows = _suite(sel, "decode")
    batches = rows.loc[rows["sweep"] == "latency", "batch_size"].dropna().unique().astype(int)
    return [charts.decode_figure(rows, metric, batch) for batch in sorted(batches)]


@_shared
def _max_batch_figure(sel: Selection):
    return charts.max_batch_figure(_suite(sel, "decode"))


def decode(sel: Selection) -> None:
    any_rows, latency, max_batch = _decode_sweeps(sel)
    if not any_rows:
        return empty("generation results", "python run.py suite=decode")
    if latency:
        metric = st.radio("metric", list(charts.DECODE_METRICS), format_func=charts.DECODE_METRICS.get,
                          horizontal=True, key="decode_metric")
        for i, fig in enumerate(_decode_figures(sel, metric)):
            st.plotly_chart(fig, key=f"decode_{i}")
        st.caption("Each model with and without CUDA graphs (dashed) where its step can be captured (the "
                   "Transformer then decodes from a StaticCache); compare solid with solid, dashed with dashed.")
    if max_batch:
        st.plotly_chart(_max_batch_figure(sel), key="decode_max_batch")


def loss_curves(records: list[dict]) -> pd.DataFrame:
    """Long table of the loss curves of the fixed-seed runs among `records`."""
    rows = []
    for record in records:
        loss, config = record.get("loss"), record.get("config") or {}
        if isinstance(loss, dict) and loss.get("curve"):
            tokens_per_step = config.get("batch_size", 1) * config.get("seq_len", 1)
            label = f"{config.get('model')}/{config.get('preset')} {record.get('run_id', '')[:15]} #{config.get('repeat', 0)}"
            rows += [{"model": config.get("model"), "label": label, "tokens": (i + 1) * tokens_per_step, "loss": v}
                     for i, v in enumerate(loss["curve"]) if v is not None]
    return pd.DataFrame(rows, columns=["model", "label", "tokens", "loss"])


@_cached
def _quality_tables(sel: Selection) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Bits per byte, synthetic-task accuracy and loss curves of the selected records."""
    # imported here, when the view is first shown: harness.quality.synthetic_tasks imports torch (seconds)
    from harness.analysis import quality_report

    records = cache.records_of(sel, cache.selected(sel))
    return quality_report.bpb_table(records), quality_report.synthetic_table(records), loss_curves(records)


@_shared
def _quality_figures(sel: Selection) -> tuple[list, object]:
    """A figure per synthetic task, and the loss curves' figure (None without curves)."""
    from harness.quality.synthetic_tasks import TASKS  # imports torch: see _quality_tables

    _, synthetic, curves = _quality_tables(sel)
    tasks = [] if synthetic.empty else sorted(synthetic["task"].unique())
    trained = {task: max(int(n) for row in synthetic.loc[synthetic["task"] == task, "trained at"]
                         for n in row.split("/")) for task in tasks}
    return ([charts.synthetic_figure(synthetic, task, 1 / TASKS[task].answers, trained[task]) for task in tasks],
            None if curves.empty else charts.loss_curves_figure(curves))


def quality(sel: Selection) -> None:
    table, synthetic, curves = _quality_tables(sel)
    task_figures, curves_figure = _quality_figures(sel)
    if not table.empty:
        if table[["corpus", "tokenizer"]].drop_duplicates().shape[0] > 1:
            st.error("The selection mixes corpora or tokenizers; filter to one run: their bits per byte do not compare.")
        else:
            st.dataframe(table.sort_values("mean bpb"), hide_index=True)
            st.caption("Held-out bits per byte per domain (lower is better), each model trained from scratch on the "
                       "same tokens. Routed models scored with capacity limits ('limited') lose dropped chunks.")
    if not synthetic.empty:
        for i, fig in enumerate(task_figures):
            st.plotly_chart(fig, key=f"synthetic_{i}")
        st.dataframe(synthetic, hide_index=True)
        st.caption("Synthetic tasks (harness.quality.synthetic_tasks): each model trained from scratch on each task, "
                   "then scored on fresh sequences; lengths right of the dashed line were never trained on.")
    if curves.empty and table.empty and synthetic.empty:
        return empty("training results", "python run.py suite=quality")
    if not curves.empty:
        st.plotly_chart(curves_figure, key="quality_curves")
        st.caption("Seeded short runs on bigram data (suite=regression).")


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
    return charts.pareto_figure(points[points["gpu"] == device], "latency_ms_p50", "loss_final",
                                "training step latency, median over the suite's shapes (ms)",
                                "loss after the fixed-seed run (nats/token)")


def efficiency(sel: Selection) -> None:
    points = _efficiency_points(sel)
    if points.empty:
        return empty("points with both a fixed-seed loss and a training-step latency", "python run.py suite=regression")
    devices = sorted(points["gpu"].unique(), key=lambda g: (g == "cpu", g))  # a GPU first
    device = st.selectbox("device (a front only compares points measured on one)", devices, key="efficiency_device")
    st.plotly_chart(_pareto_figure(sel, device), key="efficiency_pareto")
    st.dataframe(points[points["gpu"] == device], hide_index=True)


@_cached
def _achieved(sel: Selection) -> tuple[dict, pd.DataFrame]:
    """(ceilings by GPU, achieved rows); the signature covers the ceilings*.json files."""
    ceilings = data.load_ceilings(sel.store)
    return ceilings, charts.achieved_table(cache.selected(sel), ceilings)


@_shared
def _achieved_figure(sel: Selection):
    return charts.achieved_figure(_achieved(sel)[1])


def achieved(sel: Selection) -> None:
    ceilings, rows = _achieved(sel)
    if rows.empty:
        return empty("GPU results with a measured ceiling",
                     "python -m benchmarks.ceilings --out <store>/ceilings.json, and python run.py suite=scaling")
    st.plotly_chart(_achieved_figure(sel), key="achieved")
    shown = sorted(set(rows["gpu"]))
    st.caption("Model FLOPs are analytic (params and attention/scan terms); ceilings, per GPU: " + "; ".join(
        f"{g}: best BF16 GEMM measured {ceilings[g]['measured']:.0f} TF/s (datasheet "
        f"{ceilings[g]['spec'] or float('nan'):.0f})"
        + (f", device copy {ceilings[g]['copy_gb_s']:.0f} GB/s" if ceilings[g].get("copy_gb_s") else "") for g in shown))
    st.dataframe(rows[["model", "mode", "seq_len", "achieved_tflops", "share_of_measured", "share_of_spec"]],
                 hide_index=True)


VERDICT_COLOURS = {"supported": "#d4edda", "refuted": "#f8d7da", "inconclusive": "#fff3cd", "not measured": "#e2e3e5",
                   "filtered out": "#e2e3e5"}


def claims_rows(selected: pd.DataFrame, whole: pd.DataFrame) -> pd.DataFrame:
    """The ledger over the selected points; a claim the selection cannot decide but the whole
    store can is `filtered out` (with the store's verdict), not `not measured`."""
    chosen = claims_ledger.evaluate_all(selected, CLAIMS)
    unfiltered = len(selected) == len(whole) or not any(r["verdict"] == "not measured" for r in chosen)
    everywhere = {r["id"]: r for r in (chosen if unfiltered else claims_ledger.evaluate_all(whole, CLAIMS))}
    rows = []
    for r in chosen:
        verdict, detail = r["verdict"], r["detail"]
        store_verdict = everywhere[r["id"]]["verdict"]
        if verdict == "not measured" and store_verdict != "not measured":
            verdict, detail = "filtered out", f"the sidebar filters leave out its points (whole store: {store_verdict})"
        rows.append({"verdict": verdict, "claim": r["text"], "key figure": detail,
                     "claim's conditions": r["claim_conditions"], "rule": r["rule"], "source": r["source"],
                     "points": ", ".join(r["points"])})
    return pd.DataFrame(rows)


@_cached
def _devices(store: str, signature: tuple) -> list[str]:
    """The store's devices, the most recently measured first."""
    whole = cache.table(store, signature)
    return list(dict.fromkeys(claims_ledger.device_of(whole.sort_values("created_at", ascending=False))))


@_cached
def _claims_rows(sel: Selection, device: str | None) -> pd.DataFrame:
    df, whole = cache.selected(sel), cache.table(sel.store, sel.signature)
    if device is not None:
        df, whole = df[claims_ledger.device_of(df) == device], whole[claims_ledger.device_of(whole) == device]
    return claims_rows(df, whole)


def claims(sel: Selection) -> None:
    """The claims ledger (harness.analysis.claims) over the selected points of one GPU (a ratio
    never mixes two), verdicts coloured."""
    devices = _devices(sel.store, sel.signature)
    device = st.selectbox("GPU (one ledger per GPU)", devices, key="claims_device") if len(devices) > 1 else None
    view = _claims_rows(sel, device)
    counts = view["verdict"].value_counts()
    st.caption(" · ".join(f"{n} {v}" for v, n in counts.items())
               + ". Verdicts come from the selected points only; `swarm-bench claims store=<dir>` writes the report.")
    shown = st.multiselect("verdict", list(VERDICT_COLOURS), default=[v for v in VERDICT_COLOURS if v in counts.index],
                           key="claims_verdicts")
    view = view[view["verdict"].isin(shown)]
    styled = view.style.apply(lambda col: [f"background-color: {VERDICT_COLOURS.get(v, '')}" for v in col],
                              subset=["verdict"])
    st.dataframe(styled, hide_index=True, height=min(38 * (len(view) + 1), 900), column_config={
        "claim": st.column_config.TextColumn(width="large"), "key figure": st.column_config.TextColumn(width="large"),
        "rule": st.column_config.TextColumn(width="medium")})


@_cached
def _csv(sel: Selection) -> bytes:
    return cache.selected(sel).to_csv(index=False).encode()


def table(sel: Selection) -> None:
    df = cache.selected(sel)
    failed = df[df["failed"]]
    if not failed.empty:
        st.warning(f"{len(failed)} failed point(s) in the selection: "
                   + ", ".join(f"{s} {n}" for s, n in failed["status"].value_counts().items()))
    st.dataframe(df, hide_index=True)
    st.download_button("download CSV", _csv(sel), "swarm-bench-results.csv", "text/csv",
                       key="download_csv")
