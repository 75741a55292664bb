"""swarm-bench results dashboard: `streamlit run dashboard.py` (store: `SWARM_BENCH_RESULTS`
or the sidebar; default `results/`, the committed reference set included)."""
from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from dashboard_app import data, views

st.set_page_config(page_title="swarm-bench", layout="wide")
st.title("swarm-bench results")


@st.cache_data(show_spinner="loading results")
def load(store: str, signature: tuple):  # signature: reload when a record changes
    return data.load(store)


store = Path(st.sidebar.text_input("results store", os.environ.get("SWARM_BENCH_RESULTS", "results")))
if not store.is_dir():
    st.error(f"No results store at `{store}`. Run `python run.py suite=smoke` to create one, or enter another path.")
    st.stop()
table = load(str(store), data.store_signature(store))
if data.problems_text(table):
    st.warning(data.problems_text(table))
if table.empty:
    st.info(f"`{store}` has no records yet. Run `python run.py suite=smoke` (seconds) or `python run.py suite=scaling`.")
    st.stop()

chosen = {label: st.sidebar.multiselect(label, data.options(table, label), key=f"filter_{label}")
          for label in data.FILTERS}
selected = data.apply_filters(table, chosen)
st.sidebar.caption(f"{len(selected)} of {len(table)} points; {int(selected['failed'].sum())} failed")

tabs = st.tabs(["Scaling", "Encoders", "Decode", "Quality", "Efficiency", "Runs", "Achieved vs limit", "Claims",
               "Table"])
with tabs[0]:
    views.scaling(selected)
with tabs[1]:
    views.encoders(selected)
with tabs[2]:
    views.decode(selected)
with tabs[3]:
    views.quality(store, selected)
with tabs[4]:
    views.efficiency(selected)
with tabs[5]:
    views.runs(store, selected)
with tabs[6]:
    views.achieved(selected, store)
with tabs[7]:
    views.claims(selected, table)
with tabs[8]:
    views.table(selected)
