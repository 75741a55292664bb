"""The History view's data (asv-style), pure functions of the table and its records (no
Streamlit): a point key is the config minus the run and repeat (`base_point_id`) on one device;
each key's measurements are its processes pooled per commit (`git_sha`) or per run
(harness.analysis.claims_pool: the geometric mean of the process medians and its between-
process 95% interval), in the order they were measured; and each step between consecutive
measurements gets the regression gate's verdict (harness.analysis.compare.compare_point, its
intervals Bonferroni-corrected over the steps shown; runs the gate would refuse as measured in
different environments are `incomparable`)."""
from __future__ import annotations

import dataclasses

import pandas as pd

from dashboard_app import data, series
from dashboard_app.runs import distinct_labels
from harness.analysis import claims_pool, compare
from harness.analysis.claims import device_of
from harness.errors import UserError
from harness.store import results

METRICS = ("latency_ms_p50", "memory_mb", "tokens_per_s")
AXES = {"commit": "git_sha", "date": "run_id"}  # x axis -> what one measurement pools
PART = {"latency_ms_p50": "latency", "tokens_per_s": "latency", "memory_mb": "memory"}  # gate part per metric
POOLED = ["base_point_id", "point_id", "repeat", "run_id", "git_sha", "created_at", "gpu_name", "device", "status",
          "suite", "model", "mode", "seq_len", "batch_size", "latency_ms_p50", "latency_ms_ci_lo", "latency_ms_ci_hi",
          "latency_noisy", "tokens_per_s", "peak_alloc_mb", "peak_rss_mb", "record"]  # what pooling and the metrics read
POINT_COLUMNS = ["key", "label", "x", "when", "value", "lo", "hi", "processes", "text", "record"]
STEP_COLUMNS = ["key", "label", "x", "value", "verdict", "text"]


def keyed(df: pd.DataFrame) -> pd.Series:
    """Each row's point key: `base_point_id|device`."""
    return df["base_point_id"].astype(str) + "|" + device_of(df)


def point_keys(rows: pd.DataFrame, configs: dict[str, dict]) -> pd.DataFrame:
    """One row per point key of `rows` (`configs`: each base_point_id's config), labelled, with
    how many commits and runs measured it; GPU keys first, then those measured at the most
    commits, then in the most runs."""
    rows = rows.assign(key=keyed(rows), device=device_of(rows))
    keys = (rows.groupby("key").agg(base_point_id=("base_point_id", "first"), device=("device", "first"),
                                    commits=("git_sha", "nunique"), runs=("run_id", "nunique"))
            .assign(on_gpu=lambda k: k["device"] != "cpu")
            .sort_values(["on_gpu", "commits", "runs"], ascending=False).reset_index())
    labels = distinct_labels({b: configs.get(b) or {} for b in keys["base_point_id"]})
    keys["label"] = [f"{labels[b]} on {d.removeprefix('NVIDIA ')}" for b, d in zip(keys["base_point_id"], keys["device"])]
    return keys


def _step(before: list[dict], after: list[dict], metric: str, settings: compare.GateSettings) -> tuple[str, str] | None:
    """(verdict, what it rests on) of the gate between two measurements, or None when the
    metric's part was not compared (e.g. no timing samples)."""
    point = compare.compare_point(before, after, settings)
    if point["verdict"] in ("failed", "baseline failed"):
        return point["verdict"], point.get("note", "")
    try:
        compare.check_comparable(before, after)
    except UserError as exc:
        return "incomparable", str(exc)
    part = point.get(PART[metric])
    if not part:
        return None
    if PART[metric] == "latency":
        return part["verdict"], f"latency ratio {part['ratio']:.3f} [{part['ci'][0]:.3f}, {part['ci'][1]:.3f}]"
    return part["verdict"], f"{part['metric']} {part['baseline']:.1f} -> {part['candidate']:.1f} (limit {part['limit']:.1f})"


def history(records: list[dict], labels: dict[str, str], metric: str, axis: str,
            settings: compare.GateSettings = compare.GateSettings(),
            record_keys: list[str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(points, steps) of the keys among `records` (labelled by `labels`), `axis` `commit` or
    `date` (one measurement per run). Points: key, label, x (the short commit, or the run's
    first record time), when, value, lo/hi (the 95% interval, NaN where unknown), processes,
    hover text, record (the first process's point key, from `record_keys`, parallel to
    `records`, so a click opens it). Steps: the gate's verdict on each step, placed at the later measurement (at the
    earlier one's value where the later has none, e.g. it failed)."""
    if not records:
        return pd.DataFrame(columns=POINT_COLUMNS), pd.DataFrame(columns=STEP_COLUMNS)
    unit = AXES[axis]
    flat = pd.DataFrame([results.flatten(r) for r in records]).assign(record=record_keys)
    flat = flat[[c for c in POOLED if c in flat]]  # pooling's cost grows with the columns
    commit = flat.get("git_sha", pd.Series(None, index=flat.index))
    flat = flat.assign(device_name=device_of(flat), git_sha=commit.astype(object).where(commit.notna(), "no commit"),
                       when=pd.to_datetime(flat["created_at"], utc=True, errors="coerce"))
    flat["key"] = flat["base_point_id"].astype(str) + "|" + flat["device_name"]
    groups = flat.groupby(["key", unit], sort=False)
    pooled = data.prepare(claims_pool.pool_processes(flat, within=("device_name", unit)))
    pooled = (pooled.merge(groups["when"].min().rename("first").reset_index(), on=["key", unit], how="left")
              .sort_values(["key", "first"], ignore_index=True))
    pooled["lo"], pooled["hi"] = series.interval(pooled, metric)
    sha = pooled["git_sha"].astype(str).str[:8]
    pooled["x"] = sha if axis == "commit" else pooled["first"]
    points = pd.DataFrame({
        "key": pooled["key"], "label": pooled["key"].map(labels), "x": pooled["x"], "when": pooled["first"],
        "value": pooled[metric], "lo": pooled["lo"], "hi": pooled["hi"], "processes": pooled["processes"],
        "text": sha + " · " + pooled["run_id"].astype(str) + " · " + pooled["processes"].astype(str)
        + " process(es) · " + pooled["status"].astype(str), "record": pooled["record"]})
    members = {name: [records[i] for i in index] for name, index in groups.indices.items()}
    pairs = [(pooled.loc[i], pooled.loc[i + 1]) for i in range(len(pooled) - 1)
             if pooled.at[i, "key"] == pooled.at[i + 1, "key"]]
    per_step = dataclasses.replace(settings, confidence=1 - (1 - settings.confidence) / max(len(pairs), 1))
    steps = []
    for before, after in pairs:
        found = _step(members[(before["key"], before[unit])], members[(after["key"], after[unit])], metric, per_step)
        if found:
            value = after[metric] if pd.notna(after[metric]) else before[metric]
            steps.append({"key": after["key"], "label": labels.get(after["key"]), "x": after["x"], "value": value,
                          "verdict": found[0], "text": found[1]})
    return points, pd.DataFrame(steps, columns=STEP_COLUMNS)
