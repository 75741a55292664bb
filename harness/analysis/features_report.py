"""The swarm's features against their baselines: the features part of `suite=quality`
(conf/suite/quality.yaml, `feature_models`, each entry naming its `baseline`).

Per feature and size: held-out bpb of the variant and its baseline paired per seed (the same
tokens, seeds and scoring; the mean difference with half its range and its 95% t-interval), and
what the feature costs: parameters and fp32 weight memory, encoders per chunk on test text, and
forward latency where `suite=scaling` records of exactly the trained model config exist (same
batch and context; capacity limit ignored, since scoring runs without one), the median over
processes with their range.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

import pandas as pd

from harness.measure.stats import mean_interval
from harness.store import results
from harness.structured import shipped_suite_value

UNTIMED_KEYS = {"capacity_factor"}  # scoring lifts the capacity limit; suite=scaling times without one


def shipped_feature_models() -> list[dict]:
    """suite.feature_models as conf/suite/quality.yaml ships it; [] where no conf is found."""
    return shipped_suite_value("quality", "feature_models")


def _timing_key(model: str, model_config: dict, batch_size: int, seq_len: int) -> tuple:
    config = tuple(sorted((k, repr(v)) for k, v in model_config.items() if k not in UNTIMED_KEYS))
    return model, config, batch_size, seq_len


def forward_latency(timings: Iterable[dict]) -> dict[tuple, list[tuple[float, float | None]]]:
    """suite=scaling forward records -> {timing key: (median latency ms, encoders per chunk) per
    process}. The encoders per chunk are the timed model's: an untrained router's, which for
    dynamic k is not the trained one's."""
    out: dict[tuple, list[tuple[float, float | None]]] = {}
    for record in timings:
        config = record.get("config") or {}
        latency = record.get("latency_ms") or {}
        if record.get("status") != "ok" or config.get("mode") != "forward" or latency.get("median") is None:
            continue
        key = _timing_key(config["model"], config.get("model_config") or {}, config.get("batch_size"),
                          config.get("seq_len"))
        routing = ((record.get("model_info") or {}).get("extra") or {}).get("routing") or {}
        k = routing.get("k_mean", (config.get("model_config") or {}).get("top_k"))
        out.setdefault(key, []).append((float(latency["median"]), k))
    return out


def _runs(records: Iterable[dict]) -> pd.DataFrame:
    rows = []
    for record in records:
        q, config = record.get("quality"), record.get("config") or {}
        if not (isinstance(q, dict) and q.get("test")) or (q.get("eval_capacity") or "unlimited") != "unlimited":
            continue
        model_config = config.get("model_config") or {}
        routing = q.get("routing") or {}
        fixed_k = not model_config.get("routing_threshold") and "top_k" in model_config
        rows.append({"label": config.get("label", config.get("model")), "size": config.get("size", "-"),
                     "seed": config.get("seed"), "lr": config.get("lr"), "bpb": q.get("test_bpb_mean"),
                     "params total": (record.get("model_info") or {}).get("params_total"),
                     "k": routing.get("k_mean", model_config["top_k"] if fixed_k else None),
                     "timing key": _timing_key(config.get("model"), model_config, config.get("batch_size"),
                                               config.get("seq_len"))})
    return pd.DataFrame(rows)


def _latency(latency: dict[tuple, list], key: tuple) -> str:
    """Median over processes [range] (processes), at the timed encoders per chunk."""
    timed = latency.get(key) or []
    if not timed:
        return "-"
    values = sorted(ms for ms, _ in timed)
    ks = [k for _, k in timed if k is not None]
    at = f" at {sum(ks) / len(ks):.2f} encoders/chunk" if ks else ""
    return f"{pd.Series(values).median():.2f} [{values[0]:.2f}, {values[-1]:.2f}] ({len(values)}){at}"


def table(records: Iterable[dict], feature_models: list[dict], timings: Iterable[dict] = ()) -> pd.DataFrame:
    """One row per feature variant and size that has at least one seed paired with its baseline."""
    runs = _runs(records)
    if runs.empty:
        return pd.DataFrame()
    latency = forward_latency(timings)
    rows = []
    for entry in feature_models:
        variant, baseline = entry.get("label", entry.get("model")), entry.get("baseline")
        if not baseline:
            continue
        for size, group in runs[runs["label"].isin([variant, baseline])].groupby("size", sort=True):
            # paired at the same rate: a baseline that also ran at another rate is not the same budget
            mine = group[group["label"] == variant].drop_duplicates(["seed", "lr"]).set_index(["seed", "lr"])
            base = group[group["label"] == baseline].drop_duplicates(["seed", "lr"]).set_index(["seed", "lr"])
            seeds = mine.index.intersection(base.index)
            if seeds.empty:
                continue
            delta = mine.loc[seeds, "bpb"] - base.loc[seeds, "bpb"]
            rows.append({
                "size": size, "variant": variant, "baseline": baseline, "seeds": len(seeds),
                "lr": ", ".join(sorted({f"{lr:g}" for _, lr in seeds})),
                "bpb variant": mine.loc[seeds, "bpb"].mean(), "bpb baseline": base.loc[seeds, "bpb"].mean(),
                "Δ bpb": f"{delta.mean():+.4f} ± {(delta.max() - delta.min()) / 2:.4f}",
                "Δ 95% interval": _interval(delta),
                "lower on": f"{int((delta < 0).sum())} of {len(seeds)}",
                "params": f"{int(mine['params total'].iloc[0]):,} vs {int(base['params total'].iloc[0]):,}",
                "weights MB (fp32)": f"{mine['params total'].iloc[0] * 4 / 1e6:.1f} vs "
                                     f"{base['params total'].iloc[0] * 4 / 1e6:.1f}",
                "encoders/chunk": f"{mine['k'].mean():.2f} vs {base['k'].mean():.2f}"
                                  if mine["k"].notna().any() and base["k"].notna().any() else "-",
                "forward ms variant": _latency(latency, mine["timing key"].iloc[0]),
                "forward ms baseline": _latency(latency, base["timing key"].iloc[0])})
    return pd.DataFrame(rows)


def _interval(delta: pd.Series) -> str:
    """The t-interval of the mean paired difference, as the ledger's feature verdicts read it."""
    _, low, high = mean_interval(delta)
    return f"[{low:+.4f}, {high:+.4f}]" if len(delta) > 1 else "-"


def write_lines(store: Path, records: list[dict], feature_models: list[dict] | None = None) -> list[str]:
    """The report's features section; suite=scaling records are read from `<store>/../scaling`."""
    scaling = store.parent / "scaling"
    timings = [r for _, r in results.iter_records(scaling)] if scaling.is_dir() else []
    features = table(records, shipped_feature_models() if feature_models is None else feature_models, timings)
    if features.empty:
        return []
    return ["## The swarm's features against their baselines (paired per seed; Δ = variant - baseline)", "",
            "Forward latency: median over processes [range] (processes), suite=scaling at the trained config, "
            "batch and context, with the encoders per chunk of the timed (untrained) router; '-' where not timed.",
            "",
            features.to_markdown(index=False, floatfmt=".3f"), ""]
