"""The Streamlit dashboard under streamlit.testing.v1.AppTest, over fixture stores: every view
renders without exception and only the chosen one runs, filters change the plotted traces,
empty, missing and partial stores are handled, the History view draws a trace and a band per
chosen point and flags the step the gate calls a regression, the Runs view gates any number of
runs with a forest of ratios; the dashboard loads neither torch nor the models in any
view; and the pure figure helpers. The fixture store and the helpers here serve
tests/test_dashboard_point.py and tests/test_dashboard_views.py too."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from dashboard_app import charts, charts_quality, data, history, runs
from harness.measure.stats import fit_power_law
from harness.store.atomic import write_json_atomic
from tests.limits import limit

APP = str(Path(__file__).resolve().parent.parent / "dashboard.py")
H100 = {"gpu_name": "NVIDIA H100 80GB HBM3", "torch_cuda": "13.0", "packages": {"torch": "2.11.0"}}


def _record(suite, model, mode, seq_len, latency, status="ok", run="run-a", **extra):
    config = {"suite": suite, "model": model, "mode": mode, "seq_len": seq_len, "batch_size": 4, "dtype": "bf16",
              "device": "cuda", "model_config": extra.pop("model_config", {"d_model": 64})}
    config.update(extra.pop("config", {}))
    variant = "".join(f"-{k}{v}" for k, v in (("N", config["model_config"].get("n_encoders")),
                                              ("k", config["model_config"].get("top_k")),
                                              ("graphs", config.get("cuda_graphs") or None)) if v)
    rec = {"point_id": f"{suite}-{model}-{mode}-{seq_len}-{run}-{config.get('repeat', 0)}{variant}", "run_id": run,
           "config": config, "status": status, "env": H100,
           "model_info": {"params_total": 1e6, "params_active": 1e6, "flops_per_token": 2e6}}
    if status == "ok" and latency is not None:
        rec.update(samples_ms=[latency] * 5, latency_ms={"median": latency, "ci_lo": latency, "ci_hi": latency},
                   tokens_per_s=4 * seq_len / latency * 1e3, memory_mb={"peak_alloc": seq_len / 10},
                   overhead_s={"process_start": 0.1, "import": 2.0, "build": 0.5, "measure": 3.0, "wall": 6.5})
    elif status == "oom":
        rec["error"] = "Traceback (most recent call last):\n  ...\ntorch.OutOfMemoryError: CUDA out of memory."
    rec.update(extra)
    return rec


LENGTHS = (1024, 2048, 4096, 8192)  # the transformer's; mamba runs to 16384 and fails at 32768
REGRESSION_RUNS = (("run-a", 1, 1.0), ("run-b", 2, 1.0), ("run-c", 3, 2.0))  # (run id, day, swarm slowdown)
VIEWS = ("Scaling", "Encoders", "Decode", "Quality", "Efficiency", "Runs", "History", "Achieved vs limit", "Claims",
         "Table", "Point")


def fixture_store(root: Path) -> Path:
    records = []
    for model, power, lengths in (("mamba", 1.0, (1024, 2048, 4096, 8192, 16384)), ("transformer", 2.0, LENGTHS)):
        for L in lengths:
            records.append(_record("scaling", model, "forward", L, 1e-3 * L ** power))
        records.append(_record("scaling", model, "forward", 2 * lengths[-1], None, status="oom"))
    records[0]["profile"] = {"trace": f"{records[0]['point_id']}.trace.json.gz", "by": "self CUDA time",
                             "top": [{"name": "selective_scan_fwd", "calls": 24, "self_ms": 1.5}]}
    for n in (10, 100, 1000):
        for k in (1, 4):
            records.append(_record("encoders", "swarm", "forward", 2048, 5.0 + k,
                                   model_config={"n_encoders": n, "top_k": k, "d_model": 256},
                                   model_info={"params_total": n * 1e5, "params_active": 1e6, "flops_per_token": 2e6,
                                               "extra": {"routing": {"load_entropy_bits": np.log2(n) * 0.9,
                                                                     "experts_used": min(n, 40 * k)}}}))
    records.append(_record("encoders", "mamba", "forward", 2048, 9.0, matched_to="params_active of swarm N=1000 k=4",
                           config={"matched_to": "params_active of swarm N=1000 k=4"}))
    for run, day, slower in REGRESSION_RUNS:  # run-c's swarm steps are twice as slow: a regression
        stamp = {"created_at": f"2026-01-0{day}T00:00:00+00:00", "env": {**H100, "git_sha": f"{run[-1] * 8}{day}" * 4}}
        for model in ("mamba", "swarm"):
            factor = slower if model == "swarm" else 1.0
            for repeat in range(3):
                records.append(_record("regression", model, "train", 256, (20.0 + repeat) * factor, run=run,
                                       config={"repeat": repeat}, **stamp))
            records.append(_record("regression", model, "loss", 128, None, run=run, **stamp,
                                   loss={"curve": [5.0, 3.0, 2.0], "initial": 5.0, "final": 2.0 + (model == "swarm")}))
    for model, graphs, state in (("mamba", False, 2.5), ("mamba", True, 2.5), ("transformer", False, None)):
        for L in (512, 4096):
            records.append(_record("decode", model, "decode", L, 1.0 if graphs else 9.0,
                                   config={"sweep": "latency", "cuda_graphs": graphs, "batch_size": 1},
                                   decode={"state_mb": state or L / 100, "prefill_ms": {"median": L / 100}}))
        for batch, status in ((64, "ok"), (256, "ok" if model == "mamba" else "oom")):
            records.append(_record("decode", model, "decode", 2048, 2.0, status=status, run=f"b{batch}",
                                   config={"sweep": "max_batch", "cuda_graphs": graphs, "batch_size": batch},
                                   decode={"generation_tokens_per_s": batch * 100.0}))
    for rec in records:
        sub = rec["run_id"] if rec["config"]["suite"] == "regression" else "ref"
        write_json_atomic(root / sub / rec["config"]["suite"] / f"{rec['point_id']}.json", rec)
    (root / "ref" / "scaling" / records[0]["profile"]["trace"]).write_bytes(b"trace")
    write_json_atomic(root / "ref" / "old" / "partial.json", {"point_id": "old", "status": "crashed",
                                                               "config": {"model": "mamba"}})
    return root


@pytest.fixture(autouse=True)
def _fresh_cache():
    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_data.clear()
    st.cache_resource.clear()


def app(monkeypatch, store: Path) -> AppTest:
    monkeypatch.setenv("SWARM_BENCH_RESULTS", str(store))
    return AppTest.from_file(APP, default_timeout=limit(60)).run()


def figures(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def trace_names(at: AppTest) -> set[str]:
    return {trace.get("name") for fig in figures(at) for trace in fig["data"]}


def show(at: AppTest, view: str) -> AppTest:
    """Choose `view` in the view selector and rerun; fails on an exception in it."""
    at.segmented_control(key="view").set_value(view).run()
    assert not at.exception, (view, [e.value for e in at.exception])
    return at


def status_row(fig: dict) -> dict[tuple[str, str], list]:
    """(series, measured | failed | not run) -> its x values on the figure's status row."""
    marks: dict[tuple[str, str], list] = {}
    for trace in fig["data"]:
        if trace.get("yaxis") == "y2":
            for x, name in zip(_values(trace["x"]), trace["y"]):
                marks.setdefault((name, trace["name"]), []).append(x)
    return marks


