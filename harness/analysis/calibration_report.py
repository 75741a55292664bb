"""The calibration table: our accuracy on the synthetic tasks at published settings beside the
published figure (suites.quality_calibration), one row per setting, model and evaluation length.

A row reproduces when the published accuracy lies inside the 95% Wilson interval of ours (the
answers of every seed pooled, where the seeds ran the same budget and agree on whether they
learned the training length: a run that did not is pooled apart, on rows of its own that name
the runs that did, since a mean over both says nothing about either): our evaluation scores a
few hundred answers, so its own sampling error, not the paper's printed precision, bounds what
"the same" can mean. A figure with a
precision of its own (`figure_precision`: a value read off a plot, or one a stop rule ended at)
reproduces when its range [figure - precision, figure + precision] meets our interval. Every row
also says how many of the paper's steps ran and why training stopped, and a row that does not
reproduce carries its measured reason (`why`): how far training went against the paper's budget
(in sequences too, where the run's batch is not the paper's), what the accuracy at the training
length did on the way there, and how many processes shared the GPU (its launcher's, and all that
NVML saw on it when the run ended, where the record has them). Runs that diverged scored nothing,
yet their rows with a published figure are misses too, with "diverged, measured": where the loss
left its bound and how far the probes at the training length had got.
Why a row does not reproduce, from the other rows: harness.analysis.calibration_reasons.
"""
from __future__ import annotations

import math
from typing import Iterable

import pandas as pd

from harness.analysis.calibration_reasons import NEAR_CHANCE, explain, wilson
from harness.quality.synthetic_tasks import TASKS
from harness.structured import shipped_suite_value

LEARNED = 0.99  # the accuracy at the training length past which a run has learned the task (Zoology's stop rule)


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
                                            "variant_of": m.get("variant_of"),
                                            "precision": float(s.get("figure_precision", 0.0)),
                                            "paper_steps": m.get("paper_steps") or s.get("paper_steps"),
                                            "paper_batch": s.get("batch_size")}
    return out


def _probes(record: dict, train: int) -> list[float]:
    """Accuracy at the training length: every probe during training, then the final evaluation."""
    synthetic = record["synthetic"]
    final = (synthetic.get("accuracy") or {}).get(str(train))
    return ([point[1]["accuracy"] for point in synthetic["training"].get("val_curve") or []]
            + ([final["accuracy"]] if final else []))


def _train_length(record: dict) -> int:
    return max(record["config"].get("train_lengths") or record["synthetic"].get("train_lengths") or [0])


def _learned(record: dict) -> bool:
    """Whether the run's final evaluation at its training length reached LEARNED."""
    final = record["synthetic"]["accuracy"].get(str(_train_length(record))) or {}
    return final.get("accuracy", 0.0) >= LEARNED


def _after_learning(record: dict, train: int, length: int, learned: bool) -> list[tuple[float, int, int]]:
    """(accuracy, answers scored, step) at `length` of every probe along training from the first at
    which the run had learned its training length (accuracy >= LEARNED) on, and of the final
    evaluation as the last of them where the run ended learned (`learned`); [] where the record
    probed no such length along training (`probe_lengths`: records from before it probed none)."""
    synthetic = record["synthetic"]
    training = synthetic["training"]
    every, learned, out = record["config"].get("eval_every") or 1, False, []
    for i, (_, probe) in enumerate(training.get("val_curve") or []):
        learned = learned or probe["accuracy"] >= LEARNED
        at = (probe.get("at") or {}).get(str(length))
        if learned and at:
            out.append((at["accuracy"], at["scored"], min((i + 1) * every, training["steps"])))
    final = synthetic["accuracy"].get(str(length))
    if out and final and learned:
        out.append((final["accuracy"], final["scored"], training["steps"]))
    return out


def _chance(config: dict) -> float:
    """The accuracy of guessing among the answers of the record's task (NaN where it names none)."""
    task = TASKS.get(config.get("synthetic_task"))
    return 1 / task.configured(config.get("task_options")).answers if task else math.nan


