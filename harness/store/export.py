"""A store's records in other tools' formats: `swarm-bench export store=<dir> format=<f>`.

    csv               the tidy table of `results.load` (one row per point, every column)
    parquet           the same table, typed (pyarrow: the `export` extra)
    pytest-benchmark  the timing points as pytest-benchmark's JSON (`--benchmark-json` layout:
                      machine_info, commit_info, benchmarks[] with stats in seconds), so
                      `pytest-benchmark compare` and github-action-benchmark (tool: pytest) read
                      them; a point's per-iteration samples become the benchmark's `data`
    mlflow            one MLflow run per record in a tracking directory (harness.store.export_mlflow:
                      params, metrics, tags, the record as an artifact; the `mlflow` extra)
Unreadable records are reported as by `results.load` (a warning naming them), never dropped
silently; columns holding lists or dicts are written as JSON text in csv and parquet.
"""
from __future__ import annotations

import json
import statistics
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from harness.errors import UserError
from harness.store import results

FORMATS = {"csv": "csv", "parquet": "parquet", "pytest-benchmark": "json", "mlflow": "mlruns"}  # format -> extension


def _scalar_columns(df: pd.DataFrame) -> pd.DataFrame:
    """Lists and dicts as JSON text: one type per column, readable by every csv/parquet reader."""
    out = df.copy()
    for column in out.columns:
        if out[column].map(lambda v: isinstance(v, (list, dict, tuple))).any():
            out[column] = out[column].map(lambda v: json.dumps(v, default=str) if isinstance(v, (list, dict, tuple))
                                          else (None if v is None or (isinstance(v, float) and pd.isna(v)) else str(v)))
    return out


def _benchmark(record: dict) -> dict | None:
    """One ok timing point as a pytest-benchmark entry (seconds), or None."""
    samples = record.get("samples_ms")
    if record.get("status") != "ok" or not samples or len(samples) < 2:
        return None
    config = record["config"]
    data = sorted(s / 1e3 for s in samples)
    q1, _, q3 = statistics.quantiles(data, n=4)
    name = " ".join(str(config[k]) for k in ("model", "mode") if config.get(k) is not None)
    name += "".join(f" {k}={config[k]}" for k in ("batch_size", "seq_len", "repeat") if config.get(k) is not None)
    return {
        "group": config.get("suite"), "name": name, "fullname": f"{config.get('suite')}/{record['point_id']}",
        "params": {k: v for k, v in config.items() if not isinstance(v, (dict, list))},
        "param": record["point_id"], "extra_info": {"run_id": record.get("run_id"), "tokens_per_s": record.get("tokens_per_s")},
        "options": {"timer": "cuda events" if str(config.get("device", "")).startswith("cuda") else "perf_counter"},
        "stats": {"min": data[0], "max": data[-1], "mean": statistics.fmean(data), "stddev": statistics.stdev(data),
                  "median": statistics.median(data), "q1": q1, "q3": q3, "iqr": q3 - q1, "rounds": len(data),
                  "iterations": 1, "total": sum(data), "ops": 1 / statistics.fmean(data), "outliers": "0;0",
                  "ld15iqr": data[0], "hd15iqr": data[-1], "iqr_outliers": 0, "stddev_outliers": 0, "data": data},
    }


def pytest_benchmark_json(store: str | Path) -> dict:
    records = [r for _, r in results.scan(Path(store), warn=True)[0]]
    benchmarks = [b for b in map(_benchmark, records) if b is not None]
    env = next((r["env"] for r in records if r.get("env")), {})
    return {
        "machine_info": {"node": env.get("hostname"), "machine": env.get("cpu"), "python_version": env.get("python"),
                         "gpu": env.get("gpu_name"), "packages": env.get("packages", {})},
        "commit_info": {"id": env.get("git_sha"), "dirty": env.get("git_dirty")},
        "benchmarks": benchmarks, "datetime": datetime.now(timezone.utc).isoformat(), "version": "5.2.3",
    }


def export(store: str | Path, fmt: str, out: str | Path) -> tuple[Path, int]:
    """Write `store` as `fmt` to `out`; returns (the file or tracking directory, the number of rows,
    benchmarks or MLflow runs added)."""
    if fmt not in FORMATS:
        raise UserError(f"export: format={fmt!r}; valid: {', '.join(FORMATS)}")
    if not Path(store).is_dir():
        raise UserError(f"export: store={str(store)!r} is not a directory of results")
    if fmt == "mlflow":
        from harness.store.export_mlflow import export_mlflow

        uri, added = export_mlflow(store, out)
        return Path(uri.removeprefix("file://")) if uri.startswith("file://") else Path(uri), added
    out = Path(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"export: out={str(out)!r} cannot be written ({exc.strerror})") from None
    if fmt == "pytest-benchmark":
        report = pytest_benchmark_json(store)
        _write(out, lambda path: path.write_text(json.dumps(report, indent=1, default=str)))
        return out, len(report["benchmarks"])
    table = _scalar_columns(results.load(store))
    if fmt == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise UserError("export: format=parquet needs pyarrow: pip install 'swarm-bench[export]'") from None
        _write(out, lambda path: table.to_parquet(path, index=False))
    else:
        _write(out, lambda path: table.to_csv(path, index=False))
    return out, len(table)


def _write(path: Path, write) -> None:
    try:
        write(path)
    except OSError as exc:
        raise UserError(f"export: out={str(path)!r} cannot be written ({exc.strerror})") from None