def every_view(at: AppTest) -> dict[str, dict]:
    """view -> what it drew: figures, dataframes, info texts, widget keys."""
    drawn = {}
    for view in VIEWS:
        show(at, view)
        drawn[view] = {"figures": figures(at), "dataframes": [d.value for d in at.dataframe],
                       "infos": [i.value for i in at.info],
                       "widgets": {w.key for kind in ("radio", "selectbox", "multiselect") for w in at.get(kind) if w.key}}
    return drawn


def test_every_view_renders_over_a_full_store(monkeypatch, tmp_path):
    at = app(monkeypatch, fixture_store(tmp_path))
    assert not at.exception, [e.value for e in at.exception]
    drawn = every_view(at)
    all_figures = [f for view in drawn.values() for f in view["figures"]]
    titles = [fig["layout"]["title"]["text"] for fig in all_figures]
    names = {trace.get("name") for fig in all_figures for trace in fig["data"]}
    assert any("vs length" in t for t in titles) and any("encoder count" in t for t in titles)
    assert any("learning curves" in t for t in titles) and any("quality vs cost" in t for t in titles)
    assert any("ceiling" in t for t in titles) and any("router load" in t for t in titles)
    assert any("vs context, batch 1" in t for t in titles) and any("largest batch" in t for t in titles)
    assert any("by commit" in t for t in titles) and any("ratio per point" in t for t in titles)
    assert "mamba (CUDA graphs)" in names
    largest = next(f for f in drawn["Decode"]["figures"] if "largest batch" in f["layout"]["title"]["text"])
    assert status_row(largest)[("transformer", "failed")] == [256]  # the batch that did not fit
    scaling = next(f for f in drawn["Scaling"]["figures"] if "vs length" in f["layout"]["title"]["text"])
    axis, bottom = scaling["layout"]["xaxis"], scaling["layout"]["xaxis2"]  # measurements; the status row under them
    assert axis["type"] == bottom["type"] == "log" and "tokens" in bottom["title"]["text"]
    assert {("mamba", "failed"), ("transformer", "failed")} <= set(status_row(scaling))  # oom points shown, not dropped
    exponents = drawn["Scaling"]["dataframes"][0]
    fitted = dict(zip(exponents["model"], exponents["exponent"]))
    assert fitted["mamba"] == pytest.approx(1.0) and fitted["transformer"] == pytest.approx(2.0)
    show(at, "Runs")
    offered = {option.split(" (")[0] for option in at.multiselect(key="runs_run_id").options}
    assert {"run-a", "run-b", "run-c", "b64"} <= offered  # the runs view offers every run
    show(at, "Efficiency")
    assert at.selectbox(key="efficiency_device").value == "NVIDIA H100 80GB HBM3"
    ledger = next(d for d in drawn["Claims"]["dataframes"] if "verdict" in d.columns and "claim" in d.columns)
    assert set(ledger["verdict"]) <= {"supported", "refuted", "inconclusive", "not measured"} and len(ledger) >= 10


