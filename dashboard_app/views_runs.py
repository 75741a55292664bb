"""The Runs and History views, over the `Selection` (dashboard_app.cache) like the others: the
regression gate between any number of runs of the selection, and a point's metric over commits
or dates. Their data come from dashboard_app.runs and dashboard_app.history, cached here on the
selection and the widget values (tables as data, figures as shared resources, as in
dashboard_app.views)."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard_app import cache, charts, charts_runs, data, history, runs, views, views_point
from dashboard_app.cache import Selection
from harness.analysis import compare, compare_report

_cached = st.cache_data(show_spinner=False, max_entries=64)
_shared = st.cache_resource(show_spinner=False, max_entries=64)
ENV_COLUMNS = ["gpu", "torch_version", "cuda_version", "mamba_ssm_version", "transformers_version", "driver_version",
               "git_sha", "dtype"]


@_cached
def _catalogue(sel: Selection, unit: str) -> tuple[pd.DataFrame, list[str]]:
    """The runs of the selection, newest first, and the default pair."""
    df = cache.selected(sel)
    return runs.catalogue(df, unit), runs.default_runs(df, unit)


@_cached
def _gate(sel: Selection, unit: str, baseline: str, candidates: tuple[str, ...], threshold: float):
    """runs.gate over the selected records of each chosen run."""
    df = cache.selected(sel)
    of = {run: cache.records_of(sel, df[df[unit] == run]) for run in (baseline, *candidates)}
    return runs.gate(of[baseline], {run: of[run] for run in candidates}, compare.GateSettings(threshold=threshold))


@_shared
def _forest_figure(sel: Selection, unit: str, baseline: str, candidates: tuple[str, ...], threshold: float):
    return charts_runs.forest_figure(_gate(sel, unit, baseline, candidates, threshold)[1], threshold)


def runs_view(sel: Selection) -> None:
    """The gate (harness.analysis.compare) of every chosen run against the first one chosen,
    over the selected points of each: verdicts, a forest of latency ratios, environments."""
    unit = st.radio("compare", list(runs.UNITS), format_func=runs.UNITS.get, horizontal=True, key="runs_unit")
    catalogue, default = _catalogue(sel, unit)
    if len(catalogue) < 2:
        return views.empty("pair of runs to compare", "python run.py suite=regression results_dir=runs/<name>")
    describe = {run: f"{run} ({row.devices}; {row.suites}; {row.points} points)" for run, row in catalogue.iterrows()}
    chosen = st.multiselect("runs: the first is the baseline, every other a candidate against it",  # one per unit
                            list(catalogue.index), default=default, format_func=describe.get, key=f"runs_{unit}")
    threshold = st.slider("latency threshold", 0.02, 0.5, 0.10, 0.01, key="runs_threshold")
    if len(chosen) < 2:
        return st.info("Choose two or more runs.")
    results, forest = _gate(sel, unit, chosen[0], tuple(chosen[1:]), threshold)
    tables = []
    for name, result in results.items():
        if isinstance(result, str):
            st.warning(f"{name}: not comparable with {chosen[0]}: {result}")
            continue
        (st.success if result["passed"] else st.error)(f"{name}: {compare_report.summary(result)}")
        tables.append(pd.DataFrame([compare_report.row(p) for p in result["points"]], columns=compare_report.COLUMNS)
                      .assign(candidate=name))
    if not forest.empty:
        st.plotly_chart(_forest_figure(sel, unit, chosen[0], tuple(chosen[1:]), threshold), key="runs_forest")
    if tables:
        st.dataframe(pd.concat(tables, ignore_index=True), hide_index=True)
    env = cache.selected(sel)
    env = env[env[unit].isin(chosen)][[unit, *[c for c in ENV_COLUMNS if c in env.columns]]].drop_duplicates()
    st.caption("environment of each run")
    st.dataframe(env, hide_index=True)


@_cached
def _keys(sel: Selection) -> pd.DataFrame:
    """The point keys of the selection, labelled from their configs (history.point_keys)."""
    df = cache.selected(sel)
    found, configs = cache.records(sel.store, sel.signature), {}
    for base, source, pid in zip(df["base_point_id"], df["source"].astype(str), df["point_id"]):
        configs.setdefault(base, (found.get((source, pid)) or {}).get("config"))
    return history.point_keys(df, configs)


@_cached
def _history(sel: Selection, keys: tuple[str, ...], metric: str, axis: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    df = cache.selected(sel)
    rows = df[history.keyed(df).isin(keys)]
    labelled = _keys(sel)
    labels = dict(zip(labelled["key"], labelled["label"]))
    found = cache.records(sel.store, sel.signature)
    keyed = [(f"{source}/{pid}", found[(source, pid)]) for source, pid in data.process_keys(rows)
             if (source, pid) in found]
    return history.history([r for _, r in keyed], labels, metric, axis, record_keys=[k for k, _ in keyed])


@_shared
def _history_figure(sel: Selection, keys: tuple[str, ...], metric: str, axis: str):
    return charts_runs.history_figure(*_history(sel, keys, metric, axis), metric, axis)


def history_view(sel: Selection) -> None:
    """A chosen metric of chosen point keys over commits or dates, with 95% bands and the gate's
    verdict on each step between consecutive measurements."""
    keys = _keys(sel)
    if keys.empty:
        return views.empty("points", "python run.py suite=regression")
    labels = dict(zip(keys["key"], keys["label"] + " (commits " + keys["commits"].astype(str) + ", runs "
                      + keys["runs"].astype(str) + ")"))
    chosen = st.multiselect("points: a config on a device (GPU first, the most commits first)", list(keys["key"]),
                            default=list(keys["key"][:1]), format_func=labels.get, key="history_keys")
    left, right = st.columns(2)
    metric = left.radio("metric", history.METRICS, format_func=charts.METRICS.get, horizontal=True,
                        key="history_metric")
    axis = right.radio("against", list(history.AXES), horizontal=True, key="history_axis")
    if not chosen:
        return st.info("Choose one or more points.")
    steps = _history(sel, tuple(chosen), metric, axis)[1]
    views_point.chart(_history_figure(sel, tuple(chosen), metric, axis), "history", sel)
    st.caption("Each measurement pools a point's processes per commit (or per run, against date): the geometric mean "
               "of the process medians, the band its 95% between-process interval (one process: its own bootstrap "
               "interval). Markers: the regression gate's verdict on the step from the previous measurement "
               "(compare_point, Bonferroni over the steps shown), computed from the records.")
    flagged = steps[steps["verdict"] != "unchanged"]
    if not flagged.empty:
        st.dataframe(flagged[["label", "x", "verdict", "text"]], hide_index=True)
