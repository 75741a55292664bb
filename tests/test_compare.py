"""The regression gate (harness.analysis.compare, `run.py compare`): planted slowdowns and memory growth
are flagged, noise drawn from a measured spread passes, incomparable runs are refused, and the
exit codes say which happened."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from harness.analysis import compare
from harness.errors import UserError
from harness.run.cli import main
from harness.store import results
from harness.store.atomic import write_json_atomic

REFERENCE = Path(__file__).resolve().parent.parent / "results" / "reference" / "regression"
GPU_ENV = {"gpu_name": "NVIDIA H100 80GB HBM3", "torch_cuda": "13.0",
           "packages": {"torch": "2.11.0", "transformers": "4.57.0", "mamba-ssm": "2.3.2", "causal-conv1d": "1.7.0"}}


def record(model="mamba", mode="forward", repeat=0, samples=(10.0,) * 20, peak_alloc=500.0, params=1000,
           status="ok", loss=None, env=None, run_id="run-a", dtype="bf16") -> dict:
    config = {"suite": "regression", "model": model, "preset": "tiny", "mode": mode, "batch_size": 4,
              "seq_len": 256, "dtype": dtype, "device": "cuda", "repeat": repeat}
    rec = {"point_id": f"{model}-{mode}-{repeat}-{run_id}", "run_id": run_id, "config": config, "status": status,
           "env": env or GPU_ENV,
           "model_info": {"params_total": params, "params_active": params, "flops_per_token": 6 * params}}
    if status == "ok" and mode != "loss":
        rec.update(samples_ms=list(samples), memory_mb={"peak_alloc": peak_alloc})
    if status == "ok" and mode == "loss":
        rec["loss"] = {"final": loss}
    return rec


def noisy_run(rng, run_id, scale=1.0, memory=500.0, models=("mamba", "transformer"), repeats=3,
              between_cv=0.03, within_cv=0.05, loss=2.0):
    """Records whose per-process level varies by `between_cv` and iterations by `within_cv`."""
    out = []
    for model in models:
        for repeat in range(repeats):
            level = 10.0 * scale * np.exp(between_cv * rng.standard_normal())
            samples = level * np.exp(within_cv * rng.standard_normal(30))
            out.append(record(model, "forward", repeat, samples, memory, run_id=run_id))
        out.append(record(model, "loss", 0, loss=loss, run_id=run_id))
    return out


def write_run(directory: Path, records: list[dict]) -> str:
    for rec in records:
        write_json_atomic(directory / "regression" / f"{rec['point_id']}.json", rec)
    return str(directory)


def test_planted_30_percent_slowdown_is_flagged():
    rng = np.random.default_rng(1)
    base, cand = noisy_run(rng, "a"), noisy_run(rng, "b", scale=1.3)
    result = compare.compare_runs(base, cand)
    verdicts = {p["label"]: p["verdict"] for p in result["points"]}
    assert not result["passed"]
    assert [v for label, v in verdicts.items() if "forward" in label] == ["regressed", "regressed"]
    lat = next(p["latency"] for p in result["points"] if "forward" in p["label"])
    assert 1.2 < lat["ratio"] < 1.4 and lat["ci"][0] > 1 and 1.1 <= lat["detectable_ratio"] < 1.3


def test_planted_memory_growth_is_flagged_even_without_slowdown():
    rng = np.random.default_rng(2)
    result = compare.compare_runs(noisy_run(rng, "a"), noisy_run(rng, "b", memory=540.0))
    forward = [p for p in result["points"] if "forward" in p["label"]]
    assert all(p["verdict"] == "regressed" and p["memory"]["verdict"] == "regressed" for p in forward)
    assert all(p["latency"]["verdict"] == "unchanged" for p in forward)


def test_small_memory_jitter_within_tolerance_passes():
    rng = np.random.default_rng(3)
    assert compare.compare_runs(noisy_run(rng, "a"), noisy_run(rng, "b", memory=500.5))["passed"]


@pytest.mark.parametrize("seed", range(10))
def test_noise_alone_never_regresses(seed):
    """Two runs from one distribution whose spread is large (8% between processes, 10% within)."""
    rng = np.random.default_rng(100 + seed)
    runs = [noisy_run(rng, run, between_cv=0.08, within_cv=0.10) for run in ("a", "b")]
    result = compare.compare_runs(*runs)
    assert result["passed"], [p for p in result["points"] if p["verdict"] != "unchanged"]


def _measured_processes() -> dict[str, list[np.ndarray]]:
    groups: dict[str, list[np.ndarray]] = {}
    for _, rec in results.iter_records(REFERENCE):
        if rec.get("status") == "ok" and rec.get("samples_ms"):
            groups.setdefault(compare.point_key(rec), []).append(np.asarray(rec["samples_ms"]))
    return groups


def _resampled_run(groups, rng, run_id, scale=1.0) -> list[dict]:
    """A run drawn from the measured H100 spread: each process is a real process of the
    reference run, its iterations resampled, its level shifted by a real process-to-process
    deviation (process median / median of process medians)."""
    out = []
    for key, processes in groups.items():
        medians = np.array([np.median(p) for p in processes])
        deviations = medians / np.median(medians)
        model = json.loads(key)["model"] + "-" + json.loads(key)["mode"]
        for repeat in range(len(processes)):
            source = processes[rng.integers(len(processes))]
            samples = source[rng.integers(0, len(source), len(source))] / np.median(source)
            level = np.median(medians) * deviations[rng.integers(len(deviations))] * scale
            out.append(record(model, "forward", repeat, samples * level, run_id=run_id))
    return out


def test_measured_h100_spread_passes_and_planted_slowdown_is_caught():
    groups = _measured_processes()
    assert len(groups) >= 5, f"the committed H100 regression baseline is missing under {REFERENCE}"
    rng = np.random.default_rng(0)
    for _ in range(5):
        result = compare.compare_runs(_resampled_run(groups, rng, "a"), _resampled_run(groups, rng, "b"))
        assert result["passed"], [p for p in result["points"] if p["verdict"] != "unchanged"]
    result = compare.compare_runs(_resampled_run(groups, rng, "a"), _resampled_run(groups, rng, "b", scale=1.3))
    caught = sum(p["verdict"] == "regressed" for p in result["points"])
    assert caught >= 0.8 * len(groups), f"{caught} of {len(groups)} points caught"


def test_changed_parameter_count_fails_the_gate():
    rng = np.random.default_rng(4)
    cand = noisy_run(rng, "b")
    for rec in cand:
        rec["model_info"]["params_total"] += 1
    result = compare.compare_runs(noisy_run(rng, "a"), cand)
    assert not result["passed"] and {p["verdict"] for p in result["points"]} == {"changed"}


def test_failed_candidate_point_and_diverged_loss_fail_the_gate():
    base = [record(repeat=r) for r in range(3)] + [record(mode="loss", loss=2.0)]
    cand = [record(repeat=0), record(repeat=1, status="oom"), record(repeat=2)] + [record(mode="loss", loss=None)]
    result = compare.compare_runs(base, cand)
    verdicts = sorted(p["verdict"] for p in result["points"])
    assert verdicts == ["failed", "regressed"]


def test_loss_tolerance_follows_the_baselines_own_spread():
    base = [record(mode="loss", repeat=0, loss=2.0), record(mode="loss", repeat=1, loss=2.1)]
    assert compare.compare_runs(base, [record(mode="loss", loss=2.25)])["passed"]  # 2.25 - 2.05 within 0.02 + 2 x 0.1
    assert not compare.compare_runs(base, [record(mode="loss", loss=2.3)])["passed"]


def test_missing_points_fail_new_points_do_not_and_disjoint_runs_are_refused():
    result = compare.compare_runs([record(), record(model="transformer")], [record()])
    assert not result["passed"] and result["counts"] == {"unchanged": 1, "missing": 1}
    result = compare.compare_runs([record()], [record(), record(model="transformer")])
    assert result["passed"] and result["counts"] == {"unchanged": 1, "new": 1}
    with pytest.raises(UserError, match="no point in common"):
        compare.compare_runs([record()], [record(model="transformer")])


@pytest.mark.parametrize("field, value", [("gpu_name", "NVIDIA A100-SXM4-80GB"), ("torch", "2.12.0")])
def test_incomparable_environments_are_refused(field, value):
    other = json.loads(json.dumps(GPU_ENV))
    (other["packages"] if field == "torch" else other)[field] = value
    with pytest.raises(compare.Incomparable, match=value.split("-")[0]):
        compare.compare_runs([record()], [record(env=other)])
    assert compare.compare_runs([record()], [record(env=other)], ignore_env=("device", "torch"))["passed"]


def test_cli_exit_codes_and_reports(tmp_path, capsys):
    rng = np.random.default_rng(5)
    base = write_run(tmp_path / "base", noisy_run(rng, "a"))
    same = write_run(tmp_path / "same", noisy_run(rng, "b"))
    slow = write_run(tmp_path / "slow", noisy_run(rng, "c", scale=1.3))
    assert main(["compare", f"baseline={base}", f"candidate={same}"]) == 0
    md, js = tmp_path / "gate.md", tmp_path / "gate.json"
    assert main(["compare", f"baseline={base}", f"candidate={slow}", f"markdown={md}", f"json={js}"]) == 1
    out = capsys.readouterr().out
    assert "REGRESSED" in out and "gate FAILED" in out
    assert "**failed**" in md.read_text() and json.loads(js.read_text())["passed"] is False


def test_cli_finds_runs_by_id_in_the_store(tmp_path):
    rng = np.random.default_rng(6)
    write_run(tmp_path / "store", noisy_run(rng, "20261122T100000Z-aaaa") + noisy_run(rng, "20261122T110000Z-bbbb"))
    store = tmp_path / "store"
    assert main(["compare", "baseline=20261122T10", "candidate=20261122T11", f"store={store}"]) == 0


@pytest.mark.parametrize("argv, message", [
    (["compare", "baseline=/nonexistent", "candidate=/nonexistent"], "not a directory"),
    (["compare", "baseline=x"], "missing key compare.candidate"),
    (["compare", "baseline=x", "candidate=y", "treshold=0.2"], "unknown key compare.treshold"),
    (["compare", "baseline=x", "candidate=y", "threshold=2"], "must be in (0, 1)"),
    (["compare", "baseline=x", "candidate=y", "threshold=fast"], "expected float"),
    (["compare", "baseline"], "expected key=value"),
])
def test_cli_bad_input_is_one_line_and_exit_2(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_cli_incomparable_runs_exit_2(tmp_path, capsys):
    other = {**GPU_ENV, "gpu_name": "NVIDIA A100-SXM4-80GB"}
    base = write_run(tmp_path / "a", [record()])
    cand = write_run(tmp_path / "b", [record(env=other, run_id="run-b")])
    assert main(["compare", f"baseline={base}", f"candidate={cand}"]) == 2
    assert "incomparable" in capsys.readouterr().err


def test_latency_interval_widens_with_process_spread_and_notes_single_processes():
    rng = np.random.default_rng(7)
    tight = [10 * np.exp(0.02 * rng.standard_normal(30)) for _ in range(3)]
    spread = [10 * level * np.exp(0.02 * rng.standard_normal(30)) for level in (0.8, 1.0, 1.2)]
    width = {name: np.diff(compare.process_level_interval(g, tight, 0.95)[1:])[0]
             for name, g in (("tight", tight), ("spread", spread))}
    assert width["spread"] > 5 * width["tight"]
    single = compare.latency_comparison(tight[:1], spread[:1], compare.GateSettings())
    assert "unknown" in single["interval"] and single["ci"][0] < single["ratio"] < single["ci"][1]