def test_the_view_selector_runs_only_the_chosen_view(monkeypatch, tmp_path):
    at = app(monkeypatch, fixture_store(tmp_path))
    assert at.segmented_control(key="view").value == "Scaling"
    assert all("vs length" in f["layout"]["title"]["text"] for f in figures(at))
    drawn = every_view(at)
    own = {"Scaling": "scaling_metric", "Encoders": "encoders_metric", "Decode": "decode_metric",
           "Efficiency": "efficiency_device", "Runs": "runs_run_id", "History": "history_keys"}
    for view, key in own.items():  # a view's widgets exist only while it is shown
        assert {v for v, d in drawn.items() if key in d["widgets"]} == {view}, key
    assert all("encoder count" in f["layout"]["title"]["text"] or "router" in f["layout"]["title"]["text"]
               for f in drawn["Encoders"]["figures"])
    assert not drawn["Table"]["figures"] and not drawn["Claims"]["figures"] and not drawn["Point"]["figures"]
    linked = AppTest.from_file(APP, default_timeout=limit(60))
    linked.query_params["view"] = "Runs"  # the view is bound to the URL: a link opens it
    linked.run()
    assert linked.segmented_control(key="view").value == "Runs" and linked.multiselect(key="runs_run_id").value


def test_history_draws_a_trace_and_a_band_per_chosen_point_and_flags_the_regression(monkeypatch, tmp_path):
    store = fixture_store(tmp_path)
    at = show(app(monkeypatch, store), "History")
    keys = at.multiselect(key="history_keys")
    train = [k for k in sorted(set(history.keyed(data.load(store))))
             if "regression: " in keys.format_func(k) and " train " in keys.format_func(k)]
    assert len(train) == 2
    keys.set_value(train).run()
    (fig,) = figures(at)
    labels = {keys.format_func(k).rsplit(" (", 1)[0] for k in train}
    lines = [t for t in fig["data"] if t.get("mode") == "lines+markers"]
    bands = [t for t in fig["data"] if t.get("fill") == "toself"]
    assert {t["name"] for t in lines} == labels and {t["name"] for t in bands} == {f"{lb} 95% CI" for lb in labels}
    assert fig["layout"]["xaxis"]["categoryarray"] == ["aaaaaaaa", "bbbbbbbb", "cccccccc"]  # commits, in order
    assert all(len(_values(t["x"])) == 3 for t in lines)
    (step,) = [t for t in fig["data"] if t.get("name", "").startswith("step: ")]
    assert step["name"] == "step: regressed" and _values(step["x"]) == ["cccccccc"]
    assert "swarm" in step["hovertext"][0] and "latency ratio 2.0" in step["hovertext"][0]
    flagged = at.dataframe[0].value
    assert list(flagged["verdict"]) == ["regressed"] and list(flagged["x"]) == ["cccccccc"]
    at.radio(key="history_axis").set_value("date").run()
    (fig,) = figures(at)
    assert fig["layout"]["xaxis"]["type"] == "date"
    at.radio(key="history_metric").set_value("memory_mb").run()
    (fig,) = figures(at)
    assert "MiB" in fig["layout"]["yaxis"]["title"]["text"] and not [t for t in fig["data"] if t.get("fill")]


