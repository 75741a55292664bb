"""The calibration table: our accuracy on the synthetic tasks at published settings beside the
published figure (suites.quality_calibration), one row per setting, model and evaluation length.

A row reproduces when the published accuracy lies inside the 95% Wilson interval of ours (the
answers of every seed pooled): our evaluation scores a few hundred answers, so its own sampling
error, not the paper's printed precision, bounds what "the same" can mean. A figure with a
precision of its own (`figure_precision`: a value read off a plot, or one a stop rule ended at)
reproduces when its range [figure - precision, figure + precision] meets our interval. Every row also says
how many of the paper's steps ran and why training stopped, and a row that does not reproduce
carries its measured reason (`why`): how far training went against the paper's budget, what
the accuracy at the training length did on the way there, and how many processes shared the GPU.
Where the same setting, model, rate and length ran at other budgets, the reason also says what
they measured: a row that a run in another precision (the point's dtype: bf16 autocast or fp32)
does reproduce is prefixed "precision, measured: reproduces in <dtype> at N steps (that budget)";
one that a run with more steps in its own precision reproduces, "budget, measured: reproduces at
N steps (that budget)"; otherwise, with at least two step counts in the group, the reason ends
with our accuracy at every budget in step order.
"""
from __future__ import annotations

import math
from typing import Iterable

import pandas as pd

from harness.quality.synthetic_tasks import TASKS
from harness.structured import shipped_suite_value

Z95 = 1.959964
LEARNED = 0.99  # the accuracy at the training length past which a run has learned the task (Zoology's stop rule)


def wilson(successes: float, n: int, z: float = Z95) -> tuple[float, float]:
    """95% Wilson score interval of a binomial proportion (Wilson 1927)."""
    if n == 0:
        return math.nan, math.nan
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def published_settings() -> list[dict]:
    """suite.calibration as conf/suite/quality.yaml ships it (the published figures live there
    with the settings); [] where no conf is found."""
    return shipped_suite_value("quality", "calibration")


def _published(settings: list[dict]) -> dict[tuple[str, str], dict]:
    out = {}
    for s in settings:
        for m in s.get("models") or []:
            figures = {int(k): float(v) for k, v in (m.get("published") or {}).items()}
            out[(s["name"], m["label"])] = {"as": m.get("published_as", ""), "figures": figures,
                                            "precision": float(s.get("figure_precision", 0.0)),
                                            "paper_steps": m.get("paper_steps") or s.get("paper_steps")}
    return out


def _probes(record: dict, train: int) -> list[float]:
    """Accuracy at the training length: every probe during training, then the final evaluation."""
    synthetic = record["synthetic"]
    final = (synthetic.get("accuracy") or {}).get(str(train))
    return ([point[1]["accuracy"] for point in synthetic["training"].get("val_curve") or []]
            + ([final["accuracy"]] if final else []))


