"""The Streamlit dashboard under streamlit.testing.v1.AppTest, over fixture stores: every tab
renders without exception, filters change the plotted traces, empty, missing and partial
stores are handled; and the pure figure helpers."""
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

from dashboard_app import charts
from harness.measure.stats import fit_power_law
from harness.store.atomic import write_json_atomic
from tests.limits import limit

APP = str(Path(__file__).resolve().parent.parent / "dashboard.py")
H100 = {"gpu_name": "NVIDIA H100 80GB HBM3", "torch_cuda": "13.0", "packages": {"torch": "2.11.0"}}


def _record(suite, model, mode, seq_len, latency, status="ok", run="run-a", **extra):
    config = {"suite": suite, "model": model, "mode": mode, "seq_len": seq_len, "batch_size": 4, "dtype": "bf16",
              "device": "cuda", "model_config": extra.pop("model_config", {"d_model": 64})}
    config.update(extra.pop("config", {}))
    rec = {"point_id": f"{suite}-{model}-{mode}-{seq_len}-{run}-{config.get('repeat', 0)}", "run_id": run,
           "config": config, "status": status, "env": H100,
           "model_info": {"params_total": 1e6, "params_active": 1e6, "flops_per_token": 2e6}}
    if status == "ok" and latency is not None:
        rec.update(samples_ms=[latency] * 5, latency_ms={"median": latency, "ci_lo": latency, "ci_hi": latency},
                   tokens_per_s=4 * seq_len / latency * 1e3, memory_mb={"peak_alloc": seq_len / 10})
    rec.update(extra)
    return rec