def test_runs_gates_any_number_of_runs_against_the_first_with_a_forest(monkeypatch, tmp_path):
    at = show(app(monkeypatch, fixture_store(tmp_path)), "Runs")
    chosen = at.multiselect(key="runs_run_id")
    assert chosen.value == ["run-b", "run-c"]  # the newest two GPU runs with a point in common
    assert "run-c: gate FAILED" in at.error[0].value
    (forest,) = figures(at)
    assert forest["layout"]["xaxis"]["type"] == "log"
    (trace,) = forest["data"]
    ticks = dict(zip(forest["layout"]["yaxis"]["tickvals"], forest["layout"]["yaxis"]["ticktext"]))
    by_point = {ticks[round(y)]: (x, s) for x, y, s in zip(_values(trace["x"]), _values(trace["y"]),
                                                          trace["marker"]["symbol"])}
    swarm = next(v for k, v in by_point.items() if "swarm" in k)
    mamba = next(v for k, v in by_point.items() if "mamba" in k)
    assert swarm == (pytest.approx(2.0), "triangle-right") and mamba == (pytest.approx(1.0), "circle")
    chosen.set_value(["run-a", "run-b", "run-c"]).run()
    assert {t["name"] for t in figures(at)[0]["data"]} == {"run-b", "run-c"}
    assert "run-b: gate PASSED" in at.success[0].value
    table = next(d.value for d in at.dataframe if "candidate" in d.value.columns)
    assert set(table["candidate"]) == {"run-b", "run-c"}
    next(m for m in at.multiselect if m.label == "model").select("mamba").run()  # the sidebar filters apply
    assert not at.exception and "run-c: gate PASSED" in " ".join(s.value for s in at.success)
    assert all("mamba" in label for label in figures(at)[0]["layout"]["yaxis"]["ticktext"])
    at.radio(key="runs_unit").set_value("source").run()  # or result directories
    assert not at.exception and at.multiselect(key="runs_source").value == ["run-b/regression", "run-c/regression"]


def test_default_runs_prefer_a_comparable_pair_and_labels_tell_configs_apart():
    df = pd.DataFrame({"run_id": ["old", "mid", "new"], "created_at": ["2026-01-01", "2026-01-02", "2026-01-03"],
                       "base_point_id": ["p", "p", "q"], "gpu_name": ["H100"] * 3, "suite": ["s"] * 3})
    assert runs.default_runs(df, "run_id") == ["old", "mid"]  # "new" shares no point with the others
    assert runs.default_runs(df.iloc[[0, 2]], "run_id") == ["old", "new"]  # none comparable: the newest two
    configs = {k: {"suite": "encoders", "model": "swarm", "mode": "forward", "seq_len": 2048, "batch_size": 4,
                   "model_config": {"n_encoders": n, "top_k": 4}} for k, n in (("a", 10), ("b", 100))}
    labels = runs.distinct_labels(configs)
    assert labels["a"] != labels["b"] and labels["b"].endswith("n_encoders=100")


def test_filters_change_the_plotted_traces(monkeypatch, tmp_path):
    at = app(monkeypatch, fixture_store(tmp_path))
    assert {"mamba", "transformer"} <= trace_names(at)
    model_filter = next(m for m in at.multiselect if m.label == "model")
    model_filter.select("mamba").run()
    assert not at.exception
    names = trace_names(at)
    assert "mamba" in names and "transformer" not in names


def test_metric_switch_changes_the_axis(monkeypatch, tmp_path):
    at = app(monkeypatch, fixture_store(tmp_path))
    at.radio(key="scaling_metric").set_value("memory_mb").run()
    scaling = next(f for f in figures(at) if "vs length" in f["layout"]["title"]["text"])
    assert "MiB" in scaling["layout"]["yaxis"]["title"]["text"]


