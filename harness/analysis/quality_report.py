"""Tables of `suite=quality` records, shared by the dashboard's Quality tab and the report a
quality run writes next to its records (`<results_dir>/quality/report.md`):

- held-out bits per byte per domain, one row per (model, seed) corpus run;
- synthetic-task accuracy per evaluation length, one row per (task, model, seed);
- the calibration table (harness.analysis.calibration_report) and the swarm's features against
  their baselines (harness.analysis.features_report).
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

import pandas as pd

from harness.analysis import calibration_report, features_report
from harness.quality.synthetic_tasks import TASKS
from harness.store import results
from harness.store.schema import OK

ROUTED = ("swarm", "transformer_swarm", "mamba_moe")
NOT_DOMAINS = {"model", "size", "lr", "seed", "mean bpb", "tokens", "train s", "params active", "params total",
               "router accuracy", "eval capacity", "corpus", "tokenizer"}


def _label(record: dict) -> str:
    config = record.get("config") or {}
    return config.get("label", config.get("model"))


def bpb_table(records: Iterable[dict]) -> pd.DataFrame:
    rows = []
    for record in records:
        q, config = record.get("quality"), record.get("config") or {}
        if not (isinstance(q, dict) and q.get("test")):
            continue
        training = q.get("training") or {}
        rows.append({"model": _label(record), "size": config.get("size", "-"), "lr": config.get("lr"),
                     "seed": config.get("seed"), "mean bpb": q.get("test_bpb_mean"),
                     **{d: s["bpb"] for d, s in sorted(q["test"].items())},
                     "tokens": training.get("tokens"), "train s": training.get("wall_s"),
                     "params active": (record.get("model_info") or {}).get("params_active"),
                     "params total": (record.get("model_info") or {}).get("params_total"),
                     "router accuracy": (q.get("routing") or {}).get("domain_accuracy"),
                     "eval capacity": (q.get("eval_capacity") or "limited") if config.get("model") in ROUTED else "-",
                     "corpus": q.get("corpus_id"), "tokenizer": q.get("tokenizer")})
    return pd.DataFrame(rows)


def seed_summary(bpb: pd.DataFrame) -> pd.DataFrame:
    """Per corpus, size, model and rate: mean bpb over seeds ± half the seed range, the mean and
    every domain (runs on different corpora or at different rates are never pooled)."""
    domains = [c for c in bpb.columns if c not in NOT_DOMAINS]
    rows = []
    for (corpus, size, model, lr), group in bpb.groupby(["corpus", "size", "model", "lr"], sort=False):
        row = {"corpus": corpus, "size": size, "model": model, "seeds": len(group), "params active": group["params active"].iloc[0],
               "params total": group["params total"].iloc[0], "lr": lr}
        for column in ["mean bpb", *domains]:
            values = group[column].dropna()
            row[column] = f"{values.mean():.3f} ± {(values.max() - values.min()) / 2:.3f}" if len(values) else "-"
        row["spread/mean"] = (group["mean bpb"].max() - group["mean bpb"].min()) / group["mean bpb"].mean()
        rows.append(row)
    return pd.DataFrame(rows).sort_values(["corpus", "size", "mean bpb"], ignore_index=True) if rows else pd.DataFrame()


def lr_sweep_table(records: Iterable[dict]) -> pd.DataFrame:
    """The learning-rate sweep (score_split val): validation bpb per model and rate, best marked."""
    rows = []
    for record in records:
        q, config = record.get("quality"), record.get("config") or {}
        if isinstance(q, dict) and q.get("val_bpb_mean") is not None:
            rows.append({"model": _label(record), "size": config.get("size", "-"), "lr": config.get("lr"),
                         "val bpb": q["val_bpb_mean"], "tokens": (q.get("training") or {}).get("tokens"),
                         "status": (q.get("training") or {}).get("status")})
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    table = table.sort_values(["size", "model", "lr"], ignore_index=True)
    best = table.groupby(["size", "model"])["val bpb"].transform("min")
    table["best"] = (table["val bpb"] == best).map({True: "*", False: ""})
    return table


def synthetic_table(records: Iterable[dict]) -> pd.DataFrame:
    """Accuracy columns `acc@<length>`; lengths beyond the training lengths are extrapolation."""
    rows = []
    for record in records:
        s, config = record.get("synthetic"), record.get("config") or {}
        if not (isinstance(s, dict) and s.get("training")) or config.get("calibration"):
            continue  # calibration runs have their own table (calibration_report)
        training = s["training"]
        accuracy = {f"acc@{n}": v["accuracy"] for n, v in sorted(s["accuracy"].items(), key=lambda kv: int(kv[0]))}
        rows.append({"task": s["task"], "model": _label(record), "seed": config.get("seed"), **accuracy,
                     "trained at": "/".join(str(n) for n in s["train_lengths"]), "status": training["status"],
                     "steps": training["steps"], "train s": training["wall_s"],
                     "params active": (record.get("model_info") or {}).get("params_active")})
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    acc = sorted((c for c in table if c.startswith("acc@")), key=lambda c: int(c[4:]))
    rest = [c for c in table if not c.startswith("acc@")]
    return table[rest[:3] + acc + rest[3:]].sort_values(["task", "model", "seed"], ignore_index=True)


NOT_OK_HEADING = ("Runs that did not end ok (error, timeout and crashed runs are tried again on a rerun, and so "
                  "are oom ones from a shared GPU; other oom ones with force=true)")


def not_ok_table(records: list[dict]) -> pd.DataFrame:
    """One row per record that did not end ok (error, timeout, crash, oom), with its exception's
    last line: the report lists them, it never drops them silently."""
    rows = []
    for r in records:
        if r.get("status") == OK:
            continue
        c = r.get("config") or {}
        error = [line.strip() for line in (r.get("error") or "").splitlines() if line.strip()]
        lr = c.get("lr")
        rows.append({"mode": c.get("calibration") or c.get("mode") or "-",
                     "model": c.get("label", c.get("model")) or "-", "size": c.get("size") or "-", "seed": "-" if c.get("seed") is None else str(c["seed"]),
                     "lr": "-" if lr is None else f"{lr:g}", "status": r.get("status") or "-",
                     "error": error[-1][:160] if error else "-", "point": r.get("point_id"),
                     "created": str(r.get("created_at", ""))[:16]})
    if not rows:
        return pd.DataFrame()
    return pd.DataFrame(rows).sort_values(["mode", "model", "size", "seed"], ignore_index=True)



def write(store: str | Path, calibration: list[dict] | None = None, feature_models: list[dict] | None = None) -> list[str]:
    """Write `<store>/report.md` from the records in `store` (one suite's directory), with the
    calibration table against `calibration` (suite.calibration) and the features table of
    `feature_models` (suite.feature_models; both default to what conf ships); its lines."""
    store = Path(store)
    every = [r for _, r in results.iter_records(store)]
    records = [r for r in every if r.get("status") == OK]
    lines = calibration_report.lines(records, calibration if calibration is not None else
                                     calibration_report.published_settings())
    bpb = bpb_table(records)
    if not bpb.empty:
        lines += ["## Held-out bits per byte (lower is better): mean over seeds ± half their range", "",
                  calibration_report.markdown(seed_summary(bpb)), "",
                  "## Every corpus run", "",
                  calibration_report.markdown(bpb.sort_values(["size", "mean bpb", "seed"]).drop(columns=["corpus", "tokenizer"])), "",
                  f"Corpus {', '.join(bpb['corpus'].dropna().unique())}; tokenizer "
                  f"{', '.join(bpb['tokenizer'].dropna().unique())}.", ""]
    lines += features_report.write_lines(store, records, feature_models)
    sweep = lr_sweep_table(records)
    if not sweep.empty:
        lines += ["## Learning-rate sweep (validation split; * the best per model)", "", calibration_report.markdown(sweep), ""]
    synthetic = synthetic_table(records)
    if not synthetic.empty:
        lines += ["## Synthetic tasks: accuracy against sequence length", "",
                  f"Chance: {', '.join(f'{t.name} {1 / t.answers:.3f}' for t in TASKS.values())}. Lengths past "
                  "'trained at' are extrapolation.", "", calibration_report.markdown(synthetic), ""]
    failed = not_ok_table(every)
    if not failed.empty:
        lines += [f"## {NOT_OK_HEADING}", "", calibration_report.markdown(failed), ""]
    if lines:
        (store / "report.md").write_text("\n".join(["# suite=quality", "", *lines]))
    return lines
