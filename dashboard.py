"""swarm-bench results dashboard: `streamlit run dashboard.py` (store: `SWARM_BENCH_RESULTS`
or the sidebar; default `results/`, the committed reference set included). Only the view
chosen at the top runs (its name is in the URL, `?view=History`; `?view=Point&point=<id>` opens
one point's record); the store is read once per signature and every view's data are cached
(dashboard_app.cache), so a widget change reruns from the caches."""
from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from dashboard_app import cache, data, views, views_point, views_quality, views_runs, views_table

VIEWS = {"Scaling": views.scaling, "Encoders": views.encoders, "Decode": views.decode, "Quality": views_quality.quality,
         "Efficiency": views.efficiency, "Runs": views_runs.runs_view, "History": views_runs.history_view,
         "Achieved vs limit": views.achieved, "Claims": views_table.claims, "Table": views_table.table,
         "Point": views_point.point_view}

st.set_page_config(page_title="swarm-bench", layout="wide")
st.title("swarm-bench results")

store = Path(st.sidebar.text_input("results store", os.environ.get("SWARM_BENCH_RESULTS", "results")))
if not store.is_dir():
    st.error(f"No results store at `{store}`. Run `python run.py suite=smoke` to create one, or enter another path.")
    st.stop()
signature = data.store_signature(store)
table = cache.table(str(store), signature)
if data.problems_text(table):
    st.warning(data.problems_text(table))
if table.empty:
    st.info(f"`{store}` has no records yet. Run `python run.py suite=smoke` (seconds) or `python run.py suite=scaling`.")
    st.stop()

chosen = {label: st.sidebar.multiselect(label, options, key=f"filter_{label}")
          for label, options in cache.filter_options(str(store), signature).items()}
sel = cache.Selection(str(store), signature, tuple((label, tuple(values)) for label, values in chosen.items()))
selected = cache.selected(sel)
st.sidebar.caption(f"{len(selected)} of {len(table)} points; {int(selected['failed'].sum())} failed")

view = st.segmented_control("view", list(VIEWS), default="Scaling", required=True, key="view", bind="query-params",
                            label_visibility="collapsed")
VIEWS[view](sel)
