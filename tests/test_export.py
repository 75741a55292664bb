"""`swarm-bench export`: a store as csv and parquet (the tidy table, every row and column) and
as pytest-benchmark JSON that pytest-benchmark's own `compare` reads, over the committed H100
regression records."""
from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

from harness.measure.env import REPO_ROOT
from harness.run import cli
from harness.store import results

STORE = REPO_ROOT / "results" / "reference" / "regression"


@pytest.mark.parametrize("fmt,read", [("csv", pd.read_csv), ("parquet", pd.read_parquet)])
def test_the_table_round_trips(fmt, read, tmp_path, capsys):
    out = tmp_path / f"reg.{fmt}"
    assert cli.main(["export", f"store={STORE}", f"format={fmt}", f"out={out}"]) == 0
    table = results.load(STORE)
    assert f"wrote {out} ({len(table)} rows" in capsys.readouterr().out
    back = read(out)
    assert back.shape == table.shape and list(back.columns) == list(table.columns)
    assert sorted(back["point_id"]) == sorted(table["point_id"])
    assert back["latency_ms_p50"].sum() == pytest.approx(table["latency_ms_p50"].sum())


def test_pytest_benchmark_json_has_every_ok_timing_point_and_pytest_benchmark_reads_it(tmp_path):
    out = tmp_path / "reg.json"
    assert cli.main(["export", f"store={STORE}", "format=pytest-benchmark", f"out={out}"]) == 0
    report = json.loads(out.read_text())
    timed = [r for _, r in results.iter_records(STORE) if r["status"] == "ok" and r.get("samples_ms")]
    assert len(report["benchmarks"]) == len(timed) > 0
    by_id = {b["param"]: b for b in report["benchmarks"]}
    for record in timed:
        stats = by_id[record["point_id"]]["stats"]
        assert stats["median"] == pytest.approx(record["latency_ms"]["median"] / 1e3, rel=1e-6)
        assert stats["rounds"] == len(record["samples_ms"])
    assert len({b["name"] for b in report["benchmarks"]}) == len(timed)  # repeats keep their own names
    compared = subprocess.run([sys.executable, "-c", "from pytest_benchmark.cli import main; main()", "compare", str(out)],
                              capture_output=True, text=True)
    assert compared.returncode == 0, compared.stderr
    assert "mamba forward batch_size=4 seq_len=4096 repeat=0" in compared.stdout


def test_the_default_out_is_beside_the_store(tmp_path):
    store = tmp_path / "mystore"
    (store / "unit").mkdir(parents=True)
    assert cli.main(["export", f"store={store}"]) == 0
    assert (tmp_path / "mystore.csv").exists()


def test_mlflow_gets_one_run_per_record_and_a_second_export_adds_none(tmp_path, capsys):
    mlflow = pytest.importorskip("mlflow", reason="the mlflow extra (in dev) is not installed")
    out = tmp_path / "runs.mlruns"
    records = {r["point_id"]: r for _, r in results.iter_records(STORE)}
    assert cli.main(["export", f"store={STORE}", "format=mlflow", f"out={out}"]) == 0
    assert f"({len(records)} MLflow runs added" in capsys.readouterr().out
    client = mlflow.MlflowClient(tracking_uri=out.resolve().as_uri())
    experiment = client.get_experiment_by_name("regression")
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    assert sorted(run.data.tags["point_id"] for run in runs) == sorted(records)
    for run in runs:
        record = records[run.data.tags["point_id"]]
        assert run.data.params["model"] == record["config"]["model"]
        assert run.info.status == ("FINISHED" if record["status"] == "ok" else "FAILED")
        if record.get("latency_ms"):
            assert run.data.metrics["latency_ms_p50"] == pytest.approx(record["latency_ms"]["median"])
    artifact = client.download_artifacts(runs[0].info.run_id, "record.json", str(tmp_path))
    assert json.loads(open(artifact).read())["point_id"] == runs[0].data.tags["point_id"]
    assert cli.main(["export", f"store={STORE}", "format=mlflow", f"out={out}"]) == 0
    assert "(0 MLflow runs added" in capsys.readouterr().out
