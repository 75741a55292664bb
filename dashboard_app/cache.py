"""The store-level Streamlit caches of the dashboard, keyed on the store's signature
(data.store_signature: a new or changed record changes it, so the next rerun reads again): the
pooled table, the records by (directory, point id), read once per signature however many views
and reruns need them, and the filtered selection. A view caches its own tables and figures on a
`Selection` plus its widget values, so a rerun recomputes only what the changed widget feeds."""
from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import pandas as pd
import streamlit as st

from dashboard_app import data
from harness.store import results


class Selection(NamedTuple):
    """What the selected rows depend on: the store, its signature and the sidebar filters
    ((label, chosen values) pairs, in data.FILTERS order). Hashable: the key of every view cache."""
    store: str
    signature: tuple
    filters: tuple

    def chosen(self) -> dict[str, list]:
        return {label: list(values) for label, values in self.filters}


@st.cache_data(show_spinner="loading results", max_entries=4)
def table(store: str, signature: tuple) -> pd.DataFrame:  # signature: reload when a record changes
    return data.load(store)


@st.cache_data(show_spinner="reading records", max_entries=2)
def records(store: str, signature: tuple) -> dict[tuple[str, str], dict]:
    """Every readable record under `store` by (its directory relative to the store, point id):
    the key of a table row's processes (data.process_keys)."""
    root = Path(store)
    return {(str(path.parent.relative_to(root)), record["point_id"]): record
            for path, record in results.iter_records(root)}


@st.cache_data(show_spinner=False, max_entries=4)
def filter_options(store: str, signature: tuple) -> dict[str, list[str]]:
    """The sidebar filters' choices: label -> the values in the store."""
    whole = table(store, signature)
    return {label: data.options(whole, label) for label in data.FILTERS}


@st.cache_data(show_spinner=False, max_entries=32)
def selected(sel: Selection) -> pd.DataFrame:
    return data.apply_filters(table(sel.store, sel.signature), sel.chosen())


def records_of(sel: Selection, rows: pd.DataFrame) -> list[dict]:
    """The records behind `rows` (of `selected(sel)`), every process of a pooled row."""
    found = records(sel.store, sel.signature)
    return [found[key] for key in data.process_keys(rows) if key in found]
