"""The drill-down into one point under AppTest, over the fixture store of tests/test_dashboard.py
and over results/reference: a `?view=Point&point=` link (a full key, a bare point id, a point
the sidebar filters leave out) opens the record with its headline numbers, the command that
measures it again, the timing samples per process, the overhead breakdown, the profiler trace,
config and environment; a failed point shows its error; clicking a point in a chart or
selecting a table row summarises it below and opens its record in the Point view."""
from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from dashboard_app import reproduce
from tests import test_dashboard
from tests.limits import limit
from tests.test_dashboard import APP, figures, fixture_store, show

_fresh_cache = test_dashboard._fresh_cache  # its autouse fixture: fresh Streamlit caches for each test here too

MAMBA = "ref/scaling/scaling-mamba-forward-1024-run-a-0"  # the fixture's first record: it has a profiler trace
FAILED = "ref/scaling/scaling-transformer-forward-16384-run-a-0"


def opened(monkeypatch, store: Path, point: str, **filters) -> AppTest:
    """The dashboard opened on `?view=Point&point=<point>`, with sidebar `filters` chosen."""
    monkeypatch.setenv("SWARM_BENCH_RESULTS", str(store))
    at = AppTest.from_file(APP, default_timeout=limit(60))
    at.query_params["view"], at.query_params["point"] = "Point", point
    at.run()
    for label, value in filters.items():
        next(m for m in at.multiselect if m.label == label).select(value).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def titles(at: AppTest) -> list[str]:
    return [fig["layout"]["title"]["text"] for fig in figures(at)]


def test_a_link_opens_the_whole_record_of_a_point(monkeypatch, tmp_path):
    at = opened(monkeypatch, fixture_store(tmp_path), MAMBA)
    assert at.segmented_control(key="view").value == "Point" and at.selectbox(key="point").value == MAMBA
    assert at.subheader[0].value == "scaling · mamba forward L=1K B=4 bf16 · H100 · ok"
    assert {m.label for m in at.metric} >= {"median latency", "throughput", "peak memory", "processes"}
    (command,) = [c.value for c in at.code if c.value.startswith("python run.py")]
    assert "suite=scaling" in command and "model=mamba" in command and "'suite.seq_lens=[1024]'" in command
    assert "this point only" in " ".join(c.value for c in at.caption)
    assert {"timing samples (ms per timed call)", "where the point's wall time went (6.5 s)"} <= set(titles(at))
    assert any(b.label == "download the trace" for b in at.get("download_button"))
    top = next(d.value for d in at.dataframe if "self_ms" in d.value.columns)
    assert list(top["name"]) == ["selective_scan_fwd"]
    env = next(d.value for d in at.dataframe if "setting" in d.value.columns)
    assert "NVIDIA H100 80GB HBM3" in set(env["value"])
    assert at.query_params["point"] == MAMBA  # the page links to the point shown
    at.selectbox(key="point").set_value(None).run()
    assert "point" not in at.query_params and at.info[0].value.startswith("Choose a point above")


def test_a_bare_point_id_and_a_point_the_filters_leave_out_still_open(monkeypatch, tmp_path):
    at = opened(monkeypatch, fixture_store(tmp_path), MAMBA.rsplit("/", 1)[1], model="transformer")
    assert at.selectbox(key="point").value == MAMBA and at.query_params["point"] == MAMBA
    assert at.subheader[0].value.startswith("scaling · mamba forward")
    options = at.selectbox(key="point").options
    assert all(" transformer " in o for o in options[1:]) and len(options) > 1  # the filters narrow the rest


def test_a_failed_point_shows_its_error_and_says_it_has_no_samples(monkeypatch, tmp_path):
    at = opened(monkeypatch, fixture_store(tmp_path), FAILED)
    assert at.subheader[0].value.endswith("· oom")
    assert "oom" in at.error[0].value and "torch.OutOfMemoryError: CUDA out of memory." in at.error[0].value
    assert any("Traceback" in c.value for c in at.code)  # the whole error text
    assert "No timing samples in this record (status oom)." in [i.value for i in at.info]
    assert any("profile=true" in i.value for i in at.info)  # no trace: how to get one


def test_a_pooled_point_shows_each_process(monkeypatch, tmp_path):
    store = fixture_store(tmp_path)
    at = opened(monkeypatch, store, "run-c/regression/regression-swarm-train-256-run-c-0")
    histogram = next(f for f in figures(at) if f["layout"]["title"]["text"].startswith("timing samples"))
    assert sorted(t["name"] for t in histogram["data"]) == [f"step, process {r} (5)" for r in range(3)]
    assert len(at.selectbox(key="point_process").options) == 3
    assert "this point only (3 processes)" in " ".join(c.value for c in at.caption)


def test_clicking_a_chart_point_summarises_it_and_opens_its_record(monkeypatch, tmp_path):
    monkeypatch.setenv("SWARM_BENCH_RESULTS", str(fixture_store(tmp_path)))
    at = AppTest.from_file(APP, default_timeout=limit(60)).run()
    line = next(t for t in figures(at)[0]["data"] if t.get("name") == "mamba" and t.get("mode") == "lines+markers")
    assert line["customdata"][0] == MAMBA  # each measured point carries its key
    at.session_state["scaling_0"] = {"selection": {"points": [{"customdata": MAMBA}], "point_indices": [0],
                                                   "box": [], "lasso": []}}  # what a click sends
    at.run()
    assert any(MAMBA in m.value and "mamba forward L=1K" in m.value for m in at.markdown)
    assert any(c.value.startswith("python run.py suite=scaling") for c in at.code)
    next(b for b in at.button if b.label == "open its full record").click().run()
    assert at.segmented_control(key="view").value == "Point" and at.query_params["point"] == MAMBA
    assert at.subheader[0].value.startswith("scaling · mamba forward L=1K")


def test_selecting_a_table_row_summarises_that_point(monkeypatch, tmp_path):
    monkeypatch.setenv("SWARM_BENCH_RESULTS", str(fixture_store(tmp_path)))
    at = show(AppTest.from_file(APP, default_timeout=limit(60)).run(), "Table")
    shown = next(d.value for d in at.dataframe if "point_id" in d.value.columns)
    row = list(shown["point_id"]).index(FAILED.rsplit("/", 1)[1])
    at.session_state["table_rows"] = {"selection": {"rows": [row], "columns": [], "cells": []}}
    at.run()
    assert any(FAILED in m.value for m in at.markdown) and "oom" in at.error[0].value


def test_the_point_view_over_the_reference_results(monkeypatch):
    store = Path(APP).parent / "results" / "reference"
    at = opened(monkeypatch, store, "h200/scaling/51930a28db784853")  # a transformer point measured in 3 processes
    assert at.subheader[0].value == "scaling · transformer forward L=512 B=4 bf16 · H200 · ok"
    (command,) = [c.value for c in at.code if c.value.startswith("python run.py")]
    import json

    first = json.loads((store / "h200" / "scaling" / "01a291e6c8d2635d.json").read_text())  # its first process
    assert command == reproduce.command(first, processes=3).text and "model=transformer" in command
    assert "timing samples (ms per timed call)" in titles(at)
    show(at, "Scaling")
    show(at, "Point")  # back again: the same point, from the URL
    assert at.selectbox(key="point").value == "h200/scaling/51930a28db784853"
