"""The results store: one JSON record per point (schema in harness.store.schema), and `load()`.

    from harness.store import results
    df = results.load()            # every record under results/, reference set included
    df = results.load("results/scaling")

`load` never imports torch; it tolerates records from older schemas and partial records
(missing fields become NaN), so nothing already recorded becomes unreadable.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from harness.store.atomic import write_json_atomic
from harness.store.schema import COLUMNS, SCHEMA_VERSION

DEFAULT_STORE = Path("results")


def record_path(store: str | Path, suite: str, point_id: str) -> Path:
    return Path(store) / suite / f"{point_id}.json"


def read_record(path: str | Path) -> dict | None:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError):
        return None


def write_record(store: str | Path, point_id: str, run_id: str, point: dict, outcome: dict) -> Path:
    """Write the record of one finished point atomically; returns its path."""
    payload = outcome.get("payload") or {}
    overhead = {**outcome.get("overhead_s", {}), **(payload.pop("phases_s", {}) or {}), "wall": outcome.get("wall_s")}
    record = {
        "schema_version": SCHEMA_VERSION, "point_id": point_id, "run_id": run_id,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "config": point, "status": outcome["status"], "error": outcome.get("error"),
        **payload, "overhead_s": overhead, "isolation": outcome.get("isolation"),
    }
    path = record_path(store, point["suite"], point_id)
    write_json_atomic(path, record)
    return path


def get_path(record: dict, path: tuple[str, ...]):
    value = record
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def flatten(record: dict) -> dict:
    """One tidy row: config scalars, `model.<key>` for model config, then the schema COLUMNS."""
    config = record.get("config") or {}
    row = {k: v for k, v in config.items() if not isinstance(v, (dict, list))}
    row.update({f"model.{k}": v for k, v in (config.get("model_config") or {}).items()
                if not isinstance(v, (dict, list))})
    for column, (path, _) in COLUMNS.items():
        value = get_path(record, path)
        row[column] = ", ".join(value) if isinstance(value, list) else value
    row["schema_version"] = record.get("schema_version")
    if row.get("isolation") is None and "overhead_s" in record:  # written before warm workers: a fresh process
        row["isolation"] = "point"
    return row


def iter_records(store: str | Path = DEFAULT_STORE):
    """(path, record) for every readable record under `store`, recursively."""
    for path in sorted(Path(store).rglob("*.json")):
        record = read_record(path)
        if isinstance(record, dict) and "point_id" in record:
            yield path, record


def load(store: str | Path = DEFAULT_STORE) -> pd.DataFrame:
    """All records under `store` as a DataFrame, one row per point, plus `source` (the
    record's directory relative to the store, e.g. `scaling` or `reference/scaling`)."""
    store = Path(store)
    rows = []
    for path, record in iter_records(store):
        row = flatten(record)
        row["source"] = str(path.parent.relative_to(store))
        rows.append(row)
    columns = ["suite", "model", "mode", "seq_len", "batch_size", "dtype", "device", *COLUMNS]
    df = pd.DataFrame(rows)
    if df.empty:
        return pd.DataFrame(columns=columns + ["source"])
    ordered = [c for c in columns if c in df.columns]
    return df[ordered + [c for c in df.columns if c not in ordered]]
