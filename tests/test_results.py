"""The results store: atomic writes, tidy load() with unit-named columns, tolerance of
partial and old records; point ids; latency statistics."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from harness.measure.stats import mean_interval, summarize
from harness.store import results
from harness.store.atomic import write_json_atomic
from harness.store.points import point_id
from harness.store.schema import COLUMNS, SCHEMA_VERSION

POINT = {"suite": "scaling", "task": "harness.measure:measure_model", "model": "mamba", "mode": "forward",
         "seq_len": 512, "batch_size": 1, "model_config": {"d_model": 64, "n_layer": 2}}


def _outcome(samples):
    return {"status": "ok", "error": None, "overhead_s": {"import": 1.0}, "wall_s": 3.0,
            "payload": {"samples_ms": samples, "latency_ms": summarize(samples), "tokens_per_s": 1e4,
                        "memory_mb": {"peak_alloc": 12.5}, "model_info": {"backend": "reference"},
                        "phases_s": {"build": 0.5}}}


def test_written_record_loads_as_one_tidy_row(tmp_path):
    pid = point_id(POINT)
    path = results.write_record(tmp_path, pid, "run-1", POINT, _outcome([1.0, 2.0, 3.0]))
    assert path == tmp_path / "scaling" / f"{pid}.json"
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")], "temp file left behind"
    df = results.load(tmp_path)
    assert len(df) == 1
    row = df.iloc[0]
    assert row["latency_ms_p50"] == 2.0 and row["peak_alloc_mb"] == 12.5 and row["tokens_per_s"] == 1e4
    assert row["model.d_model"] == 64 and row["seq_len"] == 512 and row["source"] == "scaling"
    assert row["overhead_import_s"] == 1.0 and row["overhead_build_s"] == 0.5 and row["overhead_wall_s"] == 3.0
    assert set(COLUMNS) <= set(df.columns)
    assert json.loads(path.read_text())["schema_version"] == SCHEMA_VERSION


def test_partial_old_and_broken_records_do_not_break_load_and_the_broken_one_is_named(tmp_path):
    write_json_atomic(tmp_path / "old" / "a.json", {"point_id": "a", "status": "oom", "config": {"model": "x"}})
    (tmp_path / "old" / "broken.json").write_text("{not json")
    (tmp_path / "old" / "other.json").write_text(json.dumps({"unrelated": 1}))
    with pytest.warns(results.UnreadableRecords, match="broken.json is not valid JSON"):
        df = results.load(tmp_path)
    assert list(df["status"]) == ["oom"] and np.isnan(df["latency_ms_p50"].astype(float)).all()
    assert [Path(p["path"]).name for p in df.attrs["problems"]] == ["broken.json"]  # other.json: not a record


def test_empty_store_gives_empty_table_with_schema_columns(tmp_path):
    df = results.load(tmp_path / "missing")
    assert df.empty and "latency_ms_p50" in df.columns


def test_point_id_is_canonical_and_sensitive():
    reordered = dict(reversed(list(POINT.items())))
    assert point_id(POINT) == point_id(reordered)
    assert point_id(POINT) != point_id({**POINT, "seq_len": 1024})
    assert len(point_id(POINT)) == 16


def test_summary_statistics():
    x = np.arange(1, 101, dtype=float)
    s = summarize(x)
    assert s["median"] == 50.5 and s["p10"] == pytest.approx(np.quantile(x, 0.1))
    assert s["iqr"] == pytest.approx(49.5) and s["noisy"]
    assert s["ci_lo"] < s["median"] < s["ci_hi"]
    assert summarize(x) == s  # the bootstrap is seeded
    quiet = summarize([10.0, 10.1, 9.9, 10.05, 9.95])
    assert not quiet["noisy"] and quiet["iqr_over_median"] < 0.1
    with pytest.raises(ValueError):
        summarize([])


def test_the_mean_interval_is_students_t_over_the_finite_values():
    mean, low, high = mean_interval([1.0, 2.0, 3.0, float("nan")])  # t(0.975, 2) = 4.303, standard error 1/sqrt(3)
    assert mean == 2.0 and (low, high) == pytest.approx((2 - 4.3027 / np.sqrt(3), 2 + 4.3027 / np.sqrt(3)), abs=1e-4)
    assert mean_interval([5.0])[0] == 5.0 and np.isnan(mean_interval([5.0])[1:]).all()
    assert np.isnan(mean_interval([])).all()


def test_one_headline_memory_column_names_its_kind():
    from harness.store.results import flatten

    gpu = flatten({"config": {}, "memory_mb": {"peak_alloc": 512.0, "peak_rss": 3000.0}})
    cpu = flatten({"config": {}, "memory_mb": {"peak_rss": 300.0}})
    none = flatten({"config": {}, "status": "error"})
    assert (gpu["peak_memory_mb"], gpu["peak_memory_kind"]) == (512.0, "GPU allocated")
    assert (cpu["peak_memory_mb"], cpu["peak_memory_kind"]) == (300.0, "host RSS")
    assert (none["peak_memory_mb"], none["peak_memory_kind"]) == (None, None)
