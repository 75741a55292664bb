"""The Claims and Table views: the claims ledger (harness.analysis.claims) over the selected
points of one GPU, verdicts coloured and filterable, claims the filters leave out said as
such, each claim's points one click from their records; and every selected point in a table with a column picker, failed rows highlighted
(and a filter to them), one row selectable into its record, and a CSV download."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from dashboard_app import cache, data, views_point
from dashboard_app.cache import Selection
from harness.analysis import claims as claims_ledger
from harness.analysis.claims_catalog import CLAIMS

_cached = st.cache_data(show_spinner=False, max_entries=64)
COLUMNS = ["suite", "model", "mode", "seq_len", "batch_size", "dtype", "gpu", "status", "latency_ms_p50",
           "latency_ms_ci_lo", "latency_ms_ci_hi", "tokens_per_s", "memory_mb", "processes", "run_id", "git_sha",
           "source", "point_id", "error"]  # the table's default columns
FAILED_STYLE = "background-color: #f8d7da"


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


def evidence_links(points: str) -> str:
    """A claim's point ids ("a, b") -> Markdown links to each one's record in the Point view."""
    ids = [p for p in points.split(", ") if p]
    return " · ".join(f"[{p}](?view=Point&point={p})" for p in ids) or "no stored point decides it"


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
    claim = st.selectbox("the points behind a claim", view["claim"].tolist(), index=None, key="claims_evidence",
                         placeholder="choose a claim to open the records its verdict rests on")
    if claim is not None:
        st.markdown(evidence_links(view.loc[view["claim"] == claim, "points"].iloc[0]))


@_cached
def _csv(sel: Selection) -> bytes:
    return cache.selected(sel).to_csv(index=False).encode()


def table(sel: Selection) -> None:
    df = cache.selected(sel)
    failed = df[df["failed"]]
    if not failed.empty:
        st.warning(f"{len(failed)} failed point(s) in the selection, highlighted: "
                   + ", ".join(f"{s} {n}" for s, n in failed["status"].value_counts().items()))
    left, right = st.columns([4, 1])
    columns = left.multiselect("columns", list(df.columns), default=[c for c in COLUMNS if c in df.columns],
                               key="table_columns")
    shown = failed if right.toggle("failed points only", key="table_failed", disabled=failed.empty) else df
    picked = shown[columns or ["point_id"]]
    marks = np.broadcast_to(np.where(shown["failed"].to_numpy(), FAILED_STYLE, "")[:, None], picked.shape)
    styled = picked.style.apply(lambda frame: pd.DataFrame(marks, index=frame.index, columns=frame.columns), axis=None)
    views_point.table(styled, list(data.point_keys(shown)), "table_rows", sel, hide_index=True,
                      height=min(38 * (len(shown) + 1), 640))
    st.caption(f"{len(shown)} point(s); select a row for its record and the command that measures it again.")
    st.download_button("download CSV", _csv(sel), "swarm-bench-results.csv", "text/csv",
                       key="download_csv")
