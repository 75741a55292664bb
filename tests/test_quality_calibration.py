"""The calibration part of suite=quality: the published settings parse into points, a tiny
setting runs end to end on CPU into the ours-vs-published table, the convergence rule stops a
run, and the tasks' options set the vocabulary and refuse what is impossible."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest

from harness.analysis import calibration_report
from harness.errors import UserError
from harness.quality.synthetic_tasks import TASKS
from harness.store import results
from harness.structured import shipped_suite_value
from suites import quality_calibration
from tests.test_cli import run_cli

TINY_SETTING = ("suite.calibration=[{name: ih_tiny, task: induction_heads, source: test, options: {alphabet: 6}, "
                "train_length: 32, eval_lengths: [32, 64], batch_size: 4, paper_steps: 100, probe_batches: 1, "
                "eval_batches: 2, eval_every: 2, models: [{model: mamba, label: m, lr: 0.001, "
                "overrides: {d_model: 16, n_layer: 2}, published_as: paper row, published: {32: 1.0, 64: 1.0}}]}]")


def test_the_published_settings_build_points_with_their_budgets():
    out = run_cli("suite=quality", "suite.parts=[calibration]", "dry_run=true", timeout=300)
    assert out.returncode == 0, out.stderr
    entries = shipped_suite_value("quality", "calibration")
    assert out.stdout.count("calibration ") == sum(len(e["models"]) for e in entries)  # one seed each
    assert "induction_heads_e1 gpt2" in out.stdout  # learned absolute positions, through transformers' GPT-2
    assert "induction_heads_e1 transformer" in out.stdout and "mqar_zoology_512 swarm d=256" in out.stdout
    assert "induction_heads_e1 attention-only" in out.stdout and "mqar_zoology_64 attention-only d=64" in out.stdout


def test_a_tiny_calibration_runs_into_the_ours_against_published_table(tmp_path):
    out = run_cli("suite=quality", "suite.parts=[calibration]", TINY_SETTING, f"results_dir={tmp_path}",
                  "progress=false", timeout=600)
    assert out.returncode == 0, out.stderr
    (record,) = [r for _, r in results.iter_records(tmp_path / "quality")]
    config = record["config"]
    assert config["calibration"] == "ih_tiny" and config["steps"] == 4 and config["paper_steps"] == 100
    assert config["model_config"]["vocab_size"] == 8 and set(record["synthetic"]["accuracy"]) == {"32", "64"}
    report = (tmp_path / "quality" / "report.md").read_text()
    assert "ours against published" in report and "paper row" in report and "of 2 rows" in report


def test_the_convergence_rule_stops_a_run(tmp_path):
    setting = TINY_SETTING.replace("paper_steps: 100,", "paper_steps: 100, stop_accuracy: 0.0,")
    out = run_cli("suite=quality", "suite.parts=[calibration]", setting, f"results_dir={tmp_path}",
                  "progress=false", timeout=600)
    assert out.returncode == 0, out.stderr
    (record,) = [r for _, r in results.iter_records(tmp_path / "quality")]
    training = record["synthetic"]["training"]
    assert training["status"] == "converged" and training["steps"] == 2  # the first probe, at eval_every
    out = run_cli("suite=quality", "suite.parts=[calibration]", setting, "suite.calibration_budget.early_stop=false",
                  f"results_dir={tmp_path}", "progress=false", timeout=600)
    assert out.returncode == 0, out.stderr
    (unstopped,) = [r for _, r in results.iter_records(tmp_path / "quality") if r["config"]["stop_accuracy"] is None]
    assert unstopped["synthetic"]["training"]["status"] == "ok" and unstopped["synthetic"]["training"]["steps"] == 4


def test_impossible_calibration_settings_are_one_line_errors():
    cases = [(TINY_SETTING.replace("task: induction_heads", "task: nope"), "unknown task 'nope'"),
             (TINY_SETTING.replace("options: {alphabet: 6}", "options: {alphabet: 6, pairs: 2}"), "unknown option 'pairs'"),
             (TINY_SETTING.replace("options: {alphabet: 6}", "options: {alphabet: 6}, schedule: linear"), "schedule"),
             (TINY_SETTING.replace("train_length: 32", "train_length: 4"), "length 4 is impossible")]
    for setting, expected in cases:
        out = run_cli("suite=quality", "suite.parts=[calibration]", setting, "dry_run=true", timeout=300)
        assert out.returncode == 2 and expected in out.stderr and "Traceback" not in out.stderr, (expected, out.stderr)


def test_task_options_set_the_vocabulary_and_the_answers():
    mqar = TASKS["mqar"].configured({"pairs": 4, "keys": 4095})
    assert (mqar.vocab_size, mqar.answers, mqar.min_length) == (8192, 4096, 16)
    inputs, targets = mqar.generate(np.random.default_rng(0), 3, 64)
    assert inputs.max() < 8192 and ((targets != -100).sum(axis=1) == 4).all()
    assert (targets[targets != -100] > 4095).all()  # answers are values, from the upper half
    copying = TASKS["selective_copying"].configured({"copies": 16, "alphabet": 14})
    inputs, targets = copying.generate(np.random.default_rng(0), 2, 4096)
    assert copying.vocab_size == 16 and inputs.max() < 16 and ((targets != -100).sum(axis=1) == 16).all()
    assert TASKS["induction_heads"].configured(None) is TASKS["induction_heads"]
    with pytest.raises(ValueError, match="positive integers"):
        TASKS["induction_heads"].configured({"alphabet": 0})


def test_a_row_reproduces_when_the_published_figure_is_inside_our_interval():
    def record(accuracy, scored=200, label="m"):
        return {"config": {"calibration": "s", "label": label, "paper_steps": 10, "train_lengths": [64],
                           "synthetic_task": "induction_heads", "stop_accuracy": 0.99},
                "synthetic": {"accuracy": {"64": {"accuracy": accuracy, "scored": scored}},
                              "training": {"steps": 10, "status": "converged"}}}

    settings = [{"name": "s", "models": [{"label": "m", "published": {64: 1.0}}, {"label": "n", "published": {64: 0.5}}]}]
    table = calibration_report.table([record(1.0), record(1.0), record(0.9, label="n")], settings)
    by_model = table.set_index("model")
    assert by_model.loc["m", "reproduces"] == "yes" and by_model.loc["m", "answers"] == 400
    assert by_model.loc["n", "reproduces"] == "no" and by_model.loc["m", "why"] == ""
    assert by_model.loc["n", "why"].startswith(  # 0.9 against 0.5
        "ours above the published figure; convergence rule: the stop rule (accuracy >= 0.99 at length 64)")
    one_miss = calibration_report.table([record(0.9975, scored=400)], settings)  # 399 of 400 is not "perfect"
    assert one_miss.set_index("model").loc["m", "reproduces"] == "no"
    capped = record(1.0) | {"config": {"calibration": "s", "label": "m", "steps": 500, "max_wall_s": 60.0,
                                       "stop_accuracy": 0.99}}
    unstopped = record(1.0) | {"config": {**capped["config"], "stop_accuracy": None}}
    both = calibration_report.table([record(1.0), capped, unstopped], settings)  # three budgets: never pooled
    assert sorted(both["budget"]) == ["-", "500 steps, 60 s", "500 steps, 60 s, no stop rule"]
    assert set(both["seeds"]) == {1}
    low, high = calibration_report.wilson(100, 200)
    assert low < 0.5 < high and high - low == pytest.approx(0.137, abs=0.002)
    assert json.dumps(table.to_dict("records"))  # plain values, for the report


def test_a_figure_with_its_own_precision_reproduces_within_it_and_rates_stay_apart():
    def record(accuracy, lr):
        return {"config": {"calibration": "s", "label": "m", "paper_steps": 10, "train_lengths": [64], "lr": lr,
                           "synthetic_task": "mqar", "stop_accuracy": 0.99},
                "synthetic": {"accuracy": {"64": {"accuracy": accuracy, "scored": 4096}},
                              "training": {"steps": 10, "status": "converged"}}}

    plotted = [{"name": "s", "figure_precision": 0.01, "models": [{"label": "m", "published": {64: 1.0}}]}]
    printed = [{**plotted[0], "figure_precision": 0.0}]
    runs = [record(0.993, 2e-3), record(0.5, 1e-2)]
    by_rate = calibration_report.table(runs, plotted).set_index("lr")["reproduces"]
    assert by_rate[2e-3] == "yes" and by_rate[1e-2] == "no"  # never pooled across rates
    assert calibration_report.table(runs[:1], printed)["reproduces"].tolist() == ["no"]


def test_mqar_layouts_are_never_pooled_or_compared_and_old_records_read_as_uniform():
    def record(accuracy, steps, layout=None):
        options = {"pairs": 4, "keys": 63} | ({"layout": layout} if layout else {})
        return {"config": {"calibration": "s", "label": "m", "paper_steps": 100, "train_lengths": [64], "steps": 100,
                           "synthetic_task": "mqar", "task_options": options},
                "synthetic": {"accuracy": {"64": {"accuracy": accuracy, "scored": 4096}},
                              "training": {"steps": steps, "status": "ok", "val_curve": [[0, {"accuracy": 0.1}]]}}}

    settings = [{"name": "s", "models": [{"label": "m", "published": {64: 1.0}}]}]
    table = calibration_report.table([record(0.2, 50), record(1.0, 100, "zoology")], settings).set_index("budget")
    assert table.loc["uniform layout, 100 steps, no stop rule", "reproduces"] == "no"  # before the option: uniform
    assert table.loc["zoology layout, 100 steps, no stop rule", "reproduces"] == "yes"
    assert table.loc["uniform layout, 100 steps, no stop rule", "why"].startswith(
        "data layout, measured: reproduces in the zoology layout at 100 steps (zoology layout, 100 steps, no stop rule); ")
    assert table.loc["zoology layout, 100 steps, no stop rule", "why"] == ""
    def at_rate(run, lr):
        return {**run, "config": {**run["config"], "lr": lr}}

    table = calibration_report.table([at_rate(record(0.2, 50), 0.01), at_rate(record(1.0, 100, "zoology"), 0.002)],
                                     settings).set_index("lr")
    echoed = calibration_report.table([record(1.0, 100, "zoology") | {"config": {**record(1.0, 100, "zoology")["config"],
                                       "task_options": {"layout": "zoology", "echo": 1}}}], settings)
    assert echoed["budget"].tolist() == ["zoology (echo 1) layout, 100 steps, no stop rule"]
    assert table.loc[0.01, "why"].startswith("data layout, measured: reproduces in the zoology layout at lr 0.002 at 100 "
                                             "steps (zoology layout, 100 steps, no stop rule); budget: ")


def test_a_row_another_entry_of_the_same_published_figure_reproduces_says_which():
    def record(label, accuracy, steps):
        return {"config": {"calibration": "s", "label": label, "paper_steps": 1000, "train_lengths": [64], "steps": 900,
                           "synthetic_task": "induction_heads", "task_options": {"alphabet": 14}},
                "synthetic": {"accuracy": {"64": {"accuracy": accuracy, "scored": 128}},
                              "training": {"steps": steps, "status": "ok", "val_curve": [[0, {"accuracy": 0.1}]]}}}

    settings = [{"name": "s", "models": [{"label": label, "published": {64: 1.0}, "published_as": "MHA"}
                                         for label in ("batch 8", "batch 64", "batch 32")]}]
    runs = [record("batch 8", 0.1, 900), record("batch 64", 1.0, 800), record("batch 32", 1.0, 700)]
    table = calibration_report.table(runs, settings).set_index("model")
    assert table.loc["batch 8", "why"].startswith(
        "another entry, measured: batch 32 reproduces at 700 steps (900 steps, no stop rule); budget: ")
    settings[0]["models"][1] |= {"variant_of": "batch 8", "published_as": "MHA, at batch 64"}
    table = calibration_report.table(runs, settings).set_index("model")
    assert table.loc["batch 8", "why"].startswith("variant, measured: batch 64 reproduces at 800 steps")
    alone = calibration_report.table(runs[:1], settings)
    assert "measured" not in alone["why"].iloc[0]


def test_a_variant_must_name_another_entry():
    entry = {"name": "s", "task": "induction_heads", "source": "-", "train_length": 64, "eval_lengths": [64],
             "batch_size": 8, "paper_steps": 10,
             "models": [{"model": "mamba", "label": "a", "lr": 0.001}, {"model": "mamba", "label": "b", "lr": 0.001,
                                                                       "variant_of": "c"}]}
    with pytest.raises(UserError, match="s b: variant_of='c' names no other entry; valid: a"):
        quality_calibration.settings([entry])


def test_a_model_may_train_at_its_own_batch_and_a_bad_one_is_refused():
    from suites.common import RunContext
    from suites.quality_calibration import CalibrationBudget, calibration_points

    entries = [e for e in shipped_suite_value("quality", "calibration")
               if e["name"] == "induction_heads_e1"]
    ctx = RunContext(device="cpu", dtype="fp32", seed=0, vocab_size=16384, model_choice=None)
    points = calibration_points(entries, CalibrationBudget(max_steps=10), [0], "quality", ctx, 60.0,
                                only=["induction_heads_e1/attention-only", "induction_heads_e1/attention-only batch=64"])
    assert [p.config["batch_size"] for p in points] == [8, 64]  # the paper's, and 8x it on purpose
    bad = TINY_SETTING.replace("label: m,", "label: m, batch_size: 0,")
    out = run_cli("suite=quality", "suite.parts=[calibration]", bad, "dry_run=true", timeout=300)
    assert out.returncode == 2 and "ih_tiny m: batch_size=0: must be a positive integer" in out.stderr, out.stderr


def test_a_model_may_train_at_its_own_lengths_and_bad_ones_are_refused():
    from suites.common import RunContext
    from suites.quality_calibration import CalibrationBudget, calibration_points

    entries = [e for e in shipped_suite_value("quality", "calibration") if e["name"] == "induction_heads_e1"]
    ctx = RunContext(device="cpu", dtype="fp32", seed=0, vocab_size=16384, model_choice=None)
    points = calibration_points(entries, CalibrationBudget(max_steps=10), [0], "quality", ctx, 60.0,
                                only=["induction_heads_e1/gpt2 batch=64", "induction_heads_e1/gpt2 batch=64 lengths=64-256"])
    assert [(p.config["train_lengths"], p.config["seq_len"]) for p in points] == [([256], 256), ([64, 128, 256], 256)]
    for bad, message in (("[]", "ih_tiny m: train_lengths=[]: must be a non-empty list of lengths in"),
                         ("[32, 2]", "ih_tiny m: train_lengths=[32, 2]: must be a non-empty list of lengths in"),
                         ("[32, x]", "train_lengths[1]: expected int, got 'x'")):
        setting = TINY_SETTING.replace("label: m,", f"label: m, train_lengths: {bad},")
        out = run_cli("suite=quality", "suite.parts=[calibration]", setting, "dry_run=true", timeout=300)
        assert out.returncode == 2 and message in out.stderr and "Traceback" not in out.stderr, (bad, out.stderr)


def test_calibration_lrs_run_each_model_at_each_rate():
    out = run_cli("suite=quality", "suite.parts=[calibration]", "dry_run=true", "suite.calibration_lrs=[0.001,0.01]",
                  "suite.calibration_only=[induction_heads_e1/mamba]", timeout=300)
    assert out.returncode == 0, out.stderr
    assert "induction_heads_e1 mamba seed=0 lr=0.001" in out.stdout and "lr=0.01" in out.stdout
    bad = run_cli("suite=quality", "suite.parts=[calibration]", "dry_run=true", "suite.calibration_lrs=[-1]", timeout=300)
    assert bad.returncode == 2 and "rates must be positive" in bad.stderr and "Traceback" not in bad.stderr


def test_a_row_that_does_not_reproduce_says_what_its_runs_measured():
    def record(status, probes, final, train=64, shared=None):
        return {"config": {"calibration": "s", "label": "m", "paper_steps": 1000, "train_lengths": [train],
                           "synthetic_task": "induction_heads", "task_options": {"alphabet": 14}, "stop_accuracy": 0.99},
                "env": {"gpu_shared_by": shared} if shared else {},
                "synthetic": {"accuracy": {str(train): {"accuracy": final, "scored": 128},
                                           "1024": {"accuracy": 0.3, "scored": 128}},
                              "training": {"steps": 100, "status": status,
                                           "val_curve": [[i, {"accuracy": a}] for i, a in enumerate(probes)]}}}

    rising = calibration_report.why([record("time_cap", [0.07, 0.2, 0.4, 0.6], 0.7, shared=4)], 64)
    assert rising == ("budget: stopped by the wall-clock cap at 100 of the paper's 1,000 steps (10.0%); accuracy at "
                      "length 64 0.07 -> 0.70 (chance 0.071), still rising; 4 processes of its launcher shared the GPU")
    assert calibration_report.why([record("ok", [0.4, 0.5, 0.5, 0.5], 0.5)], 64).endswith("0.40 -> 0.50 (chance 0.071), flat")
    assert "within 0.05 of chance" in calibration_report.why([record("time_cap", [0.07, 0.08, 0.06], 0.07)], 64)
    assert calibration_report.why([record("converged", [0.5, 1.0], 1.0)], 1024).startswith(
        "extrapolation, 16x the training length: the stop rule (accuracy >= 0.99 at length 64) ended training at 100")
    learned = calibration_report.why([record("time_cap", [0.07, 1.0, 1.0], 1.0)], 1024)
    assert learned.startswith("length generalisation, 16x the training length: 1.000 at length 64, not at 1024; "
                              "budget: stopped by the wall-clock cap")
    assert not calibration_report.why([record("time_cap", [0.07, 0.9], 0.9)], 1024).startswith("length")
    crowded = record("time_cap", [0.07, 0.08], 0.08, shared=2)
    crowded["env"]["gpu_processes"] = 5  # NVML's count: other launchers' processes too
    assert calibration_report.why([crowded], 64).endswith(
        "; 2 processes of its launcher shared the GPU; 5 processes were on the GPU when it ended")
    assert "were on the GPU" not in calibration_report.why([record("ok", [0.4, 0.5], 0.5, shared=2)], 64)
    wider = record("ok", [0.4, 0.5], 0.5)
    wider["config"]["batch_size"] = 64  # 8x the paper's batch: 100 steps are 80% of its 1,000 steps' sequences
    assert "(10.0%; 80.0% of its sequences at batch 64 against its 8)" in calibration_report.why([wider], 64, None, 8)
    assert "sequences" not in calibration_report.why([wider], 64, None, 64)


def test_a_row_above_its_published_figure_says_so():
    record = {"config": {"calibration": "s", "label": "m", "paper_steps": 1000, "train_lengths": [64], "steps": 100,
                         "synthetic_task": "induction_heads", "task_options": {"alphabet": 14}},
              "synthetic": {"accuracy": {"64": {"accuracy": 1.0, "scored": 512}, "128": {"accuracy": 1.0, "scored": 512},
                                         "256": {"accuracy": 0.1, "scored": 512}},
                            "training": {"steps": 100, "status": "ok", "val_curve": [[0, {"accuracy": 1.0}]]}}}
    settings = [{"name": "s", "models": [{"label": "m", "published": {64: 1.0, 128: 0.8, 256: 0.3}}]}]
    why = calibration_report.table([record], settings).set_index("length")["why"]
    assert why[64] == "" and why[128].startswith("ours above the published figure; length generalisation, 2x")
    assert why[256].startswith("length generalisation, 4x")  # below the published figure


def test_a_row_that_does_not_reproduce_says_what_its_other_budgets_measured():
    def record(cap, steps, accuracy, length=64):
        return {"config": {"calibration": "s", "label": "m", "paper_steps": 1000, "train_lengths": [64], "steps": cap,
                           "synthetic_task": "induction_heads", "task_options": {"alphabet": 14}},
                "synthetic": {"accuracy": {str(length): {"accuracy": accuracy, "scored": 128}},
                              "training": {"steps": steps, "status": "time_cap", "val_curve": [[0, {"accuracy": 0.1}]]}}}

    settings = [{"name": "s", "models": [{"label": "m", "published": {64: 1.0, 128: 1.0}}]}]
    alone = record(500, 100, 0.5)
    plain = calibration_report.why([alone], 64)
    assert calibration_report.table([alone], settings).set_index("length").loc[64, "why"] == plain
    enough = calibration_report.table([alone, record(2000, 1500, 1.0), record(5000, 4000, 1.0)], settings)
    short = enough.set_index("steps").loc["100", "why"]
    assert short == "budget, measured: reproduces at 1,500 steps (2,000 steps, no stop rule); " + plain
    assert "_most steps" not in enough.columns and enough.set_index("steps").loc["1500", "why"] == ""
    misses = calibration_report.table([record(2000, 300, 0.8), alone, record(900, 300, 0.7),
                                       record(3000, 1500, 1.0, length=128)], settings)  # another length: not compared
    by_budget = misses[misses["length"] == 64].set_index("budget")["why"]
    suffix = "; at length 64 across budgets: 0.500 @ 100, 0.700 @ 300, 0.800 @ 300"  # ties in budget order
    assert by_budget["500 steps, no stop rule"] == plain + suffix
    assert by_budget["2,000 steps, no stop rule"].endswith(suffix) and by_budget["900 steps, no stop rule"].endswith(suffix)
    assert "budget, measured" not in " ".join(misses["why"])


def test_a_row_that_another_precision_reproduces_says_so_before_any_budget():
    def record(dtype, steps, accuracy, cap=5000):
        return {"config": {"calibration": "s", "label": "m", "paper_steps": 1000, "train_lengths": [64], "steps": cap,
                           "dtype": dtype, "synthetic_task": "induction_heads", "task_options": {"alphabet": 14}},
                "synthetic": {"accuracy": {"64": {"accuracy": accuracy, "scored": 128}},
                              "training": {"steps": steps, "status": "time_cap", "val_curve": [[0, {"accuracy": 0.1}]]}}}

    settings = [{"name": "s", "paper_steps": 1000, "models": [{"label": "m", "published": {64: 1.0}, "paper_steps": 4000}]}]
    bf16, longer_bf16 = record("bf16", 3000, 0.1), record("bf16", 4500, 1.0, cap=6000)
    fp32 = record("fp32", 2000, 1.0)
    table = calibration_report.table([bf16, longer_bf16, fp32], settings)
    assert set(table["seeds"]) == {1} and sorted(table["budget"]) == [
        "5,000 steps, no stop rule, bf16", "5,000 steps, no stop rule, fp32", "6,000 steps, no stop rule, bf16"]
    reason = table.set_index("steps").loc["3000", "why"]
    assert reason.startswith("precision, measured: reproduces in fp32 at 2,000 steps (5,000 steps, no stop rule, fp32); ")
    assert "of the paper's 4,000 steps (75.0%)" in reason  # the model's own published budget, from the settings
    assert set(table["paper steps"]) == {4000}
    only_bf16 = calibration_report.table([bf16, longer_bf16], settings).set_index("steps").loc["3000", "why"]
    assert only_bf16.startswith("budget, measured: reproduces at 4,500 steps")


def test_a_run_that_diverged_is_a_miss_with_its_reason_led_by_what_reproduces():
    def record(dtype, status, final_loss, accuracy=None):
        scores = {"64": {"accuracy": accuracy, "scored": 128}} if accuracy is not None else {}
        return {"config": {"calibration": "s", "label": "m", "paper_steps": 1000, "train_lengths": [64], "steps": 5000,
                           "eval_lengths": [64], "dtype": dtype, "synthetic_task": "induction_heads",
                           "task_options": {"alphabet": 14}},
                "synthetic": {"accuracy": scores, "training": {
                    "steps": 700, "status": status, "final_loss": final_loss,
                    "val_curve": [[0, {"accuracy": 0.2}], [1, {"accuracy": 0.9}]]}}}

    settings = [{"name": "s", "models": [{"label": "m", "published": {64: 1.0}}]}]
    diverged, fp32 = record("bf16", "diverged", None), record("fp32", "time_cap", 2.0, accuracy=1.0)
    alone = calibration_report.table([diverged], settings)
    assert list(alone["reproduces"]) == ["no"] and alone["answers"].tolist() == [0]  # scored nothing, still a row
    assert alone["why"].iloc[0] == ("diverged, measured: the training loss turned non-finite at 700 of the paper's 1,000 "
                                    "steps (70.0%), so nothing was evaluated; accuracy at length 64 along training "
                                    "0.20 -> 0.90 before it")
    past_bound = calibration_report.table([record("bf16", "diverged", 40.0)], settings)["why"].iloc[0]
    assert "the training loss rose past its divergence bound" in past_bound
    unstored = calibration_report.table([record("bf16", "diverged", float("nan"))], settings)["why"].iloc[0]
    assert "the training loss turned non-finite" in unstored  # train()'s own NaN, before the store writes null
    assert not re.search(r"\bnan\b", "\n".join(calibration_report.lines([diverged], settings)))  # missing: "-"
    led = calibration_report.table([diverged, fp32], settings).set_index("budget")
    assert led.loc["5,000 steps, no stop rule, bf16", "why"].startswith(
        "precision, measured: reproduces in fp32 at 700 steps (5,000 steps, no stop rule, fp32); diverged, measured: ")


def test_the_length_benchmark_trains_a_shipped_model_at_any_length_batch_and_task_option():
    from benchmarks import synthetic_length

    row = synthetic_length.learn("mamba", length=16, steps=2, device="cpu", dtype="fp32", lr=None)
    assert (row["length"], row["steps"], row["lr"]) == (16, 2, 0.001) and row["accuracy_by_step"][-1][0] == 2
    seeded = synthetic_length.learn("mamba", length=16, steps=2, device="cpu", dtype="fp32", lr=None, seed=1)
    again = synthetic_length.learn("mamba", length=16, steps=2, device="cpu", dtype="fp32", lr=None, seed=1)
    assert (row["seed"], seeded["seed"]) == (0, 1) and seeded["accuracy_by_step"] == again["accuracy_by_step"]
    assert 0.0 <= row["accuracy_by_step"][-1][1] <= 1.0 and row["chance"] == pytest.approx(1 / 14)
    shipped = next(s for s in shipped_suite_value("quality", "calibration") if s["name"] == "induction_heads_e1")
    valid = ", ".join(m["label"] for m in shipped["models"])
    assert valid.startswith("mamba, transformer, attention-only")
    with pytest.raises(SystemExit, match=re.escape(f"unknown model 'nope'; valid: {valid}")):
        synthetic_length.shipped_model("nope")
    row = synthetic_length.learn("attention-only d=64", length=32, steps=2, device="cpu", dtype="fp32", lr=None,
                                 setting_name="mqar_zoology_512", batch=4, options={"pairs": 8})
    assert (row["length"], row["batch_size"], row["task_options"]) == (32, 4, {"pairs": 8, "keys": 4095, "layout": "zoology"})
    with pytest.raises(SystemExit, match="length 16 is impossible for mqar"):
        synthetic_length.learn("attention-only d=64", length=16, steps=2, device="cpu", dtype="fp32", lr=None,
                               setting_name="mqar_zoology_512", options={"pairs": 8})
    with pytest.raises(SystemExit, match="unknown setting 'nope'; valid: selective_copying_e1"):
        synthetic_length.shipped_model("mamba", "nope")


def _extrapolating(label, seed, at_train, at_long, steps=100, lr=0.001):
    """A run trained at length 64 that scored `at_train` there and `at_long` at length 512."""
    return {"config": {"calibration": "s", "label": label, "seed": seed, "paper_steps": 1000, "train_lengths": [64],
                       "steps": 900, "lr": lr, "synthetic_task": "induction_heads", "task_options": {"alphabet": 14}},
            "synthetic": {"accuracy": {"64": {"accuracy": at_train, "scored": 2048},
                                       "512": {"accuracy": at_long, "scored": 2048}},
                          "training": {"steps": steps, "status": "ok", "val_curve": [[0, {"accuracy": at_train}]]}}}


def test_a_published_figure_inside_our_seed_spread_says_so():
    settings = [{"name": "s", "models": [{"label": "m", "published": {64: 1.0, 512: 0.4}}]}]
    runs = [_extrapolating("m", seed, 1.0, long, steps) for seed, (long, steps) in enumerate([(0.2, 100), (0.5, 120),
                                                                                             (0.3, 90)])]
    table = calibration_report.table(runs, settings).set_index("length")
    assert table.loc[512, "reproduces"] == "no"  # pooled: 0.333 over 6,144 answers
    assert table.loc[512, "why"].startswith("seeds, measured: the published 0.400 lies within ours across 3 runs that "
                                            "learned length 64 (0.200-0.500: 0.200 @ 100, 0.300 @ 90, 0.500 @ 120); ")
    outside = [{"name": "s", "models": [{"label": "m", "published": {64: 1.0, 512: 0.6}}]}]
    assert "seeds" not in calibration_report.table(runs, outside).set_index("length").loc[512, "why"]
    unlearned = [_extrapolating("m", 0, 1.0, 0.2), _extrapolating("m", 1, 0.5, 0.5)]  # one run learned: no spread
    assert "seeds" not in calibration_report.table(unlearned, settings).set_index("length").loc[512, "why"]


def test_runs_of_one_budget_that_learned_apart_are_pooled_apart_and_named():
    settings = [{"name": "s", "models": [{"label": "m", "published": {64: 1.0, 512: 0.3}}]}]
    runs = [_extrapolating("m", 0, 1.0, 0.5, 300), _extrapolating("m", 1, 0.1, 0.1, 150),
            _extrapolating("m", 2, 0.2, 0.1, 150)]
    table = calibration_report.table(runs, settings)
    learned, unlearned = table[table["seeds"] == 1], table[table["seeds"] == 2]
    # pooled, 0.5 and 0.1 would average 0.3 and "reproduce" a figure neither run scores
    assert learned.set_index("length").loc[512, "ours"] == pytest.approx(0.5)
    assert learned.set_index("length").loc[512, "reproduces"] == "no"
    assert unlearned.set_index("length").loc[512, "ours"] == pytest.approx(0.1)
    assert ("seeds, measured: 1 other run at this budget learned length 64 (1.000 at 300 steps; pooled on rows of "
            "their own); budget: "
            in unlearned.set_index("length").loc[64, "why"])
    assert "other run" not in learned.set_index("length").loc[512, "why"]


def test_a_figure_one_learned_seed_holds_alone_says_so():
    settings = [{"name": "s", "models": [{"label": "m", "published": {64: 1.0, 512: 0.19}}]}]
    runs = [_extrapolating("m", 0, 1.0, 0.2, 100), _extrapolating("m", 1, 1.0, 0.3, 120)]
    why = calibration_report.table(runs, settings).set_index("length").loc[512, "why"]
    assert why.startswith("seeds, measured: 1 of 2 runs that learned length 64 (0.200-0.300: 0.200 @ 100, 0.300 @ 120) "
                          "holds the published 0.190 in its own 95% interval; ")
    apart = [{"name": "s", "models": [{"label": "m", "published": {64: 1.0, 512: 0.1}}]}]
    assert "seeds" not in calibration_report.table(runs, apart).set_index("length").loc[512, "why"]
    short = _extrapolating("m", 2, 0.5, 0.05, 50)  # a run that never learned misses by its budget, not its seed
    short["config"]["steps"] = 50
    table = calibration_report.table(runs + [short], settings)
    assert "seeds" not in table[(table["length"] == 512) & (table["steps"] == "50")]["why"].item()


def test_another_rate_that_reproduces_leads_the_reason():
    settings = [{"name": "s", "models": [{"label": "m", "published": {64: 1.0}}]}]
    runs = [_extrapolating("m", 0, 0.3, 0.1, lr=0.01), _extrapolating("m", 0, 1.0, 0.1, 400, lr=0.001)]
    table = calibration_report.table(runs, settings).set_index(["lr", "length"])
    assert table.loc[(0.01, 64), "why"].startswith(
        "learning rate, measured: reproduces at lr 0.001 at 400 steps (900 steps, no stop rule); budget: ")
    assert table.loc[(0.001, 64), "why"] == ""


def test_a_variant_that_learned_but_does_not_reproduce_either_is_named():
    settings = [{"name": "s", "models": [{"label": "m", "published": {64: 1.0, 512: 0.4}},
                                         {"label": "v", "variant_of": "m", "published": {64: 1.0, 512: 0.4}}]}]
    runs = [_extrapolating("m", 0, 0.1, 0.1), _extrapolating("v", 0, 1.0, 0.9, 700), _extrapolating("v", 1, 1.0, 0.8, 800)]
    why = calibration_report.table(runs, settings).set_index(["model", "length"])["why"]
    assert why[("m", 64)].startswith("variant, measured: v reproduces at 800 steps")
    assert why[("m", 512)].startswith("variant, measured: v learns length 64 in 2 runs (700-800 steps) and scores "
                                      "0.800-0.900 here (published 0.400; its rows say why); budget: ")
    runs[2] = _extrapolating("v", 1, 1.0, 0.41, 800)  # pooled with 0.9 the variant misses 0.4; this run alone holds it
    why = calibration_report.table(runs, settings).set_index(["model", "length"])["why"]
    assert why[("m", 512)].startswith("variant, measured: v learns length 64 in 2 runs (700-800 steps) and scores "
                                      "0.410-0.900 here, 1 of them reproducing alone (published 0.400; its rows ")


def test_a_row_where_ours_and_the_published_figure_sit_at_chance_says_so():
    settings = [{"name": "s", "models": [{"label": "m", "published": {64: 1.0, 512: 0.04}}]}]
    runs = [_extrapolating("m", 0, 1.0, 0.07)]  # 14 answers: chance 0.071, our interval holds it
    why = calibration_report.table(runs, settings).set_index("length").loc[512, "why"]
    assert why.startswith("chance, measured: ours [0.060, 0.082] holds chance (0.071) and the published 0.040 is "
                          "within 0.05 of it: neither recalls at length 512; ours above the published figure; length")
    far = [{"name": "s", "models": [{"label": "m", "published": {64: 1.0, 512: 0.2}}]}]  # a figure that recalls
    assert "chance" not in calibration_report.table(runs, far).set_index("length").loc[512, "why"].split(";")[0]
    recalls = [_extrapolating("m", 0, 1.0, 0.5)]  # ours well above chance: no chance reason
    assert not calibration_report.table(recalls, settings).set_index("length").loc[512, "why"].startswith("chance")


def _probed(at_train_each, at_long_each, final_long, scored=2048):
    """A run trained at length 64 (eval_every 100) whose probes along training scored
    `at_train_each` at 64 and `at_long_each` at 512, and `final_long` at 512 in the end."""
    run = _extrapolating("m", 0, 1.0, final_long, steps=100 * len(at_train_each))
    run["config"]["eval_every"] = 100
    run["synthetic"]["training"]["val_curve"] = [
        [0, {"accuracy": a, "at": {"512": {"accuracy": b, "scored": scored}}}] for a, b in zip(at_train_each, at_long_each)]
    return run


def test_a_published_figure_our_probes_pass_both_ways_once_learned_says_so():
    settings = [{"name": "s", "models": [{"label": "m", "published": {64: 1.0, 512: 0.4}}]}]
    run = _probed([0.5, 1.0, 1.0, 1.0], [0.9, 0.6, 0.5, 0.2], 0.2)  # the 0.9 came before length 64 was learned
    why = calibration_report.table([run], settings).set_index("length").loc[512, "why"]
    assert why.startswith("along training, measured: once length 64 was learned, ours at length 512 went below and "
                          "above the published 0.400 (lowest 0.200 @ step 400, highest 0.600 @ step 200; "
                          "0.200-0.600 over 4 probes, steps 200-400); ")  # the final evaluation is the last probe
    never_above = _probed([0.5, 1.0, 1.0], [0.9, 0.3, 0.2], 0.2)  # above 0.4 only before it was learned
    why = calibration_report.table([never_above], settings).set_index("length").loc[512, "why"]
    assert "along training, measured" not in why
    assert why.endswith("; along training, once length 64 was learned: ours at length 512 0.200-0.300 over 3 probes, "
                        "steps 200-300")
    final_below = _probed([1.0, 1.0], [0.6, 0.5], 0.2)  # only the final evaluation went below
    why = calibration_report.table([final_below], settings).set_index("length").loc[512, "why"]
    assert why.startswith("along training, measured: once length 64 was learned, ours at length 512 went below and "
                          "above the published 0.400 (lowest 0.200 @ step 200, highest 0.600 @ step 100; ")
    too_few = _probed([1.0, 1.0], [0.42, 0.38], 0.39, scored=64)  # every interval holds 0.4: not past it
    why = calibration_report.table([too_few], settings).set_index("length").loc[512, "why"]
    assert "along training, measured" not in why
    unprobed = _extrapolating("m", 0, 1.0, 0.2)  # records from before probe_lengths
    assert "along training" not in calibration_report.table([unprobed], settings).set_index("length").loc[512, "why"]
    unprobed["config"]["steps"] = 500  # a row at another budget: the probed run's trajectory speaks for it too
    table = calibration_report.table([run, unprobed], settings)
    assert table[table["length"] == 512]["why"].str.startswith("along training, measured").tolist() == [True, True]


def test_probe_lengths_probe_extrapolation_along_training(tmp_path):
    out = run_cli("suite=quality", "suite.parts=[calibration]", TINY_SETTING, f"results_dir={tmp_path}",
                  "suite.calibration_budget.probe_lengths=[64,128]", "progress=false", timeout=600)
    assert out.returncode == 0, out.stderr
    (record,) = [r for _, r in results.iter_records(tmp_path / "quality")]
    assert record["config"]["probe_lengths"] == [64]  # 128 is no evaluation length; 32 the training one
    probes = [probe for _, probe in record["synthetic"]["training"]["val_curve"]]
    assert len(probes) == 2 and all(set(p["at"]) == {"64"} and p["at"]["64"]["scored"] > 0 for p in probes)
    out = run_cli("suite=quality", "suite.parts=[calibration]", TINY_SETTING, "dry_run=true",
                  "suite.calibration_budget.probe_lengths=[0]", timeout=300)
    assert out.returncode != 0 and "suite.calibration_budget.probe_lengths=[0]: must be positive lengths" in out.stderr
    assert "Traceback" not in out.stderr


def test_a_variant_its_parent_beats_says_the_change_moves_ours_away():
    settings = [{"name": "s", "models": [{"label": "m", "published": {64: 1.0, 512: 0.8}},
                                         {"label": "v", "variant_of": "m", "published": {64: 1.0, 512: 0.8}}]}]
    runs = [_extrapolating("m", 0, 1.0, 0.9), _extrapolating("v", 0, 1.0, 0.1)]
    why = calibration_report.table(runs, settings).set_index(["model", "length"])["why"]
    assert why[("v", 512)].startswith("variant, measured: m scores 0.900 here (900 steps, no stop rule; published "
                                      "0.800, ours 0.100): the change this entry's label names moves ours away; ")
    unlearned = [_extrapolating("m", 0, 0.5, 0.9), _extrapolating("v", 0, 1.0, 0.1)]  # its 0.9 means nothing
    assert "variant, measured" not in calibration_report.table(unlearned, settings).set_index(
        ["model", "length"])["why"][("v", 512)]
    close = [_extrapolating("m", 0, 1.0, 0.11), _extrapolating("v", 0, 1.0, 0.1)]  # inside our interval: sampling
    assert "variant, measured" not in calibration_report.table(close, settings).set_index(
        ["model", "length"])["why"][("v", 512)]
