"""The views' honest defaults and readable states under AppTest (fixture stores of
tests/test_dashboard.py, and results/reference): failed and not-run lengths on their own status
row, never among the measurements; one line per model, GPU and config, so no line zigzags;
full-value log ticks; the Encoders baselines grouped by matched size, coloured per group and
toggled, and the message when the swarm is filtered out; the Quality heatmap and learning
curves; the Table's column picker and highlighted failures."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from dashboard_app import charts, charts_swarm, ticks
from harness.store.atomic import write_json_atomic
from tests import test_dashboard
from tests.test_dashboard import (
    APP,
    H100,
    _record,
    _values,
    app,
    check_figure,
    figures,
    fixture_store,
    show,
    status_row,
)

_fresh_cache = test_dashboard._fresh_cache  # its autouse fixture: fresh Streamlit caches for each test here too
H200 = {**H100, "gpu_name": "NVIDIA H200"}
REFERENCE = Path(APP).parent / "results" / "reference"


def lines(fig: dict) -> list[dict]:
    return [t for t in fig["data"] if t.get("mode") == "lines+markers"]


def scaling_figure(at) -> dict:
    return next(f for f in figures(at) if "vs length, forward" in f["layout"]["title"]["text"])


def test_failed_and_not_run_lengths_sit_on_the_status_row(monkeypatch, tmp_path):
    fig = scaling_figure(app(monkeypatch, fixture_store(tmp_path)))
    marks = status_row(fig)
    assert marks[("transformer", "failed")] == [16384] and marks[("mamba", "failed")] == [32768]
    assert marks[("transformer", "not run")] == [32768]  # mamba ran there, the transformer never did
    assert ("mamba", "not run") not in marks and len(marks[("mamba", "measured")]) == 5
    failed = next(t for t in fig["data"] if t["name"] == "failed")
    assert failed["marker"]["symbol"] == "x" and failed["marker"]["color"] == [charts.model_color("mamba"),
                                                                              charts.model_color("transformer")]
    assert sorted(failed["customdata"]) == ["ref/scaling/scaling-mamba-forward-32768-run-a-0",
                                            "ref/scaling/scaling-transformer-forward-16384-run-a-0"]
    assert all(t.get("yaxis", "y") == "y" for t in lines(fig))  # no failure among the measurements
    assert all(t["name"] in ("measured", "failed", "not run") for t in fig["data"] if t.get("yaxis") == "y2")


def test_the_exponent_table_says_where_each_series_failed_or_was_not_run(monkeypatch, tmp_path):
    table = app(monkeypatch, fixture_store(tmp_path)).dataframe[0].value.set_index("series")
    assert table.loc["transformer", "failed at L"] == "16K" and table.loc["transformer", "not run at L"] == "32K"
    assert table.loc["mamba", "failed at L"] == "32K" and table.loc["mamba", "not run at L"] == "-"


def _second_gpu_and_config(root: Path) -> Path:
    """The fixture store plus mamba on an H200 and, on the H100, at twice the width."""
    fixture_store(root)
    for L in (1024, 2048, 4096):
        for env, width, factor in ((H200, 64, 0.7), (H100, 128, 1.3)):
            rec = _record("scaling", "mamba", "forward", L, factor * 1e-3 * L, run=f"{env['gpu_name'][-4:]}-{width}",
                          model_config={"d_model": width}, env=env)
            write_json_atomic(root / "more" / "scaling" / f"{rec['point_id']}.json", rec)
    return root


def test_each_model_gpu_and_config_gets_its_own_line_so_none_zigzags(monkeypatch, tmp_path):
    fig = scaling_figure(app(monkeypatch, _second_gpu_and_config(tmp_path)))
    names = {t["name"] for t in lines(fig)}
    assert {"mamba · H100 · d=64", "mamba · H100 · d=128", "mamba · H200", "transformer · H100"} <= names
    for trace in lines(fig):
        xs = _values(trace["x"])
        assert xs == sorted(set(xs)), (trace["name"], xs)  # one measurement per length, in order
    dashes = {t["name"]: t["line"]["dash"] for t in lines(fig)}
    assert dashes["mamba · H200"] != dashes["mamba · H100 · d=64"]  # GPUs told apart by dash
    check_figure(fig)


def test_log_axes_tick_whole_values():
    lengths = ticks.log_axis([512, 2048, 262144])
    assert lengths["ticktext"] == ["512", "1K", "2K", "4K", "8K", "16K", "32K", "64K", "128K", "256K"]
    times = ticks.log_axis([0.7, 300.0])
    assert times["ticktext"] == ["0.5", "1", "2", "5", "10", "20", "50", "100", "200", "500"]
    wide = ticks.log_axis([1e-2, 1e5])  # many decades: one tick per decade
    assert wide["ticktext"] == ["0.01", "0.1", "1", "10", "100", "1K", "10K", "100K"]
    assert all(np.isclose(v, float(t.replace("K", "e3"))) for v, t in zip(wide["tickvals"], wide["ticktext"]))


def test_the_charts_tick_whole_values(monkeypatch, tmp_path):
    fig = scaling_figure(app(monkeypatch, fixture_store(tmp_path)))
    assert {"1K", "2K", "4K", "8K", "16K", "32K"} <= set(fig["layout"]["xaxis2"]["ticktext"])
    assert all(re.fullmatch(r"[\d.]+[KMG]?", t) for t in fig["layout"]["yaxis"]["ticktext"])


def _baselines(root: Path) -> Path:
    """The fixture store plus a transformer matched to the same swarm and one matched by total params."""
    for model, matched in (("transformer", "params_active of swarm N=1000 k=4"),
                           ("transformer", "params_total of swarm N=100 k=4")):
        rec = _record("encoders", model, "forward", 2048, 12.0 if "total" in matched else 7.0, matched_to=matched,
                      config={"matched_to": matched})
        rec["point_id"] += "-total" if "total" in matched else "-active"
        write_json_atomic(root / "ref" / "encoders" / f"{rec['point_id']}.json", rec)
    return root


def test_encoder_baselines_are_grouped_by_matched_size_and_can_be_hidden(monkeypatch, tmp_path):
    at = show(app(monkeypatch, _baselines(fixture_store(tmp_path))), "Encoders")
    fig = next(f for f in figures(at) if "encoder count" in f["layout"]["title"]["text"])
    groups: dict[str, set] = {}
    for trace in fig["data"]:
        if trace.get("legendgroup") != "swarm":
            groups.setdefault(trace["legendgroup"], set()).add(trace["line"]["color"])
    assert set(groups) == {"matched to the active params of k=4 (N=1000)", "matched to the total params of N=100"}
    assert all(len(c) == 1 for c in groups.values()) and len(set.union(*groups.values())) == 2  # a colour per group
    active = [t for t in fig["data"] if t.get("legendgroup") == "matched to the active params of k=4 (N=1000)"]
    assert sorted(t["name"] for t in active) == ["mamba", "transformer"]
    assert {t["line"]["dash"] for t in active} == {"dash", "dot"}  # the baseline model by dash
    swarm = [t for t in fig["data"] if t.get("legendgroup") == "swarm"]
    assert {t["name"] for t in swarm} == {"swarm k=1", "swarm k=4"}
    check_figure(fig)
    at.button_group(key="encoders_baselines").set_value(["params_active"]).run()
    fig = next(f for f in figures(at) if "encoder count" in f["layout"]["title"]["text"])
    assert not [t for t in fig["data"] if "total" in str(t.get("legendgroup"))]
    assert set(charts_swarm.KINDS) == {"params_active", "params_total"}


def test_encoders_without_swarm_points_say_so(monkeypatch, tmp_path):
    at = show(app(monkeypatch, fixture_store(tmp_path)), "Encoders")
    next(m for m in at.multiselect if m.label == "model").select("mamba").run()
    assert any("no swarm points" in i.value for i in at.info)


def test_quality_shows_a_bpb_heatmap_and_learning_curves_with_selection_and_smoothing(monkeypatch):
    at = show(app(monkeypatch, REFERENCE / "quality"), "Quality")
    heatmap = next(f for f in figures(at) if f["data"][0]["type"] == "heatmap")["data"][0]
    assert heatmap["x"][0] == "mean bpb" and {"code", "legal", "math", "prose", "tech"} <= set(heatmap["x"])
    assert len(heatmap["y"]) == 7 and all("(2 seeds)" in y for y in heatmap["y"])
    stars = np.array([[cell.startswith("★") for cell in row] for row in heatmap["text"]])
    assert (stars.sum(axis=0) == 1).all()  # the best of each domain, once
    assert all(re.fullmatch(r"(★ )?\d\.\d{3} ± \d\.\d{3}", cell) for row in heatmap["text"] for cell in row)
    assert at.radio(key="quality_curve_kind").options == ["corpus training (suite=quality)",
                                                          "synthetic tasks (suite=quality)"]
    curves = next(f for f in figures(at) if f["layout"]["title"]["text"].startswith("learning curves"))
    shown = [t for t in curves["data"] if not t["name"].endswith(" raw")]
    assert len(shown) == 7 and all(t["name"].endswith("seed 0") for t in shown)  # one seed of each model first
    runs = at.multiselect(key="quality_runs_corpus_")
    runs.set_value(runs.options[:2]).run()
    at.slider(key="quality_smoothing").set_value(0.0).run()
    curves = next(f for f in figures(at) if f["layout"]["title"]["text"].startswith("learning curves"))
    assert [t["name"] for t in curves["data"]] == runs.options[:2]  # no smoothing: no raw curve behind
    assert len(_values(curves["data"][0]["y"])) == 768


def test_quality_draws_one_heatmap_per_corpus_and_the_calibration_and_features_tables(monkeypatch):
    at = show(app(monkeypatch, REFERENCE), "Quality")  # the H100 set (corpus v1) and the H200 set (v3)
    heatmaps = [f["data"][0] for f in figures(at) if f["data"][0]["type"] == "heatmap"]
    assert len(heatmaps) == 2
    assert any(sum("(d128)" in y and "(3 seeds)" in y for y in h["y"]) >= 7 and any("(d256)" in y for y in h["y"])
               for h in heatmaps)  # the H200 set: both sizes, each model its own row per size
    calibration = next(d.value for d in at.dataframe if "published as" in d.value.columns)
    assert {"induction_heads_e1", "selective_copying_e1", "mqar_zoology_64"} <= set(calibration["setting"])
    assert set(calibration["reproduces"]) <= {"yes", "no", "-"} and (calibration["reproduces"] == "yes").any()
    assert (calibration.loc[calibration["reproduces"] == "no", "why"] != "").all()  # each miss says why
    features = next(d.value for d in at.dataframe if "Δ bpb" in d.value.columns)
    assert {"swarm-5 fusion=attention", "swarm-5 top-p 0.6 k<=3"} <= set(features["variant"])
    failed = next(d.value for d in at.dataframe if "error" in d.value.columns and "point" in d.value.columns)
    assert (failed["status"] != "ok").all() and (failed["size"] == "d256").sum() == 0  # the resume crashes re-ran ok
    assert failed["error"].str.contains("strides should be multiple of 16 bytes").sum() == 3  # calibration, 2026-12-01


def test_the_table_picks_columns_and_highlights_failed_rows(monkeypatch, tmp_path):
    at = show(app(monkeypatch, fixture_store(tmp_path)), "Table")
    table = next(d for d in at.dataframe if "point_id" in d.value.columns)
    failed = {i for i, s in enumerate(table.value["status"]) if s != "ok"}
    rules = re.findall(r"([^{}]*)\{([^}]*)\}", table.proto.arrow_data.styler.styles)  # (selectors, declarations)
    styled = {int(row) for selectors, body in rules if "#f8d7da" in body for row in re.findall(r"row(\d+)_", selectors)}
    assert failed and styled == failed
    at.multiselect(key="table_columns").set_value(["model", "status", "point_id"]).run()
    at.toggle(key="table_failed").set_value(True).run()
    table = next(d.value for d in at.dataframe if "point_id" in d.value.columns)
    assert list(table.columns) == ["model", "status", "point_id"] and set(table["status"]) == {"oom", "crashed"}


@pytest.mark.parametrize("view", ["Scaling", "Encoders", "Decode"])
def test_no_line_joins_two_gpus_over_the_reference_results(monkeypatch, view):
    at = show(app(monkeypatch, REFERENCE), view)
    if view != "Scaling":  # one GPU at a time
        assert at.selectbox(key=f"{view.lower()}_gpu").options == ["NVIDIA H100 80GB HBM3", "NVIDIA H200"]
    for fig in figures(at):
        check_figure(fig)
        for trace in lines(fig):
            xs = _values(trace["x"])
            assert xs == sorted(set(xs)), (fig["layout"]["title"]["text"], trace["name"], xs)
            if trace.get("hovertext"):  # the measured points: each hover names its GPU
                gpus = {re.search(r" on (\S+)<br>", text).group(1) for text in trace["hovertext"]}
                assert len(gpus) == 1, (fig["layout"]["title"]["text"], trace["name"], gpus)


def test_each_claim_links_to_the_records_behind_it(monkeypatch):
    from dashboard_app import views_table

    assert views_table.evidence_links("a1, b2") == "[a1](?view=Point&point=a1) · [b2](?view=Point&point=b2)"
    at = show(app(monkeypatch, REFERENCE), "Claims")
    box = at.selectbox(key="claims_evidence")
    claim = next(c for c in box.options if "262,144" in c or "Long Context" in c)
    box.set_value(claim).run()
    assert not at.exception
    assert any("?view=Point&point=" in m.value for m in at.markdown)


def test_achieved_vs_limit_is_one_gpu_suite_and_batch_with_both_ceilings_drawn(monkeypatch):
    at = show(app(monkeypatch, REFERENCE), "Achieved vs limit")
    gpus = at.selectbox(key="achieved_gpu").options
    assert len(gpus) >= 2  # the H100 and the H200 sets
    at.selectbox(key="achieved_gpu").set_value(next(g for g in gpus if "H200" in g)).run()
    fig = next(f for f in figures(at) if "ceiling" in f["layout"]["title"]["text"])
    lines_at = sorted(round(shape["y0"]) for shape in fig["layout"]["shapes"])
    assert lines_at[0] == 100 and len(lines_at) == 2 and lines_at[1] > 100  # measured (100%) and the datasheet's
    assert all(0 < max(_values(t["y"])) < 100 for t in fig["data"] if t.get("mode") == "markers")
    assert "H200" in at.caption[0].value or any("H200" in c.value for c in at.caption)


def test_history_measurements_open_their_records(monkeypatch):
    from dashboard_app import data

    at = show(app(monkeypatch, REFERENCE), "History")
    fig = next(f for f in figures(at) if " by " in f["layout"]["title"]["text"])
    keys = [k for t in fig["data"] if t.get("mode") == "lines+markers" for k in t["customdata"]]
    table = data.load(str(REFERENCE))
    assert keys and all(isinstance(k, str) and data.find_point(table, k) == k for k in keys)