def why(recs: list[dict], length: int, paper_steps: int | None = None, paper_batch: int | None = None) -> str:
    """What the runs measured about a row that does not reproduce: converged runs stopped at the
    convergence rule (past their training length, they extrapolate); the others ran out of
    budget, with the accuracy at the training length from the first probe to the final
    evaluation, rising, flat or within 0.05 of chance; a row at another length whose runs learned
    the task at the training length (every final accuracy there >= LEARNED) is first a matter of
    length generalisation. `paper_steps`: the paper's budget as the
    conf now gives it (default: the one the records were run against); `paper_batch`: the paper's
    batch, where a run at another batch also states its share of the paper's sequences."""
    config = recs[0]["config"]
    train, paper = max(config["train_lengths"]), paper_steps or config.get("paper_steps")
    trainings = [r["synthetic"]["training"] for r in recs]
    steps = max(t["steps"] for t in trainings)
    share = f"{steps:,} of the paper's {paper:,} steps ({steps / paper:.1%})" if paper else f"{steps:,} steps"
    batch = config.get("batch_size")
    if paper and paper_batch and batch and batch != paper_batch:  # steps of another batch are not the paper's steps
        share = (f"{share[:-1]}; {steps * batch / (paper * paper_batch):.1%} of its sequences at batch {batch} "
                 f"against its {paper_batch})")
    if all(t["status"] == "diverged" for t in trainings):
        return _diverged(recs, train, share)
    if all(t["status"] == "converged" for t in trainings):
        rule = (f"the stop rule (accuracy >= {config.get('stop_accuracy')} at length {train}) ended training at "
                f"{share}; the paper trained through all of its steps")
        if length > train:
            return f"extrapolation, {length / train:g}x the training length: {rule}"
        return f"convergence rule: {rule}"
    curves = [c for c in (_probes(r, train) for r in recs) if c]
    if not curves:
        return f"budget: stopped at {share}, no accuracy at the training length recorded"
    chance = _chance(config)
    mean = lambda values: sum(values) / len(values)  # noqa: E731
    second_half = mean([c[-1] - c[len(c) // 2] for c in curves])  # the gain over the run's second half
    trend = (f"within {NEAR_CHANCE:g} of chance" if max(max(c) for c in curves) < chance + NEAR_CHANCE
             else "still rising" if second_half > 0.02 else "flat")
    caps = {"time_cap": "the wall-clock cap", "ok": "the step cap", "diverged": "divergence"}
    stopped = " and ".join(sorted({caps.get(t["status"], t["status"]) for t in trainings}))
    shared = max(int((r.get("env") or {}).get("gpu_shared_by") or 1) for r in recs)
    seen = max(int((r.get("env") or {}).get("gpu_processes") or 1) for r in recs)  # any launcher's, at the end
    finals = [c[-1] for c in curves]
    learned = (f"length generalisation, {length / train:g}x the training length: {mean(finals):.3f} at length "
               f"{train}, not at {length}; " if length != train and min(finals) >= LEARNED else "")
    return (learned + f"budget: stopped by {stopped} at {share}; accuracy at length {train} "
            f"{mean([c[0] for c in curves]):.2f} -> {mean([c[-1] for c in curves]):.2f} (chance {chance:.2g}), {trend}"
            + (f"; {shared} processes of its launcher shared the GPU" if shared > 1 else "")
            + (f"; {seen} processes were on the GPU when it ended" if seen > shared else ""))


def _diverged(recs: list[dict], train: int, share: str) -> str:
    """The reason of a row whose runs all diverged (harness.quality.train: the loss turned non-finite,
    or rose past `divergence_factor` x its first value), so nothing was evaluated at any length: where
    it stopped, and the accuracy at the training length its probes reached before."""
    finite = [t.get("final_loss") is not None and math.isfinite(t["final_loss"])
              for t in (r["synthetic"]["training"] for r in recs)]  # a stored NaN reads back as None
    how = ("turned non-finite" if not any(finite) else "rose past its divergence bound (a multiple of its first loss)"
           if all(finite) else "turned non-finite or rose past its divergence bound (a multiple of its first loss)")
    curves = [c for c in (_probes(r, train) for r in recs) if c]
    along = (f"; accuracy at length {train} along training {sum(c[0] for c in curves) / len(curves):.2f} -> "
             f"{sum(c[-1] for c in curves) / len(curves):.2f} before it" if curves else "")
    return f"diverged, measured: the training loss {how} at {share}, so nothing was evaluated{along}"


def _learned_apart(learned: list[dict], train: int) -> str:
    """The lead of the rows of runs that did not learn the training length where `learned`, runs
    at the same budget that did, are pooled on rows of their own: the same budget learned the task
    in another seed; "" where there are none."""
    if not learned:
        return ""
    each = ", ".join(f"{r['synthetic']['accuracy'][str(train)]['accuracy']:.3f} at "
                     f"{r['synthetic']['training']['steps']:,} steps" for r in learned)
    return (f"seeds, measured: {len(learned)} other run{'s' if len(learned) > 1 else ''} at this budget learned "
            f"length {train} ({each}; pooled on rows of their own); ")


def _layout(config: dict) -> str:
    """MQAR's data layout (harness.quality.synthetic_tasks.mqar), with `echo` and `in_order` where
    the record set them: records from before the option were uniform; "" for the other tasks."""
    if config.get("synthetic_task") != "mqar":
        return ""
    options = config.get("task_options") or {}
    switches = ", ".join(f"{k} {options[k]}" for k in ("echo", "in_order") if k in options)
    layout = options.get("layout", "uniform")
    return f"{layout} ({switches})" if switches else layout


def table(records: Iterable[dict], settings: list[dict]) -> pd.DataFrame:
    """Rows of the calibration records against `settings` (suite.calibration)."""
    published = _published(settings)
    runs: dict[tuple, list[dict]] = {}
    for record in records:  # seeds pool only at one data layout, rate, budget (caps, stop rule, graphs) and dtype,
        config = record.get("config") or {}  # and only where they agree on having learned the training length
        if config.get("calibration") and isinstance(record.get("synthetic"), dict):
            key = (config["calibration"], config.get("label", config.get("model")), _layout(config),
                   config.get("lr") or 0, config.get("steps") or 0, config.get("max_wall_s") or 0,
                   config.get("stop_accuracy") is not None, bool(config.get("cuda_graphs")), config.get("dtype") or "",
                   _learned(record))
            runs.setdefault(key, []).append(record)
    rows = []
    for key, recs in sorted(runs.items()):
        setting, label, layout, lr, cap, wall, stops, graphs, dtype, all_learned = key
        paper = published.get((setting, label), {"as": "", "figures": {}, "precision": 0.0, "paper_steps": None,
                                                 "variant_of": None, "paper_batch": None})
        asked = {int(n) for r in recs for n in (r.get("config") or {}).get("eval_lengths", [])}
        lengths = sorted({int(n) for r in recs for n in r["synthetic"]["accuracy"]} | (set(paper["figures"]) & asked))
        training = [r["synthetic"]["training"] for r in recs]
        steps = "/".join(str(t["steps"]) for t in training)
        stopped = "/".join(sorted({t["status"] for t in training}))
        train = _train_length(recs[0])
        chance = _chance(recs[0]["config"])
        apart = _learned_apart(runs.get(key[:-1] + (True,), []), train) if not all_learned else ""
        diverged = all(t["status"] == "diverged" for t in training)
        for length in lengths:
            per_run = [(r["synthetic"]["accuracy"].get(str(length)), t["steps"]) for r, t in zip(recs, training)]
            scored = [s for s, _ in per_run if s]
            n = sum(s["scored"] for s in scored)
            ours = sum(s["accuracy"] * s["scored"] for s in scored) / n if n else math.nan
            low, high = wilson(ours * n, n) if n else (math.nan, math.nan)
            figure = paper["figures"].get(length)
            slack = paper["precision"] + 1e-9
            if figure is None or not (n or diverged):
                verdict = "-"
            else:  # runs that all diverged scored nothing: a miss, with its reason
                verdict = "yes" if n and low - slack <= figure <= high + slack else "no"
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
                         apart + ("ours above the published figure; " if ours > figure else "")
                         + why(recs, length, paper["paper_steps"], paper["paper_batch"]),
                         "_most steps": max(t["steps"] for t in training), "_dtype": dtype, "_layout": layout,
                         "_variant of": paper["variant_of"], "_train": train, "_precision": paper["precision"],
                         "_low": low, "_high": high, "_chance": chance, "_learned": all_learned,
                         "_runs": [(s["accuracy"], steps, s["scored"]) for s, steps in per_run if s],
                         "_trajectory": [probe for r in recs for probe in _after_learning(r, train, length,
                                                                                          all_learned)]})
    return explain(pd.DataFrame(rows))


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
            "reproduce in another data layout, precision or rate, else in the same one, or ours at every budget; "
            "a published figure between our seeds; a variant of the model that reproduces or learned the task.", "",
            markdown(calibration, floatfmt=["g" if c == "lr" else ".3f" for c in calibration.columns]), ""]


def markdown(table: pd.DataFrame, floatfmt: str | list[str] = ".3f") -> str:
    """`table` as the reports' markdown: a missing value prints "-" (tabulate's missingval sees None,
    not pandas' NaN), integers with thousands separators."""
    return table.astype(object).where(table.notna(), None).to_markdown(index=False, floatfmt=floatfmt, intfmt=",",
                                                                       missingval="-")
