"""A store's records as MLflow runs: `swarm-bench export store=<dir> format=mlflow [out=<dir>]`.

One MLflow run per record (MLflow's tracking client, `mlflow.MlflowClient`, the `mlflow` extra:
mlflow-skinny), in an experiment named after the store, tracked in `out`: a local directory is
MLflow's file store (in maintenance mode since MLflow 3, so the export opts in with
MLFLOW_ALLOW_FILE_STORE for that case only); any tracking URI (`http://...`, `sqlite:///...`
with MLflow's database extras) works too:

    params   the record's config scalars and `model.<key>` (results.flatten), as MLflow keeps them
    metrics  every numeric column of the tidy row (latency_ms_p50, tokens_per_s, peak_alloc_mb, ...)
    tags     point_id, base_point_id, run_id, status, suite, model, mode, gpu, git_sha
    artifact record.json: the whole record
    status   FINISHED for an ok point, FAILED otherwise; start time = the record's created_at

Exporting again adds only the records whose point id the experiment does not hold yet, so an
export can follow a growing store. Unreadable records are reported as by `results.load`.
"""
from __future__ import annotations

import json
import math
import os
from datetime import datetime
from pathlib import Path

from harness.errors import UserError
from harness.store import results

TAGS = ("point_id", "base_point_id", "run_id", "status", "suite", "model", "mode", "gpu_name", "git_sha")
MAX_PARAM_CHARS = 6000  # MLflow's limit on a param value


def _client(out: str | Path):
    try:
        from mlflow import MlflowClient
    except ImportError:
        raise UserError("export: format=mlflow needs mlflow: pip install 'swarm-bench[mlflow]'") from None
    if ":" in str(out) and not Path(out).exists():  # a tracking URI
        uri = str(out)
    else:
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")  # a local directory: the file store
        uri = Path(out).resolve().as_uri()
    return MlflowClient(tracking_uri=uri)


def _millis(created_at: str | None) -> int | None:
    try:
        return int(datetime.fromisoformat(str(created_at)).timestamp() * 1000)
    except ValueError:
        return None


def _numbers(row: dict) -> dict[str, float]:
    return {k: float(v) for k, v in row.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v))}


def export_mlflow(store: str | Path, out: str | Path, experiment: str | None = None) -> tuple[str, int]:
    """Log every record of `store` not yet in the experiment as one run; returns (the tracking
    URI, the number of runs added). An unusable tracking URI is a UserError."""
    from mlflow.exceptions import MlflowException

    try:
        return _export(_client(out), store, experiment)
    except MlflowException as exc:
        raise UserError(f"export: MLflow refused out={str(out)!r}: {str(exc).splitlines()[0]}") from None


def _export(client, store: str | Path, experiment: str | None) -> tuple[str, int]:
    from mlflow.entities import Metric, Param, RunTag

    name = experiment or Path(store).resolve().name
    found = client.get_experiment_by_name(name)
    experiment_id = found.experiment_id if found else client.create_experiment(name)
    known = {run.data.tags.get("point_id") for run in client.search_runs([experiment_id], max_results=50_000)}
    added = 0
    for _, record in results.scan(Path(store), warn=True)[0]:
        if record.get("point_id") in known:
            continue
        row = results.flatten(record)
        start = _millis(record.get("created_at"))
        tags = {k: str(row[k]) for k in TAGS if row.get(k) is not None}
        run = client.create_run(experiment_id, start_time=start, tags=tags,
                                run_name=" ".join(str(row[k]) for k in ("model", "mode", "seq_len") if row.get(k)))
        config = record.get("config") or {}
        params = {k: v for k, v in config.items() if not isinstance(v, (dict, list))}
        params.update({f"model.{k}": v for k, v in (config.get("model_config") or {}).items()})
        client.log_batch(run.info.run_id,
                         metrics=[Metric(k, v, start or 0, 0) for k, v in _numbers(row).items()],
                         params=[Param(k, str(v)[:MAX_PARAM_CHARS]) for k, v in params.items()],
                         tags=[RunTag("mlflow.note.content", str(record.get("error") or ""))] if record.get("error") else [])
        client.log_text(run.info.run_id, json.dumps(record, indent=1, default=str), "record.json")
        client.set_terminated(run.info.run_id, "FINISHED" if record.get("status") == "ok" else "FAILED", end_time=start)
        added += 1
    return client.tracking_uri, added
