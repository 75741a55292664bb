"""The reasons of the calibration table (harness.analysis.calibration_report) that other rows measure:
each pass below completes the `why` of the rows that do not reproduce from the rows of the same
setting at other budgets, precisions, data layouts, rates, seeds or entries.

Where the same setting, model, rate and length ran at other budgets, the reason also says what
they measured: a row that a run in another MQAR data layout reproduces is prefixed "data layout,
measured: reproduces in the <layout> layout at N steps (that budget)"; one that a run in another
precision (the point's dtype: bf16 autocast or fp32) reproduces, "precision, measured: ..."; one
that a run with more steps in its own precision reproduces, "budget, measured: reproduces at N
steps (that budget)"; otherwise, with at least two step counts in the group, the reason ends with
our accuracy at every budget in step order. A row none of its own model's runs explain is
prefixed "variant, measured: <model> reproduces at N steps (its budget)" where an entry declared
its variant (`variant_of`: the same model at another batch, say) reproduces at that length, else
"another entry, measured: ..." where an entry published as the same figure does, else "variant,
measured: <model> learns length T in n runs ... and scores a-b here" (", k of them reproducing
alone" where some run's own interval holds the figure) where the variant learned the task at its
training length, so what is left to explain is on the variant's rows; a
variant's own row whose parent entry (one that learned the task) comes closer to the published
figure, outside our interval, leads with "variant, measured: <parent> scores p here": the change
the variant's label names is what moved ours.
Two reasons hold whatever else does: "learning rate, measured: reproduces at lr X at N steps" where the
same model, data layout and precision reproduce at another of the rates swept (Zoology reports
the best rate of its sweep), and "seeds, measured: the published figure lies within ours across n
runs that learned length T" where the runs of one model, rate, layout and precision that learned
the task at the training length (any budget) score, each alone, below and above the published
figure, or some of them each hold it in their own interval: a figure from one training run can
land anywhere in that spread. A row where ours holds
chance and the published figure is within 0.05 of chance too leads with "chance, measured": neither
model recalls there, and two estimates of chance differ by sampling alone. Where the runs also
probed the row's length along training (`calibration_budget.probe_lengths`) and, once the training
length was learned, one probe's interval (the final evaluation is the last probe) lies below the
published figure and another's above, the row leads with "along training, measured": the paper
prints one checkpoint's figure.
"""
from __future__ import annotations

import math

import pandas as pd

Z95 = 1.959964
NEAR_CHANCE = 0.05  # an accuracy this close to chance recalls nothing


def wilson(successes: float, n: int, z: float = Z95) -> tuple[float, float]:
    """95% Wilson score interval of a binomial proportion (Wilson 1927)."""
    if n == 0:
        return math.nan, math.nan
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


PRIVATE = ["_most steps", "_dtype", "_layout", "_variant of", "_learned", "_runs", "_train", "_precision", "_low",
           "_high", "_chance", "_trajectory"]


