"""The Runs view's data, pure functions of the table and its records (no Streamlit): the runs (or
result directories) of the selection, newest first; the default pair; and the regression gate
(harness.analysis.compare) of any number of candidate runs against one baseline, with a forest
table of each point's latency ratio and its interval."""
from __future__ import annotations

import dataclasses

import pandas as pd

from harness.analysis import compare
from harness.analysis.claims import device_of
from harness.errors import UserError

UNITS = {"run_id": "runs (run id)", "source": "result directories"}


def _joined(values: pd.Series) -> str:
    return ", ".join(sorted(set(values.dropna().astype(str))))


def catalogue(df: pd.DataFrame, unit: str) -> pd.DataFrame:
    """One row per run (unit `run_id`) or result directory (`source`) of `df`, the newest first:
    when it last wrote a record, its devices (a failed point takes its run's), suites, points."""
    keyed = df.assign(device=device_of(df), when=pd.to_datetime(df["created_at"], utc=True, errors="coerce"))
    return (keyed.groupby(unit).agg(newest=("when", "max"), devices=("device", _joined), suites=("suite", _joined),
                                    points=("base_point_id", "nunique"))
            .sort_values("newest", ascending=False, na_position="last"))


def default_runs(df: pd.DataFrame, unit: str) -> list[str]:
    """[baseline, candidate]: the newest two GPU runs that share a point on one GPU (the gate
    refuses runs with none in common); else the newest two GPU runs; else the newest two runs."""
    newest = list(catalogue(df, unit).index)
    device = device_of(df)
    on_gpu = df.assign(key=df["base_point_id"].astype(str) + "|" + device)[device != "cpu"]
    keys = on_gpu.groupby(unit)["key"].agg(set).to_dict()
    gpu_runs = [run for run in newest if run in keys]
    for i, candidate in enumerate(gpu_runs):
        for baseline in gpu_runs[i + 1:]:
            if keys[candidate] & keys[baseline]:
                return [baseline, candidate]
    return (gpu_runs if len(gpu_runs) >= 2 else newest)[:2][::-1]


def _config_fields(config: dict) -> dict[str, str]:
    """A config's scalars, its model config's under their own names, every value as text."""
    fields = {k: v for k, v in config.items() if k not in ("model_config", "repeat")}
    fields.update(config.get("model_config") or {})
    return {k: str(v) for k, v in fields.items()}


def distinct_labels(configs: dict[str, dict]) -> dict[str, str]:
    """A label per key: compare.point_label, plus the config fields that tell apart the keys
    sharing that label (e.g. `n_encoders=100, top_k=4`)."""
    base = {key: compare.point_label({"config": config}) for key, config in configs.items()}
    out = {}
    for label in set(base.values()):
        keys = [key for key in configs if base[key] == label]
        fields = [_config_fields(configs[key]) for key in keys]
        differing = sorted({name for f in fields for name in f if len({g.get(name) for g in fields}) > 1})
        for key, f in zip(keys, fields):
            out[key] = label + (" " + ", ".join(f"{name}={f.get(name, '-')}" for name in differing) if differing else "")
    return out


def gate(baseline: list[dict], candidates: dict[str, list[dict]],
         settings: compare.GateSettings) -> tuple[dict[str, dict | str], pd.DataFrame]:
    """Each candidate against the baseline: ({name: compare_runs result, or why the gate refused
    the pair}, forest table). The forest holds one row per timed point and candidate: the
    latency ratio and its interval at the gate's per-point (Bonferroni) level, from
    compare_point over the same groups, labelled from the point's config."""
    results, rows = {}, []
    for name, records in candidates.items():
        try:
            result = compare.compare_runs(baseline, records, settings)
        except UserError as exc:
            results[name] = str(exc)
            continue
        results[name] = result
        per_point = dataclasses.replace(settings, confidence=result["settings"]["per_point_confidence"])
        base = compare.group_points(compare.on_candidate_device(baseline, records))
        cand = compare.group_points(records)
        shared = sorted(set(base) & set(cand))
        labels = distinct_labels({key: cand[key][0].get("config") or {} for key in shared})
        for key in shared:
            latency = compare.compare_point(base[key], cand[key], per_point).get("latency")
            if latency:
                rows.append({"candidate": name, "point": labels[key], "ratio": latency["ratio"],
                             "lo": latency["ci"][0], "hi": latency["ci"][1], "verdict": latency["verdict"],
                             "processes": "/".join(map(str, latency["processes"]))})
    return results, pd.DataFrame(rows, columns=["candidate", "point", "ratio", "lo", "hi", "verdict", "processes"])