def fixture_store(root: Path) -> Path:
    records = []
    for model, power in (("mamba", 1.0), ("transformer", 2.0)):
        for L in (1024, 2048, 4096, 8192):
            records.append(_record("scaling", model, "forward", L, 1e-3 * L ** power))
        records.append(_record("scaling", model, "forward", 16384, None, status="oom"))
    for n in (10, 100, 1000):
        for k in (1, 4):
            records.append(_record("encoders", "swarm", "forward", 2048, 5.0 + k,
                                   model_config={"n_encoders": n, "top_k": k, "d_model": 256},
                                   model_info={"params_total": n * 1e5, "params_active": 1e6, "flops_per_token": 2e6,
                                               "extra": {"routing": {"load_entropy_bits": np.log2(n) * 0.9,
                                                                     "experts_used": min(n, 40 * k)}}}))
    records.append(_record("encoders", "mamba", "forward", 2048, 9.0, matched_to="params_active of swarm N=1000 k=4",
                           config={"matched_to": "params_active of swarm N=1000 k=4"}))
    for run in ("run-a", "run-b"):
        for model in ("mamba", "swarm"):
            for repeat in range(3):
                records.append(_record("regression", model, "train", 256, 20.0 + repeat, run=run, config={"repeat": repeat}))
            records.append(_record("regression", model, "loss", 128, None, run=run,
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
    write_json_atomic(root / "ref" / "old" / "partial.json", {"point_id": "old", "status": "crashed",
                                                               "config": {"model": "mamba"}})
    return root


@pytest.fixture(autouse=True)
def _fresh_cache():
    st.cache_data.clear()
    yield
    st.cache_data.clear()


def app(monkeypatch, store: Path) -> AppTest:
    monkeypatch.setenv("SWARM_BENCH_RESULTS", str(store))
    return AppTest.from_file(APP, default_timeout=limit(60)).run()


def figures(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def trace_names(at: AppTest) -> set[str]:
    return {trace.get("name") for fig in figures(at) for trace in fig["data"]}


def test_every_view_renders_over_a_full_store(monkeypatch, tmp_path):
    at = app(monkeypatch, fixture_store(tmp_path))
    assert not at.exception, [e.value for e in at.exception]
    titles = [fig["layout"]["title"]["text"] for fig in figures(at)]
    assert any("vs length" in t for t in titles) and any("encoder count" in t for t in titles)
    assert any("fixed-seed" in t for t in titles) and any("quality vs cost" in t for t in titles)
    assert any("ceiling" in t for t in titles) and any("router load" in t for t in titles)
    assert any("vs context, batch 1" in t for t in titles) and any("largest batch" in t for t in titles)
    assert {"mamba (CUDA graphs)", "transformer oom"} <= trace_names(at)
    scaling = next(f for f in figures(at) if "vs length" in f["layout"]["title"]["text"])
    assert scaling["layout"]["xaxis"]["type"] == "log" and "tokens" in scaling["layout"]["xaxis"]["title"]["text"]
    assert {"mamba failed", "transformer failed"} <= trace_names(at)  # oom points shown, not dropped
    exponents = at.dataframe[0].value
    fitted = dict(zip(exponents["model"], exponents["exponent"]))
    assert fitted["mamba"] == pytest.approx(1.0) and fitted["transformer"] == pytest.approx(2.0)
    assert any("run-a" in str(s) for s in at.selectbox(key="runs_baseline").options)  # runs view offers both runs
    assert at.selectbox(key="efficiency_device").value == "NVIDIA H100 80GB HBM3"
    ledger = next(d.value for d in at.dataframe if "verdict" in d.value.columns and "claim" in d.value.columns)
    assert set(ledger["verdict"]) <= {"supported", "refuted", "inconclusive", "not measured"} and len(ledger) >= 10


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
    infos = " ".join(i.value for i in at.info)
    assert "suite=scaling" in infos and "suite=encoders" in infos and "suite=quality" in infos
    assert "suite=decode" in infos
    assert "1 failed point" in at.warning[0].value


def test_fit_exponent_and_pareto_front():
    x = np.array([1e3, 2e3, 4e3, 8e3])
    fit = fit_power_law(x, 3 * x ** 1.5)
    assert fit["exponent"] == pytest.approx(1.5) and fit["ci_lo"] - 1e-9 <= 1.5 <= fit["ci_hi"] + 1e-9
    assert fit_power_law(x[:2], x[:2]) is None
    points = pd.DataFrame({"cost": [1, 2, 3, 4], "loss": [3.0, 2.0, 2.5, 1.0]})
    assert list(charts.pareto_front(points, "cost", "loss")["cost"]) == [1, 2, 4]


def test_model_colours_are_stable():
    assert charts.model_color("mamba") == charts.model_color("mamba") != charts.model_color("transformer")


def test_quality_tab_over_the_reference_run_shows_bpb_and_synthetic_accuracy(monkeypatch):
    at = app(monkeypatch, Path(APP).parent / "results" / "reference" / "quality")
    assert not at.exception, [e.value for e in at.exception]
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
    """Every trace named after a model has that model's colour; on a log x axis, every
    vertical line lies within a decade of the data (not at 10^256)."""
    for trace in fig["data"]:
        model = (trace.get("name") or "").split(" ")[0]
        if model in charts.KNOWN_MODELS:
            color = (trace.get("line") or {}).get("color") or (trace.get("marker") or {}).get("color")
            assert color == charts.model_color(model), (fig["layout"].get("title"), trace.get("name"), color)
    if (fig["layout"].get("xaxis") or {}).get("type") == "log":
        xs = [x for t in fig["data"] for x in _values(t.get("x")) if isinstance(x, (int, float)) and x > 0]
        lo, hi = np.log10(min(xs)), np.log10(max(xs))
        for shape in fig["layout"].get("shapes", []):
            if shape.get("xref", "x") == "x" and shape.get("x0") == shape.get("x1"):
                assert lo - 1 <= shape["x0"] <= hi + 1, (fig["layout"].get("title"), shape["x0"], lo, hi)


def test_every_figure_keeps_model_colours_and_its_markers_inside_the_data(monkeypatch, tmp_path):
    at = app(monkeypatch, fixture_store(tmp_path))
    assert figures(at)
    for fig in figures(at):
        check_figure(fig)


def test_the_synthetic_task_chart_marks_the_training_length_on_its_log_axis():
    table = pd.DataFrame([{"task": "mqar", "model": model, "seed": 0, "acc@64": 0.9, "acc@256": 0.5, "acc@1024": 0.1,
                           "trained at": "64/256"} for model in ("mamba", "transformer", "swarm")])
    fig = json.loads(charts.synthetic_figure(table, "mqar", 0.01, 256).to_json())
    check_figure(fig)
    (line,) = [s for s in fig["layout"]["shapes"] if s["x0"] == s["x1"]]
    assert line["x0"] == pytest.approx(np.log10(256))


def test_model_colours_do_not_depend_on_the_process():
    code = "from dashboard_app import charts; print(charts.model_color('my_new_model'))"
    seen = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(APP).parent,
                           env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("1", "2")}
    assert len(seen) == 1 and seen != {""}


def test_claims_filtered_out_by_the_sidebar_say_so():
    from dashboard_app import views

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