def _across_budgets(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with the `why` of every row that does not reproduce completed from the other rows of
    the same setting, model, lr and length (the private columns: `_most steps`, each row's largest
    per-seed step count, orders them; `_dtype` and `_layout` tell precisions and MQAR data layouts
    apart; `explain` drops them). The first that holds leads the reason: a row in another data layout
    reproduces ("data layout, measured"), one in the same layout and another precision
    ("precision, measured"), one in both with more steps ("budget, measured"); each with the fewest
    such steps and that row's budget. Otherwise, where the same layout ran at two step counts or
    more, the reason ends with ours at every such row, by steps."""
    for _, group in frame.groupby(["setting", "model", "lr", "length"], dropna=False, sort=False):
        group = group.sort_values("_most steps", kind="stable")
        reproducing = group[group["reproduces"] == "yes"]
        for index, row in group[group["reproduces"] == "no"].iterrows():
            same_data = reproducing[reproducing["_layout"] == row["_layout"]]
            other_layout = reproducing[reproducing["_layout"] != row["_layout"]]
            other_dtype = same_data[same_data["_dtype"] != row["_dtype"]]
            enough = same_data[(same_data["_dtype"] == row["_dtype"]) & (same_data["_most steps"] > row["_most steps"])]
            runs = group[group["_layout"] == row["_layout"]]
            if not other_layout.empty:
                fewest = other_layout.iloc[0]
                lead = f"data layout, measured: reproduces in the {fewest['_layout']} layout at"
            elif not other_dtype.empty:
                fewest = other_dtype.iloc[0]
                lead = f"precision, measured: reproduces in {fewest['_dtype']} at"
            elif not enough.empty:
                fewest = enough.iloc[0]
                lead = "budget, measured: reproduces at"
            else:
                if runs["_most steps"].nunique() > 1:
                    measured = ", ".join(("-" if pd.isna(ours) else f"{ours:.3f}") + f" @ {int(steps):,}"
                                         for ours, steps in zip(runs["ours"], runs["_most steps"]))
                    frame.at[index, "why"] = f"{row['why']}; at length {row['length']} across budgets: {measured}"
                continue
            frame.at[index, "why"] = f"{lead} {int(fewest['_most steps']):,} steps ({fewest['budget']}); {row['why']}"
    return frame


def explain(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows with every reason their runs and the other rows measured, private columns dropped."""
    if frame.empty:
        return frame.drop(columns=PRIVATE, errors="ignore")
    explained = _along_training(_across_seeds(_across_rates(_across_budgets(frame.copy()))))
    return _other_models(_at_chance(explained)).drop(columns=PRIVATE)


def _across_rates(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows that do not reproduce where a row of the same setting, model, length, data layout and
    precision at another rate reproduces: "learning rate, measured: reproduces at lr X at N steps
    (its budget)", with the fewest such steps, before whatever the reason already said."""
    for _, group in frame.groupby(["setting", "model", "length", "_layout", "_dtype"], dropna=False, sort=False):
        reproducing = group[group["reproduces"] == "yes"].sort_values("_most steps", kind="stable")
        for index, row in group[group["reproduces"] == "no"].iterrows():
            others = reproducing[reproducing["lr"].notna() & (reproducing["lr"] != row["lr"])]
            if pd.notna(row["lr"]) and not others.empty:
                fewest = others.iloc[0]
                frame.at[index, "why"] = (f"learning rate, measured: reproduces at lr {fewest['lr']:g} at "
                                          f"{int(fewest['_most steps']):,} steps ({fewest['budget']}); {row['why']}")
    return frame


def _learned_runs(rows: pd.DataFrame) -> list[tuple[float, int, int]]:
    """(accuracy at the row's length, steps, answers scored) of every run in `rows` that learned the
    task at its training length (`_learned`: a row's runs all did or none did), by accuracy."""
    return sorted(run for runs in rows.loc[rows["_learned"], "_runs"] for run in runs)


def _spread(runs: list[tuple[float, int, int]]) -> str:
    accuracies = [accuracy for accuracy, _, _ in runs]
    return f"{min(accuracies):.3f}" if len(runs) == 1 else f"{min(accuracies):.3f}-{max(accuracies):.3f}"


def _alone(runs: list[tuple[float, int, int]], figure: float, slack: float) -> int:
    """How many of `runs` hold `figure` (with its precision) in their own 95% interval."""
    return sum(low - slack <= figure <= high + slack for low, high in (wilson(a * n, n) for a, _, n in runs))


def _along_training(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows that do not reproduce whose runs probed the row's length along training
    (`_trajectory`: the probes once the training length was learned, the final evaluation last).
    Where one probe's 95% interval lies wholly below the published figure (with its precision) and
    another's wholly above, "along training, measured: once length T was learned, ours at length L went below
    and above the published X (lowest a @ step s, highest b @ step s; the range over n probes)"
    leads the reason: the paper prints one checkpoint's figure, and ours passes it both ways as
    training goes on. Otherwise the reason ends with that range. The probes pool over every row of
    the same setting, model, rate, length, data layout and precision, whatever its budget: a run
    capped earlier is, up to its cap, a run of the same training."""
    for _, group in frame.groupby(["setting", "model", "lr", "length", "_layout", "_dtype"], dropna=False, sort=False):
        probes = [probe for trajectory in group["_trajectory"] for probe in trajectory]
        if probes:
            for index, row in group[group["reproduces"] == "no"].iterrows():
                frame.at[index, "why"] = _passed_along_training(probes, row)
    return frame


def _passed_along_training(probes: list[tuple[float, int, int]], row: pd.Series) -> str:
    """The row's reason with what `probes` (accuracy, answers, step) say about its published figure."""
    slack, figure = row["_precision"], row["published"]
    bounded = [(a, step, *wilson(a * n, n)) for a, n, step in probes]
    below = [(a, step) for a, step, _, high in bounded if high + slack < figure]
    above = [(a, step) for a, step, low, _ in bounded if low - slack > figure]
    values, steps = [a for a, _, _ in probes], sorted(step for _, _, step in probes)
    span = (f"{min(values):.3f}-{max(values):.3f} over {len(probes)} probes, steps {steps[0]:,}-{steps[-1]:,}")
    if below and above:
        low, high = min(below), max(above)
        return (f"along training, measured: once length {row['_train']} was learned, ours at length "
                f"{row['length']} went below and above the published {figure:.3f} (lowest {low[0]:.3f} @ step "
                f"{low[1]:,}, highest {high[0]:.3f} @ step {high[1]:,}; {span}); {row['why']}")
    return (f"{row['why']}; along training, once length {row['_train']} was learned: ours at length "
            f"{row['length']} {span}")


def _at_chance(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows that do not reproduce where our 95% interval holds chance and the published figure is
    within NEAR_CHANCE of it too: "chance, measured: ours [a, b] holds chance (c) and the published X
    is within 0.05 of it: neither recalls at length L", before whatever the reason already said. Two
    estimates of chance differ by sampling alone (a published figure below chance says the paper's
    evaluation was small), so the row is a match in substance, not a miss."""
    for index, row in frame[frame["reproduces"] == "no"].iterrows():
        if row["_low"] <= row["_chance"] <= row["_high"] and abs(row["published"] - row["_chance"]) <= NEAR_CHANCE:
            frame.at[index, "why"] = (f"chance, measured: ours [{row['_low']:.3f}, {row['_high']:.3f}] holds chance "
                                      f"({row['_chance']:.3f}) and the published {row['published']:.3f} is within "
                                      f"{NEAR_CHANCE:g} of it: neither recalls at length {row['length']}; {row['why']}")
    return frame


def _across_seeds(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows whose runs learned the task at the training length but do not reproduce, where two
    runs or more of the same setting, model, rate, length, data layout and precision (any budget)
    learned it too and the
    published figure (with its precision) lies strictly between the lowest and the highest of them:
    "seeds, measured: the published X lies within ours across n runs that learned length T
    (a-b: each run's accuracy @ its steps)", before whatever the reason already said. Where the
    figure lies outside their spread but inside the 95% interval of some of them, each alone, at a
    length other than the training one (there the pooled mean of seeds that extrapolate apart can
    miss a figure one of them reproduces; at the training length what differs is learning): "seeds,
    measured: k of n runs that learned length T (...) hold the published X in their own 95%
    interval"."""
    for _, group in frame.groupby(["setting", "model", "lr", "length", "_layout", "_dtype"], dropna=False, sort=False):
        runs = _learned_runs(group)
        if len(runs) < 2:
            continue
        each = ", ".join(f"{accuracy:.3f} @ {steps:,}" for accuracy, steps, _ in runs)
        for index, row in group[group["reproduces"] == "no"].iterrows():
            if not row["_learned"]:  # a run that did not learn the task misses by its budget
                continue
            low, high, slack, figure = runs[0][0], runs[-1][0], row["_precision"], row["published"]
            alone = _alone(runs, figure, slack)
            learned = f"runs that learned length {row['_train']} ({_spread(runs)}: {each})"
            if low < high and low - slack < figure < high + slack:  # some run below it, some above
                lead = f"the published {figure:.3f} lies within ours across {len(runs)} {learned}"
            elif alone and row["length"] != row["_train"]:
                verb = "holds the published {:.3f} in its" if alone == 1 else "hold the published {:.3f} in their"
                lead = f"{alone} of {len(runs)} {learned} {verb.format(figure)} own 95% interval"
            else:
                continue
            frame.at[index, "why"] = f"seeds, measured: {lead}; {row['why']}"
    return frame


def _other_models(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows that do not reproduce and that no run of their own rate explains (no "measured" in the
    reason), where at the same length the first of these reproduces, its fewest steps leading the
    reason: the same model in another data layout at another rate ("data layout, measured:
    reproduces in the <layout> layout at lr <lr> at N steps (its budget)"); an entry declared a
    variant of this row's model (`variant_of`: the same model with one thing changed on purpose,
    named in its label; "variant, measured: <model> reproduces at ..."); an entry published as
    the same figure ("another entry, measured: ..."). Both entries in the row's data layout."""
    for _, group in frame.groupby(["setting", "length"], dropna=False, sort=False):
        reproducing = group[group["reproduces"] == "yes"].sort_values("_most steps", kind="stable")
        for index, row in group[group["reproduces"] == "no"].iterrows():
            if "measured" in row["why"]:
                continue
            data = reproducing["_layout"] == row["_layout"]
            other_layout = reproducing[(reproducing["model"] == row["model"]) & ~data]
            variants = reproducing[(reproducing["_variant of"] == row["model"]) & data]
            same_figure = reproducing[(reproducing["model"] != row["model"]) & (row["published as"] != "-")
                                      & (reproducing["published as"] == row["published as"]) & data]
            for others, lead in ((other_layout, "data layout, measured: reproduces in the {_layout} layout "
                                                "at lr {lr:g}"),
                                 (variants, "variant, measured: {model} reproduces"),
                                 (same_figure, "another entry, measured: {model} reproduces")):
                if not others.empty:
                    fewest = others.iloc[0]
                    frame.at[index, "why"] = (lead.format(**fewest) + f" at {int(fewest['_most steps']):,} steps "
                                              f"({fewest['budget']}); {row['why']}")
                    break
            else:
                frame.at[index, "why"] = (_variant_learned(group, row) or _parent_closer(group, row)) + row["why"]
    return frame


def _variant_learned(group: pd.DataFrame, row: pd.Series) -> str:
    """The lead of a row whose declared variant learned the task at the training length but does
    not reproduce at this length either (any budget and precision, the row's data layout): the
    variant's learned runs, their steps, their accuracies here and how many of them hold the
    published figure in their own 95% interval; "" where it has none."""
    for variant, rows in group[(group["_variant of"] == row["model"]) & (group["_layout"] == row["_layout"])].groupby(
            "model", sort=True):
        runs = _learned_runs(rows)
        if runs:
            steps = sorted(steps for _, steps, _ in runs)
            trained = f"{steps[0]:,}" if len(runs) == 1 else f"{steps[0]:,}-{steps[-1]:,}"
            alone = _alone(runs, row["published"], row["_precision"])
            return (f"variant, measured: {variant} learns length {row['_train']} in {len(runs)} "
                    f"run{'s' if len(runs) > 1 else ''} ({trained} steps) and scores {_spread(runs)} here"
                    + (f", {alone} of them reproducing alone" if alone else "")
                    + f" (published {row['published']:.3f}; its rows say why); ")
    return ""


def _parent_closer(group: pd.DataFrame, row: pd.Series) -> str:
    """The lead of a variant's row (`variant_of`: one thing changed on purpose) where the entry it
    varies, at this length and in its data layout, comes closer to the published figure: "variant,
    measured: <parent> scores p here (its budget; published X, ours o): the change this entry's
    label names moves ours away". The parent's row closest to the figure, any budget, among those
    with a run that learned the task at its training length, and only where p lies outside our 95%
    interval (a difference sampling alone does not make); "" otherwise."""
    parent = group[(group["model"] == row["_variant of"]) & (group["_layout"] == row["_layout"])
                   & group["ours"].notna() & group["_learned"]]
    if parent.empty:
        return ""
    closest = parent.loc[(parent["ours"] - row["published"]).abs().idxmin()]
    if (abs(closest["ours"] - row["published"]) >= abs(row["ours"] - row["published"])
            or row["_low"] <= closest["ours"] <= row["_high"]):
        return ""
    return (f"variant, measured: {closest['model']} scores {closest['ours']:.3f} here ({closest['budget']}; published "
            f"{row['published']:.3f}, ours {row['ours']:.3f}): the change this entry's label names moves ours away; ")
