"""The drill-down into one point: every chart and table of the performance views is drawn
through `chart` / `table` here, so clicking a point (or a row) shows that point's summary and
the command that measures it again right below, with a button into the Point view; the Point
view (`?view=Point&point=<directory>/<point id>`, a bare point id works too) shows its whole
record: headline numbers, the error of a failed point, the timing samples as a histogram, the
overhead breakdown, the profiler trace, config, environment and the raw record."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard_app import cache, data, point, reproduce
from dashboard_app.cache import Selection

_cached = st.cache_data(show_spinner=False, max_entries=64)


@_cached
def _labels(store: str, signature: tuple, filters: tuple) -> dict[str, str]:
    """Point key -> label of the selected rows (every row with `filters` empty)."""
    rows = cache.selected(Selection(store, signature, filters))
    return dict(zip(data.point_keys(rows), rows.apply(point.label, axis=1))) if len(rows) else {}


def _row(sel: Selection, key: str) -> pd.Series | None:
    whole = cache.table(sel.store, sel.signature)
    found = whole[data.point_keys(whole) == key]
    return None if found.empty else found.iloc[0]


def _records(sel: Selection, row: pd.Series) -> list[dict]:
    found = cache.records(sel.store, sel.signature)
    return [found[k] for k in data.process_keys(row.to_frame().T) if k in found]


def _open(key: str) -> None:
    st.session_state["view"], st.session_state["point"] = "Point", key


def _picked(event) -> str | None:
    """The point key of the first selected point of a plotly selection event."""
    for picked in ((event or {}).get("selection") or {}).get("points") or []:
        key = picked.get("customdata")
        key = key[0] if isinstance(key, (list, tuple)) and key else key
        if isinstance(key, str) and key:
            return key
    return None


def chart(fig, key: str, sel: Selection) -> None:
    """`fig`, clickable: the point clicked (its `customdata` key) summarised below it."""
    picked = _picked(st.plotly_chart(fig, key=key, on_select="rerun", selection_mode="points"))
    if picked:
        summary(sel, picked, key)


def table(frame: pd.DataFrame, keys: list[str], key: str, sel: Selection, **options) -> None:
    """A dataframe of points (`keys`: each row's point key), one row selectable: summarised below."""
    event = st.dataframe(frame, key=key, on_select="rerun", selection_mode="single-row", **options)
    rows = ((event or {}).get("selection") or {}).get("rows") or []
    if rows and rows[0] < len(keys):
        summary(sel, keys[rows[0]], key)


def _command(sel: Selection, row: pd.Series, record: dict) -> None:
    command = reproduce.command(record, processes=len(row.get("process_point_ids") or [1]))
    st.code(command.text, language="bash", wrap_lines=True)
    source = f"{sel.store.rstrip('/')}/{row['source']}"
    st.caption(f"Measures {command.note}, into a fresh store; compare it with the stored one: "
               f"`python run.py compare baseline={source} candidate={reproduce.OUT}/{row['suite']}`.")


def _error(row: pd.Series, records: list[dict]) -> None:
    failed = [r for r in records if r.get("status") != "ok"]
    if failed or row["failed"]:
        text = next((r.get("error") for r in failed if r.get("error")), None) or "no error text recorded"
        st.error(f"**{row['status']}**: {text.strip().splitlines()[-1] if text.strip() else text}")
        with st.expander("the whole error text"):
            st.code(text, language="text")


def summary(sel: Selection, key: str, where: str) -> None:
    """The clicked point, in a box: label, headline numbers, error, the command, a button on."""
    row = _row(sel, key)
    with st.container(border=True):
        if row is None:
            return st.warning(f"No point `{key}` in the store.")
        st.markdown(f"**{point.label(row)}** · `{key}`")
        st.caption(" · ".join(f"{name}: {value}" + (f" ({detail})" if detail else "")
                              for name, value, detail in point.headline(row)))
        records = _records(sel, row)
        _error(row, records)
        if records:
            _command(sel, row, records[0])
        st.button("open its full record", key=f"open_{where}", on_click=_open, args=(key,), icon=":material/open_in_new:")


def point_view(sel: Selection) -> None:
    """Choose a point (the selected ones; a `?point=` link may name any), then its record; the
    choice is written back to the URL, so the page links to it."""
    labels = _labels(*sel)
    # the widget's own value, else (a fresh page, or back from another view) the URL's
    wanted = st.session_state["point"] if "point" in st.session_state else st.query_params.get("point")
    if wanted and wanted not in labels:  # a bare point id, a process's id or a point the filters leave out
        found = data.find_point(cache.table(sel.store, sel.signature), wanted)
        if found:
            labels = {found: _labels(sel.store, sel.signature, ())[found], **labels}
        wanted = found
    if wanted and st.session_state.get("point") != wanted:
        st.session_state["point"] = wanted
    key = st.selectbox("point", list(labels), index=None, format_func=labels.get, key="point",
                       placeholder=f"one of {len(labels)} points: type to search, or click a point in any chart")
    if key is None:
        st.query_params.pop("point", None)
        return st.info("Choose a point above, click one in a chart of Scaling, Encoders, Decode or Achieved vs "
                       "limit, or select a row in Table.")
    st.query_params["point"] = key
    record_view(sel, key)


def record_view(sel: Selection, key: str) -> None:
    row = _row(sel, key)
    records = _records(sel, row)
    st.subheader(point.label(row))
    headline = point.headline(row)
    for column, (name, value, detail) in zip(st.columns(len(headline)), headline):
        column.metric(name, value, help=detail or None)
        if detail:
            column.caption(detail)
    _error(row, records)
    if not records:
        return st.warning(f"The record files of `{key}` are gone from the store.")
    st.markdown("**Measure it again**")
    _command(sel, row, records[0])
    chosen = records[0]
    if len(records) > 1:
        ids = [r["point_id"] for r in records]
        chosen = records[ids.index(st.selectbox("process (config, environment and record below)", ids,
                                                key="point_process"))]
    samples, costs, trace, config, env, raw = st.tabs(["timing samples", "overhead", "profiler trace", "config",
                                                        "environment", "record"])
    frame = point.samples(records)
    if frame.empty:
        samples.info(f"No timing samples in this record (status {row['status']}).")
    else:
        samples.plotly_chart(point.samples_figure(frame, row["model"], row.get("latency_ms_p50")), key="point_samples")
    breakdown = point.overhead(chosen)
    if breakdown.empty:
        costs.info("No overhead breakdown in this record (older records lack it).")
    else:
        costs.plotly_chart(point.overhead_figure(breakdown, (chosen.get("overhead_s") or {}).get("wall")),
                           key="point_overhead")
    _trace(trace, sel, row, chosen)
    config.json(chosen.get("config") or {}, expanded=2)
    env.dataframe(point.environment(chosen), hide_index=True, height=420)
    raw.json({k: v for k, v in chosen.items() if k != "samples_ms"}, expanded=1)


def _trace(tab, sel: Selection, row: pd.Series, record: dict) -> None:
    path = point.trace_file(sel.store, str(row["source"]), record)
    if path is None:
        return tab.info("No profiler trace: add `profile=true` to the command above to write one beside the record.")
    profile = record.get("profile") or {}
    tab.markdown(f"torch.profiler trace: `{path}` (open it in https://ui.perfetto.dev or chrome://tracing)")
    if path.is_file():
        tab.download_button("download the trace", path.read_bytes(), path.name, key="point_trace")
    else:
        tab.warning("The trace file is not in the store (traces are not committed with the reference results).")
    if profile.get("top"):
        tab.caption(f"the costliest operators and kernels by {profile.get('by', 'self time')}")
        tab.dataframe(pd.DataFrame(profile["top"]), hide_index=True)