def test_empty_store_says_what_to_run(monkeypatch, tmp_path):
    (tmp_path / "empty").mkdir()
    at = app(monkeypatch, tmp_path / "empty")
    assert not at.exception and "python run.py suite=smoke" in at.info[0].value


def test_missing_store_is_an_error_message_not_a_traceback(monkeypatch, tmp_path):
    at = app(monkeypatch, tmp_path / "nowhere")
    assert not at.exception and "No results store" in at.error[0].value


def test_partial_store_shows_empty_states(monkeypatch, tmp_path):
    write_json_atomic(tmp_path / "x" / "a.json", {"point_id": "a", "status": "oom", "config": {"model": "mamba"}})
    at = app(monkeypatch, tmp_path)
    assert not at.exception
    infos = " ".join(i for view in every_view(at).values() for i in view["infos"])
    assert "suite=scaling" in infos and "suite=encoders" in infos and "suite=quality" in infos
    assert "suite=decode" in infos
    assert "1 failed point" in show(at, "Table").warning[0].value


def test_fit_exponent_and_pareto_front():
    x = np.array([1e3, 2e3, 4e3, 8e3])
    fit = fit_power_law(x, 3 * x ** 1.5)
    assert fit["exponent"] == pytest.approx(1.5) and fit["ci_lo"] - 1e-9 <= 1.5 <= fit["ci_hi"] + 1e-9
    assert fit_power_law(x[:2], x[:2]) is None
    points = pd.DataFrame({"cost": [1, 2, 3, 4], "loss": [3.0, 2.0, 2.5, 1.0]})
    assert list(charts_quality.pareto_front(points, "cost", "loss")["cost"]) == [1, 2, 4]


def test_model_colours_are_stable():
    assert charts.model_color("mamba") == charts.model_color("mamba") != charts.model_color("transformer")


def test_quality_tab_over_the_reference_run_shows_bpb_and_synthetic_accuracy(monkeypatch):
    at = show(app(monkeypatch, Path(APP).parent / "results" / "reference" / "quality"), "Quality")
    titles = {fig["layout"]["title"]["text"] for fig in figures(at)}
    assert {"mqar", "selective_copying", "induction_heads"} <= titles
    tables = [d.value for d in at.dataframe]
    bpb = next(t for t in tables if "mean bpb" in t.columns)
    assert {"code", "legal", "math", "prose", "tech"} <= set(bpb.columns) and len(bpb) >= 7
    synthetic = next(t for t in tables if "acc@64" in t.columns)
    assert set(synthetic["task"]) == {"mqar", "selective_copying", "induction_heads"}


def _values(array) -> list:
    """A trace's x values as plotly serialises them: a list, or a typed array {dtype, bdata}."""
    if isinstance(array, dict) and "bdata" in array:
        import base64

        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"]).tolist()
    return list(array or [])


def check_figure(fig: dict) -> None:
    """Every trace named after a model has that model's colour (but the baselines of a figure
    whose `meta` says its colours mean something else); on a log x axis, every vertical line
    lies within a decade of the data, in data units, and its label in log10 units (as the
    dashboard's plotly.js v4 places them: tests/test_dashboard_browser.py reads the drawn axes)."""
    recoloured = (fig["layout"].get("meta") or {}).get("colour")
    for trace in fig["data"]:
        model = (trace.get("name") or "").split(" ")[0]
        if model in charts.KNOWN_MODELS and not (recoloured and trace.get("legendgroup") != "swarm"):
            color = (trace.get("line") or {}).get("color") or (trace.get("marker") or {}).get("color")
            assert color == charts.model_color(model), (fig["layout"].get("title"), trace.get("name"), color)
    if (fig["layout"].get("xaxis") or {}).get("type") == "log":
        xs = [x for t in fig["data"] for x in _values(t.get("x")) if isinstance(x, (int, float)) and x > 0]
        lo, hi = min(xs), max(xs)
        for shape in fig["layout"].get("shapes", []):
            if shape.get("xref", "x") == "x" and shape.get("x0") == shape.get("x1"):
                assert lo / 10 <= shape["x0"] <= hi * 10, (fig["layout"].get("title"), shape["x0"], lo, hi)
        for note in fig["layout"].get("annotations", []):
            if note.get("xref") == "x":
                assert np.log10(lo) - 1 <= note["x"] <= np.log10(hi) + 1, (fig["layout"].get("title"), note["x"])


