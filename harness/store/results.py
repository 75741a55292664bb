"""The results store: one JSON record per point (schema in harness.store.schema), and `load()`.

    from harness.store import results
    df = results.load()            # every record under results/, reference set included
    df = results.load("results/scaling")

`load` never imports torch; it tolerates records from older schemas and partial records
(missing fields become NaN), so nothing already recorded becomes unreadable. A file that should
be a record and is not (truncated, not UTF-8, not a JSON object, a dangling link) is never
dropped silently: `load` warns with the count and paths and lists them in
`df.attrs["problems"]`; `scan` returns them beside the records. Other JSON files in a store
(benchmark summaries, lists) are not records and are left alone.
"""
from __future__ import annotations

import json
import re
import warnings
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from harness.store.atomic import write_json_atomic
from harness.store.points import point_id
from harness.store.schema import COLUMNS, SCHEMA_VERSION

DEFAULT_STORE = Path("results")


def record_path(store: str | Path, suite: str, point_id: str) -> Path:
    return Path(store) / suite / f"{point_id}.json"


RECORD_NAME = re.compile(r"^[0-9a-f]{16}\.json$")  # <point_id>.json, as write_record names them


class UnreadableRecords(UserWarning):
    """Some files of a store that should be records could not be read."""


def inspect_record(path: str | Path) -> tuple[dict | None, str | None]:
    """(the record, None), (None, None) for a JSON file that is no record (a summary, a list
    under another name), or (None, what is wrong with it)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None, "is a dangling link" if path.is_symlink() else "does not exist"
    except OSError as exc:
        return None, f"cannot be read ({exc.strerror})"
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return None, f"is not UTF-8 (bad byte at offset {exc.start})"
    except json.JSONDecodeError as exc:
        return None, f"is not valid JSON ({exc.msg} at line {exc.lineno}; truncated?)"
    named = bool(RECORD_NAME.match(path.name))
    if isinstance(data, dict) and "point_id" in data:
        return data, None
    if named:
        kind = type(data).__name__ if not isinstance(data, dict) else "object without point_id"
        return None, f"holds a JSON {kind}, not a record"
    return None, None


def read_record(path: str | Path) -> dict | None:
    """The record at `path`, or None when it is missing or unreadable (see inspect_record)."""
    return inspect_record(path)[0]


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
    # the point regardless of which of its processes this is: repeats of one point share it
    row["base_point_id"] = point_id({k: v for k, v in config.items() if k != "repeat"}) if config else None
    if row.get("isolation") is None and "overhead_s" in record:  # written before warm workers: a fresh process
        row["isolation"] = "point"
    gpu = row.get("peak_alloc_mb") is not None  # the headline memory of the device the point ran on
    row["peak_memory_mb"] = row.get("peak_alloc_mb") if gpu else row.get("peak_rss_mb")
    row["peak_memory_kind"] = "GPU allocated" if gpu else ("host RSS" if row.get("peak_rss_mb") is not None else None)
    curve = get_path(record, ("quality", "training", "val_curve"))
    if curve:  # a string, so exports and tables keep one scalar per cell
        row["val_bpb_curve"] = json.dumps([[tokens, scores["mean"]] for tokens, scores in curve])
    return row


def scan(store: str | Path = DEFAULT_STORE, warn: bool = False) -> tuple[list[tuple[Path, dict]], list[dict]]:
    """([(path, record)], [{path, problem}]) for every JSON file under `store`, recursively;
    with `warn`, the problems are also reported as an UnreadableRecords warning."""
    found, problems = [], []
    for path in sorted(Path(store).rglob("*.json")):
        record, problem = inspect_record(path)
        if record is not None:
            found.append((path, record))
        elif problem is not None:
            problems.append({"path": str(path), "problem": problem})
    if warn and problems:
        warnings.warn(describe_problems(problems), UnreadableRecords, stacklevel=3)
    return found, problems


def describe_problems(problems: list[dict], limit: int = 3) -> str:
    shown = "; ".join(f"{p['path']} {p['problem']}" for p in problems[:limit])
    return f"{len(problems)} unreadable record file(s): {shown}" + (" ..." if len(problems) > limit else "")


def iter_records(store: str | Path = DEFAULT_STORE):
    """(path, record) for every readable record under `store`, recursively (`scan` also
    returns the unreadable ones)."""
    yield from scan(store)[0]


def load(store: str | Path = DEFAULT_STORE) -> pd.DataFrame:
    """All records under `store` as a DataFrame, one row per point, plus `source` (the
    record's directory relative to the store, e.g. `scaling` or `reference/scaling`)."""
    store = Path(store)
    rows = []
    found, problems = scan(store, warn=True)
    for path, record in found:
        row = flatten(record)
        row["source"] = str(path.parent.relative_to(store))
        rows.append(row)
    columns = ["suite", "model", "mode", "seq_len", "batch_size", "dtype", "device", *COLUMNS]
    df = pd.DataFrame(rows)
    if df.empty:
        df = pd.DataFrame(columns=columns + ["source"])
    else:
        ordered = [c for c in columns if c in df.columns]
        df = df[ordered + [c for c in df.columns if c not in ordered]]
    df.attrs["problems"] = problems
    return df
