"""The Quality view: held-out bits per byte of `suite=quality` as a heatmap per corpus (model x
domain, mean ± half the seed range, the best per domain starred) with the per-seed table beside
it, synthetic-task accuracy against length, the calibration and features tables, the runs that
did not end ok, and learning curves (corpus training, synthetic tasks, fixed-seed runs) with run
selection and smoothing. Cached like dashboard_app.views; harness.analysis.quality_report is
imported when the view is first shown (it imports torch, for the synthetic tasks' chance levels)."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard_app import cache, charts_quality
from dashboard_app.cache import Selection
from dashboard_app.views import empty

_cached = st.cache_data(show_spinner=False, max_entries=64)
_shared = st.cache_resource(show_spinner=False, max_entries=64)


@_cached
def _quality_tables(sel: Selection) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Bits per byte, synthetic-task accuracy and learning curves of the selected records."""
    from harness.analysis import quality_report

    records = cache.records_of(sel, cache.selected(sel))
    bpb = quality_report.bpb_table(records)
    if not bpb.empty:  # a model at several sizes is one row per size
        bpb["model"] = [m if size in ("-", None) else f"{m} ({size})" for m, size in zip(bpb["model"], bpb["size"])]
    return bpb, quality_report.synthetic_table(records), charts_quality.curves(records)


@_cached
def _calibration(sel: Selection) -> pd.DataFrame:
    """Ours against the published figures of suite.calibration (harness.analysis.calibration_report)."""
    from harness.analysis import calibration_report

    records = cache.records_of(sel, cache.selected(sel))
    return calibration_report.table(records, calibration_report.published_settings())


@_cached
def _features(sel: Selection) -> pd.DataFrame:
    """The swarm's features against their baselines (harness.analysis.features_report); forward
    latency from the selected suite=scaling records of the same configs."""
    from harness.analysis import features_report

    records = cache.records_of(sel, cache.selected(sel))
    return features_report.table(records, features_report.shipped_feature_models(), records)


@_cached
def _failed(sel: Selection) -> tuple[pd.DataFrame, str]:
    """The selected suite=quality runs that did not end ok, and the report's heading for them
    (harness.analysis.quality_report)."""
    from harness.analysis import quality_report

    records = cache.records_of(sel, cache.selected(sel))
    table = quality_report.not_ok_table([r for r in records if (r.get("config") or {}).get("suite") == "quality"])
    return table, quality_report.NOT_OK_HEADING


@_shared
def _task_figures(sel: Selection) -> list:
    """A figure per synthetic task."""
    from harness.quality.synthetic_tasks import TASKS

    synthetic = _quality_tables(sel)[1]
    tasks = [] if synthetic.empty else sorted(synthetic["task"].unique())
    trained = {task: max(int(n) for row in synthetic.loc[synthetic["task"] == task, "trained at"]
                         for n in row.split("/")) for task in tasks}
    return [charts_quality.synthetic_figure(synthetic, task, 1 / TASKS[task].answers, trained[task]) for task in tasks]


@_shared
def _heatmaps(sel: Selection) -> list[tuple[str, object]]:
    """(corpus and tokenizer, heatmap) per corpus: runs on different corpora never share one."""
    table = _quality_tables(sel)[0]
    return [(f"corpus {corpus}, tokenizer {tok}", charts_quality.bpb_heatmap(group))
            for (corpus, tok), group in table.groupby(["corpus", "tokenizer"], sort=False)]


@_shared
def _curves_figure(sel: Selection, kind: str, labels: tuple[str, ...], smoothing: float):
    curves = _quality_tables(sel)[2]
    return charts_quality.curves_figure(curves[curves["kind"] == kind], list(labels), smoothing)


def quality(sel: Selection) -> None:
    table, synthetic, curves = _quality_tables(sel)
    if curves.empty and table.empty and synthetic.empty:
        return empty("training results", "python run.py suite=quality")
    if not table.empty:
        for i, (corpus, fig) in enumerate(_heatmaps(sel)):
            st.plotly_chart(fig, key=f"quality_bpb_{i}")
            st.caption(f"{corpus}. Held-out bits per byte per domain (lower is better), each model trained from "
                       "scratch on the same tokens; colour: how far above the domain's best. Routed models scored "
                       "with capacity limits ('limited') lose dropped chunks. Runs on different corpora are never "
                       "drawn in one chart.")
        with st.expander("bits per byte per seed"):
            st.dataframe(table.sort_values(["corpus", "mean bpb", "seed"]), hide_index=True)
    if not synthetic.empty:
        for i, fig in enumerate(_task_figures(sel)):
            st.plotly_chart(fig, key=f"synthetic_{i}")
        st.caption("Synthetic tasks (harness.quality.synthetic_tasks): each model trained from scratch on each task, "
                   "then scored on fresh sequences; lengths right of the dashed line were never trained on.")
        with st.expander("accuracy per task, model and seed"):
            st.dataframe(synthetic, hide_index=True)
    calibration = _calibration(sel)
    if not calibration.empty:
        shown = calibration[calibration["published"].notna()]
        st.subheader("calibration: ours against published results")
        st.caption(f"{(shown['reproduces'] == 'yes').sum()} of {len(shown)} rows with a published figure reproduce "
                   "(the published accuracy inside our 95% Wilson interval); 'steps' ran of 'paper steps', and why "
                   "training stopped (suites/quality_calibration.py).")
        st.dataframe(calibration, hide_index=True)
    features = _features(sel)
    if not features.empty:
        st.subheader("the swarm's features against their baselines")
        st.caption("suite=quality suite.parts=[features]: each variant trained at its baseline's budget, paired per "
                   "seed (Δ = variant - baseline, mean ± half the range); weights at fp32; forward latency where "
                   "suite=scaling timed the same config ('-': not timed).")
        st.dataframe(features, hide_index=True)
    failed, heading = _failed(sel)
    if not failed.empty:
        with st.expander(f"{len(failed)} {heading[0].lower()}{heading[1:]}"):
            st.dataframe(failed, hide_index=True)
    if not curves.empty:
        _curves(sel, curves)


def _curves(sel: Selection, curves: pd.DataFrame) -> None:
    kinds = [k for k in charts_quality.CURVE_KINDS if (curves["kind"] == k).any()]
    kind = st.radio("learning curves", kinds, format_func=charts_quality.CURVE_KINDS.get, horizontal=True,
                    key="quality_curve_kind")
    shown = curves[curves["kind"] == kind]
    if kind == "synthetic":
        task = st.selectbox("task", sorted(shown["task"].dropna().unique()), key="quality_curve_task")
        shown = shown[shown["task"] == task]
    left, right = st.columns([3, 1])
    labels = list(dict.fromkeys(shown["label"]))
    chosen = left.multiselect("runs", labels, default=charts_quality.default_curves(shown),
                              key=f"quality_runs_{kind}_{shown['task'].iloc[0] if kind == 'synthetic' else ''}")
    smoothing = right.slider("smoothing (share of each run)", 0.0, 0.2, 0.02, 0.01, key="quality_smoothing")
    st.plotly_chart(_curves_figure(sel, kind, tuple(chosen), smoothing), key="quality_curves")
    st.caption("Training loss against tokens trained, smoothed by an exponential moving average (the raw curve "
               "faint behind it). The fixed-seed runs are suite=regression's seeded short runs on bigram data.")