def why(recs: list[dict], length: int, paper_steps: int | None = None) -> str:
    """What the runs measured about a row that does not reproduce: converged runs stopped at the
    convergence rule (past their training length, they extrapolate); the others ran out of
    budget, with the accuracy at the training length from the first probe to the final
    evaluation, rising, flat or within 0.05 of chance; a row at another length whose runs learned
    the task at the training length (every final accuracy there >= LEARNED) is first a matter of
    length generalisation. `paper_steps`: the paper's budget as the
    conf now gives it (default: the one the records were run against)."""
    config = recs[0]["config"]
    train, paper = max(config["train_lengths"]), paper_steps or config.get("paper_steps")
    trainings = [r["synthetic"]["training"] for r in recs]
    steps = max(t["steps"] for t in trainings)
    share = f"{steps:,} of the paper's {paper:,} steps ({steps / paper:.1%})" if paper else f"{steps:,} steps"
    if all(t["status"] == "converged" for t in trainings):
        rule = (f"the stop rule (accuracy >= {config.get('stop_accuracy')} at length {train}) ended training at "
                f"{share}; the paper trained through all of its steps")
        if length > train:
            return f"extrapolation, {length / train:g}x the training length: {rule}"
        return f"convergence rule: {rule}"
    curves = [c for c in (_probes(r, train) for r in recs) if c]
    if not curves:
        return f"budget: stopped at {share}, no accuracy at the training length recorded"
    chance = 1 / TASKS[config["synthetic_task"]].configured(config.get("task_options")).answers
    mean = lambda values: sum(values) / len(values)  # noqa: E731
    second_half = mean([c[-1] - c[len(c) // 2] for c in curves])  # the gain over the run's second half
    trend = ("within 0.05 of chance" if max(max(c) for c in curves) < chance + 0.05
             else "still rising" if second_half > 0.02 else "flat")
    caps = {"time_cap": "the wall-clock cap", "ok": "the step cap", "diverged": "divergence"}
    stopped = " and ".join(sorted({caps.get(t["status"], t["status"]) for t in trainings}))
    shared = max(int((r.get("env") or {}).get("gpu_shared_by") or 1) for r in recs)
    finals = [c[-1] for c in curves]
    learned = (f"length generalisation, {length / train:g}x the training length: {mean(finals):.3f} at length "
               f"{train}, not at {length}; " if length != train and min(finals) >= LEARNED else "")
    return (learned + f"budget: stopped by {stopped} at {share}; accuracy at length {train} "
            f"{mean([c[0] for c in curves]):.2f} -> {mean([c[-1] for c in curves]):.2f} (chance {chance:.2g}), {trend}"
            + (f"; {shared} processes of its launcher shared the GPU" if shared > 1 else ""))


def _across_budgets(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with the `why` of every row that does not reproduce completed from the other budgets
    (rows of the same setting, model, lr and length; the private `_most steps` column, each row's
    largest per-seed step count, orders them, and `_dtype` tells precisions apart; both are
    dropped): where a row in another precision reproduces, the fewest such steps, that precision
    and budget lead the reason; else where a row with more steps in the same precision
    reproduces, the fewest such steps and that row's budget; otherwise, where the group ran at two
    step counts or more, the reason ends with ours at every row, by steps."""
    if frame.empty:
        return frame.drop(columns=["_most steps", "_dtype", "_layout"], errors="ignore")
    frame = frame.copy()
    for _, group in frame.groupby(["setting", "model", "lr", "length", "_layout"], dropna=False, sort=False):
        group = group.sort_values("_most steps", kind="stable")
        reproducing = group[group["reproduces"] == "yes"]
        for index, row in group[group["reproduces"] == "no"].iterrows():
            other_dtype = reproducing[reproducing["_dtype"] != row["_dtype"]]
            enough = reproducing[(reproducing["_dtype"] == row["_dtype"])
                                 & (reproducing["_most steps"] > row["_most steps"])]
            if not other_dtype.empty:
                fewest = other_dtype.iloc[0]
                frame.at[index, "why"] = (f"precision, measured: reproduces in {fewest['_dtype']} at "
                                          f"{int(fewest['_most steps']):,} steps ({fewest['budget']}); {row['why']}")
            elif not enough.empty:
                fewest = enough.iloc[0]
                frame.at[index, "why"] = (f"budget, measured: reproduces at {int(fewest['_most steps']):,} steps "
                                          f"({fewest['budget']}); {row['why']}")
            elif group["_most steps"].nunique() > 1:
                measured = ", ".join(("-" if pd.isna(ours) else f"{ours:.3f}") + f" @ {int(steps):,}"
                                     for ours, steps in zip(group["ours"], group["_most steps"]))
                frame.at[index, "why"] = f"{row['why']}; at length {row['length']} across budgets: {measured}"
    return frame.drop(columns=["_most steps", "_dtype", "_layout"])


def _layout(config: dict) -> str:
    """MQAR's data layout (harness.quality.synthetic_tasks.mqar): records from before the option
    were uniform; "" for the other tasks."""
    if config.get("synthetic_task") != "mqar":
        return ""
    return (config.get("task_options") or {}).get("layout", "uniform")


def table(records: Iterable[dict], settings: list[dict]) -> pd.DataFrame:
    """Rows of the calibration records against `settings` (suite.calibration)."""
    published = _published(settings)
    runs: dict[tuple, list[dict]] = {}
    for record in records:  # seeds pool only at one rate, budget (step and wall-clock caps, stop rule, graphs) and dtype
        config = record.get("config") or {}
        if config.get("calibration") and isinstance(record.get("synthetic"), dict):
            key = (config["calibration"], config.get("label", config.get("model")), config.get("lr") or 0,
                   config.get("steps") or 0, config.get("max_wall_s") or 0, config.get("stop_accuracy") is not None,
                   bool(config.get("cuda_graphs")), config.get("dtype") or "", _layout(config))
            runs.setdefault(key, []).append(record)
    rows = []
    for (setting, label, lr, cap, wall, stops, graphs, dtype, layout), recs in sorted(runs.items()):
        paper = published.get((setting, label), {"as": "", "figures": {}, "precision": 0.0, "paper_steps": None})
        asked = {int(n) for r in recs for n in (r.get("config") or {}).get("eval_lengths", [])}
        lengths = sorted({int(n) for r in recs for n in r["synthetic"]["accuracy"]} | (set(paper["figures"]) & asked))
        training = [r["synthetic"]["training"] for r in recs]
        steps = "/".join(str(t["steps"]) for t in training)
        stopped = "/".join(sorted({t["status"] for t in training}))
        for length in lengths:
            scored = [r["synthetic"]["accuracy"].get(str(length)) for r in recs]
            scored = [s for s in scored if s]
            n = sum(s["scored"] for s in scored)
            ours = sum(s["accuracy"] * s["scored"] for s in scored) / n if n else math.nan
            low, high = wilson(ours * n, n) if n else (math.nan, math.nan)
            figure = paper["figures"].get(length)
            slack = paper["precision"] + 1e-9
            verdict = "-" if figure is None or not n else ("yes" if low - slack <= figure <= high + slack else "no")
            budget = ", ".join(([f"{layout} layout"] if layout else []) + ([f"{cap:,} steps"] if cap else [])
                               + ([f"{wall:g} s"] if wall else [])
                               + ([] if stops else ["no stop rule"]) + (["CUDA graphs"] if graphs else [])
                               + ([dtype] if dtype else [])) or "-"
            rows.append({"setting": setting, "model": label, "lr": lr or None, "budget": budget,
                         "published as": paper["as"] or "-", "length": length,
                         "published": figure, "ours": ours if n else None,
                         "95% interval": f"[{low:.3f}, {high:.3f}]" if n else "-", "answers": n,
                         "reproduces": verdict, "seeds": len(recs), "steps": steps,
                         "paper steps": paper["paper_steps"] or (recs[0].get("config") or {}).get("paper_steps"),
                         "stopped": stopped, "why": "" if verdict != "no" else
                         ("ours above the published figure; " if ours > figure else "") + why(recs, length,
                                                                                             paper["paper_steps"]),
                         "_most steps": max(t["steps"] for t in training), "_dtype": dtype, "_layout": layout})
    return _across_budgets(pd.DataFrame(rows))


def lines(records: list[dict], settings: list[dict]) -> list[str]:
    calibration = table(records, settings)
    if calibration.empty:
        return []
    kept = calibration[calibration["reproduces"] != "-"]
    summary = (f"{(kept['reproduces'] == 'yes').sum()} of {len(kept)} rows with a published figure reproduce "
               "(the published accuracy inside our 95% Wilson interval).")
    return ["## Calibration: ours against published results", "", summary,
            "'stopped': converged (reached stop_accuracy at the training length), time_cap (the wall-clock cap), "
            "ok (the step cap); 'steps' per seed; 'why': what the runs measured about a row that does not reproduce, "
            "with the same setting, model, rate and length at its other budgets and precisions: the fewest steps that "
            "reproduce in another precision, else in the same one, or ours at every budget.", "",
            calibration.to_markdown(index=False, floatfmt=["g" if c == "lr" else ".3f" for c in calibration.columns],
                                    intfmt=",", missingval="-"), ""]
