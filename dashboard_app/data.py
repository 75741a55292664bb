"""The dashboard's table: `harness.store.results.load()` with the repeats of each point pooled into
one row (harness.analysis.claims_pool: `processes`, between-process CIs), plus derived columns,
the store's file signature that dashboard_app.cache keys it on (new records show up on the next
rerun), the sidebar filters, and the keys of a row's records."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from harness.analysis import claims_pool
from harness.store import results
from harness.store.schema import FAILED_STATUSES

FILTERS = {  # sidebar label -> column
    "suite": "suite", "model": "model", "GPU": "gpu", "run": "run_id", "dtype": "dtype", "status": "status",
}


def store_signature(store: str | Path) -> tuple:
    """(count, newest mtime, total size) of the store's JSON files: changes when a record does."""
    files = list(Path(store).rglob("*.json"))
    stats = [f.lstat() for f in files]  # lstat: a dangling link is a problem to show, not a crash
    return len(files), max((s.st_mtime for s in stats), default=0.0), sum(s.st_size for s in stats)


def _column(df: pd.DataFrame, name: str, default=np.nan) -> pd.Series:
    return df[name] if name in df.columns else pd.Series(default, index=df.index)


def prepare(df: pd.DataFrame) -> pd.DataFrame:
    """Derived columns every view uses; tolerant of old or partial records (missing -> NaN)."""
    df = df.copy()
    for name in ("suite", "model", "mode", "dtype", "status", "run_id", "gpu_name", "source", "matched_to", "backend",
                 "sweep", "created_at", "git_sha"):
        df[name] = _column(df, name, None)
    df["gpu"] = df["gpu_name"].fillna("cpu")
    df["status"] = df["status"].fillna("unknown")
    df["model"] = df["model"].astype(object).fillna("(no model)")  # records of other tasks: shown, labelled
    for name in ("seq_len", "batch_size", "latency_ms_p50", "latency_ms_ci_lo", "latency_ms_ci_hi",
                 "peak_alloc_mb", "peak_rss_mb", "tokens_per_s", "flops_per_token", "params_total",
                 "params_active", "energy_j_per_token", "loss_final", "model.n_encoders", "model.top_k",
                 "routing_load_entropy_bits", "routing_experts_used", "prefill_ms_p50", "state_mb",
                 "generation_tokens_per_s"):
        df[name] = pd.to_numeric(_column(df, name), errors="coerce")
    df["memory_mb"] = df["peak_alloc_mb"].fillna(df["peak_rss_mb"])
    df["failed"] = df["status"].isin(FAILED_STATUSES)
    graphs = _column(df, "cuda_graphs", False).astype("boolean").fillna(False)
    df["decode_series"] = df["model"] + np.where(graphs, " (CUDA graphs)", "")
    return df


def load(store: str | Path) -> pd.DataFrame:
    """The prepared table; `attrs["problems"]` lists the store's unreadable record files."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", results.UnreadableRecords)  # shown on the page instead
        raw = results.load(store)
    df = prepare(claims_pool.pool_processes(raw, within=("source", "run_id")))
    df.attrs["problems"] = raw.attrs.get("problems", [])
    return df


def problems_text(df: pd.DataFrame) -> str | None:
    """A warning line for the store's unreadable record files, or None."""
    problems = df.attrs.get("problems") or []
    return results.describe_problems(problems) + " (not shown; the runner redoes their points)" if problems else None


def apply_filters(df: pd.DataFrame, chosen: dict[str, list]) -> pd.DataFrame:
    """Keep rows whose column value is among the chosen ones (an empty choice keeps all)."""
    mask = pd.Series(True, index=df.index)
    for label, values in chosen.items():
        if values:
            mask &= df[FILTERS[label]].astype(str).isin([str(v) for v in values])
    return df[mask]


def options(df: pd.DataFrame, label: str) -> list[str]:
    return sorted(df[FILTERS[label]].dropna().astype(str).unique())


def process_keys(df: pd.DataFrame) -> list[tuple[str, str]]:
    """(directory, point id) of every process behind the rows of `df`: a pooled row lists its
    processes' ids; a point id names a config, so the directory tells apart runs that share one."""
    ids = df["process_point_ids"] if "process_point_ids" in df else df["point_id"]
    return [(str(source), pid) for source, own, processes in zip(df["source"], df["point_id"], ids)
            for pid in (processes if isinstance(processes, list) else [own])]


# dense BF16 tensor throughput of the project's H100 (datasheet, and the best of its cuBLAS bf16
# GEMM sweeps, 666-750 TF/s), measured before benchmarks/ceilings.py existed; every other GPU's
# ceilings come from the `ceilings*.json` that benchmark writes into the store
H100_CEILINGS = {"NVIDIA H100 80GB HBM3": {"spec": 989.4, "measured": 750.0, "copy_gb_s": None,
                                           "source": "GEMM sweeps on the project's H100"}}


def load_ceilings(store: str | Path) -> dict[str, dict]:
    """GPU name -> {spec, measured (TF/s), copy_gb_s, source}: the H100's recorded figures, then
    every `ceilings*.json` under `store` (benchmarks.ceilings), a GPU's newest file winning."""
    found = dict(H100_CEILINGS)
    for path in sorted(Path(store).rglob("ceilings*.json"), key=lambda p: p.stat().st_mtime):
        try:
            data = json.loads(path.read_text())
            found[data["gpu_name"]] = {"spec": data.get("datasheet", {}).get("bf16_tflops"),
                                       "measured": float(data["bf16_gemm_tflops"]), "copy_gb_s": data.get("copy_gb_s"),
                                       "source": str(path)}
        except (OSError, ValueError, KeyError, TypeError):
            continue  # not a ceilings file (or a damaged one): the view simply has no ceiling for it
    return found


def point_keys(df: pd.DataFrame) -> pd.Series:
    """Each row's key, `<directory>/<point id>`: its first process's record path in the store
    without `.json` (a point id names a config, so H100 and H200 runs of one share it)."""
    return df["source"].astype(str) + "/" + df["point_id"].astype(str)


def find_point(df: pd.DataFrame, wanted: str) -> str | None:
    """The key of the row `wanted` names: its key, `<directory>/<id of any of its processes>`,
    or a bare point id (the first such row); None when no row matches."""
    keys = point_keys(df)
    if wanted in set(keys):
        return wanted
    source, _, pid = str(wanted).rpartition("/")
    ids = df["process_point_ids"] if "process_point_ids" in df else df["point_id"].map(lambda p: [p])
    for key, row_source, own, processes in zip(keys, df["source"].astype(str), df["point_id"], ids):
        if (pid == own or pid in (processes if isinstance(processes, list) else [])) and source in ("", row_source):
            return key
    return None