def test_every_figure_keeps_model_colours_and_its_markers_inside_the_data(monkeypatch, tmp_path):
    drawn = every_view(app(monkeypatch, fixture_store(tmp_path)))
    assert all(drawn[view]["figures"] for view in VIEWS if view not in ("Claims", "Table", "Point"))
    for view in drawn.values():
        for fig in view["figures"]:
            check_figure(fig)


def test_the_synthetic_task_chart_marks_the_training_length_on_its_log_axis():
    table = pd.DataFrame([{"task": "mqar", "model": model, "seed": 0, "acc@64": 0.9, "acc@256": 0.5, "acc@1024": 0.1,
                           "trained at": "64/256"} for model in ("mamba", "transformer", "swarm")])
    fig = json.loads(charts_quality.synthetic_figure(table, "mqar", 0.01, 256).to_json())
    check_figure(fig)
    (line,) = [s for s in fig["layout"]["shapes"] if s["x0"] == s["x1"]]
    (label,) = [a for a in fig["layout"]["annotations"] if a["text"] == "longest training length"]
    assert line["x0"] == 256 and label["x"] == pytest.approx(np.log10(256))


def test_model_colours_do_not_depend_on_the_process():
    code = "from dashboard_app import charts; print(charts.model_color('my_new_model'))"
    seen = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(APP).parent,
                           env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("1", "2")}
    assert len(seen) == 1 and seen != {""}


def test_claims_filtered_out_by_the_sidebar_say_so():
    from dashboard_app import views_table as views

    whole = pd.DataFrame([  # three processes per point: a timed verdict needs them
        {"suite": "scaling", "model": m, "mode": "forward", "seq_len": n, "status": "ok", "latency_ms_p50": 1e-3 * n,
         "latency_ms_ci_lo": 1e-3 * n, "latency_ms_ci_hi": 1e-3 * n, "point_id": f"{m}-{n}#{r}",
         "base_point_id": f"{m}-{n}", "repeat": r or None, "gpu_name": "GPU", "dtype": "bf16", "batch_size": 4,
         "params_active": 1e6}
        for m in ("mamba",) for n in (4096, 8192, 16384) for r in range(3)])
    selected = whole.iloc[0:0]
    rows = views.claims_rows(selected, whole).set_index("claim")
    linear = rows.loc["Time Complexity: O(nd) - linear scaling with sequence length"]
    assert linear["verdict"] == "filtered out" and "whole store: supported" in linear["key figure"]
    assert (views.claims_rows(whole, whole)["verdict"] != "filtered out").all()


@pytest.mark.parametrize("latencies,knee", [
    ({512: 5.0, 1024: 5.1, 2048: 5.2, 4096: 10.0, 8192: 20.0, 16384: 40.0}, 2048),  # flat, then linear
    ({512: 1.0, 1024: 2.0, 2048: 4.0, 4096: 8.0}, 512),                             # linear throughout
    ({512: 5.0, 1024: 5.0, 2048: 5.0, 4096: 5.0}, 1024),                            # never grows: 3 lengths kept
])
def test_the_launch_bound_knee_is_found_from_the_data(latencies, knee):
    rows = pd.DataFrame([{"model": "m", "mode": "forward", "seq_len": n, "latency_ms_p50": v, "failed": False}
                         for n, v in latencies.items()])
    assert charts.launch_bound_knee(rows) == knee


def test_the_dashboard_imports_neither_torch_nor_the_models(tmp_path):
    """Every dashboard module imported and every view drawn in a fresh process: neither torch
    nor `models` is loaded."""
    code = f"""
import importlib, pkgutil, sys
import dashboard_app
from streamlit.testing.v1 import AppTest
for module in pkgutil.iter_modules(dashboard_app.__path__):
    importlib.import_module("dashboard_app." + module.name)
at = AppTest.from_file({APP!r}, default_timeout=120).run()
for view in {list(VIEWS)!r}:
    at.segmented_control(key="view").set_value(view).run()
    assert not at.exception, (view, [e.value for e in at.exception])
print(sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "models")))
"""
    env = {**os.environ, "SWARM_BENCH_RESULTS": str(fixture_store(tmp_path))}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(APP).parent, env=env,
                          timeout=limit(300))
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"
