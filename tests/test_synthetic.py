"""Synthetic tasks: every answer follows from the sequence as each task defines it, batches are
reproducible from a seed, accuracy counts exactly the answers, and `suite=quality
suite.parts=[synthetic]` runs end to end without a corpus and reports accuracy per length."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from harness.analysis import quality_report
from harness.errors import UserError
from harness.quality.synthetic_batches import accuracy
from harness.quality.synthetic_tasks import (
    IGNORE,
    MARKER,
    NOISE,
    TASKS,
    ZOOLOGY_POWER_A,
    _choose,
    _power_law_slots,
    choose_reference,
    induction_heads,
    mqar,
    selective_copying,
)
from harness.run.runner import run_sweep
from harness.store import results
from harness.structured import from_mapping
from suites.common import RunContext
from suites.quality import QualityParams, build_points
from tests.limits import limit

CPU = RunContext(device="cpu", dtype="fp32", seed=0, vocab_size=16384, model_choice=None)


def test_mqar_answers_are_the_values_paired_with_the_queried_keys():
    inputs, targets = mqar(np.random.default_rng(0), 4, 256)
    pairs = 256 // 16
    for row, target in zip(inputs, targets):
        keys, values = row[0:2 * pairs:2], row[1:2 * pairs:2]
        assert len(set(keys)) == pairs and keys.max() < 256 <= values.min()
        scored = np.flatnonzero(target != IGNORE)
        assert len(scored) == pairs and scored.min() >= 2 * pairs  # every key queried once, after the pairs
        for p in scored:
            assert target[p] == values[list(keys).index(row[p])] == row[p + 1]


def test_mqar_in_zoologys_layout_queries_each_key_once_with_nothing_after_it():
    """layout=zoology (Zoology's Figure 2 data): distinct values, the j-th pair's key at the j-th
    slot drawn, queries on even offsets of the query region, filler 0 everywhere else."""
    task = TASKS["mqar"].configured({"pairs": 16, "keys": 4095, "layout": "zoology"})
    inputs, targets = task.generate(np.random.default_rng(0), 8, 128)
    for row, target in zip(inputs, targets):
        keys, values = row[0:32:2], row[1:32:2]
        assert len(set(keys)) == len(set(values)) == 16 and keys.max() < 4096 <= values.min()
        scored = np.flatnonzero(target != IGNORE)
        assert len(scored) == 16 and (scored - 32).min() >= 0 and ((scored - 32) % 2 == 0).all()
        assert all(target[p] == values[list(keys).index(row[p])] for p in scored)
        filler = np.setdiff1d(np.arange(32, 128), scored)
        assert (row[filler] == 0).all()  # no value after a query, no noise


def test_power_law_slots_follow_zoologys_draws_without_replacement():
    """The exponential clocks pick the first slot with probability w_0 / sum(w) and the second,
    given the first, with w_i / (sum(w) - w_first): numpy's sequential choice(p, replace=False)."""
    slots, draws = 8, 200_000
    got = _power_law_slots(np.random.default_rng(0), draws, slots, 2, ZOOLOGY_POWER_A)
    weights = np.arange(1, slots + 1) ** (ZOOLOGY_POWER_A - 1.0)
    first = np.bincount(got[:, 0], minlength=slots) / draws
    assert np.abs(first - weights / weights.sum()).max() < 0.005
    after_slot_0 = got[got[:, 0] == 0, 1]
    second = np.bincount(after_slot_0, minlength=slots) / len(after_slot_0)
    expected = np.where(np.arange(slots) == 0, 0.0, weights / (weights.sum() - weights[0]))
    assert np.abs(second - expected).max() < 0.01
    assert all(len(set(row)) == 2 for row in got[:1000])


def test_echo_alone_sets_whether_a_querys_value_follows_it():
    for layout, echo in (("zoology", 1), ("uniform", 0)):
        task = TASKS["mqar"].configured({"pairs": 8, "keys": 63, "layout": layout, "echo": echo})
        inputs, targets = task.generate(np.random.default_rng(1), 4, 64)
        scored = targets != IGNORE
        after = np.roll(scored, 1, axis=1)  # the position after each query
        assert (inputs[after] == targets[scored]).all() if echo else (inputs[after] == 0).all()
    default = TASKS["mqar"].configured({"pairs": 8, "keys": 63}).generate(np.random.default_rng(1), 4, 64)
    same = TASKS["mqar"].configured({"pairs": 8, "keys": 63, "echo": 1}).generate(np.random.default_rng(1), 4, 64)
    assert all((a == b).all() for a, b in zip(default, same))  # the uniform layout's default is echo 1
    with pytest.raises(ValueError, match="echo=2: must be 0 or 1"):
        TASKS["mqar"].configured({"echo": 2})
    with pytest.raises(ValueError, match="in_order=True: must be 0 or 1"):
        TASKS["mqar"].configured({"in_order": True})


def test_in_order_alone_sets_the_order_keys_are_queried_in():
    def queried(options):
        task = TASKS["mqar"].configured({"pairs": 8, "keys": 63, **options})
        inputs, targets = task.generate(np.random.default_rng(2), 16, 64)
        rows = [(row[0:16:2], np.flatnonzero(target != IGNORE)) for row, target in zip(inputs, targets)]
        return [([list(keys).index(k) for k in row[slots]], slots) for (keys, slots), row in zip(rows, inputs)]

    for layout in ("uniform", "zoology"):
        assert all(ranks == list(range(8)) for ranks, _ in queried({"layout": layout, "in_order": 1}))
    shuffled, drawn = queried({"layout": "zoology", "in_order": 0}), queried({"layout": "zoology"})
    assert all((a[1] == b[1]).all() for a, b in zip(shuffled, drawn))  # the same slots, keys reassigned
    assert any(ranks != sorted(ranks) for ranks, _ in shuffled)


def test_an_unknown_mqar_layout_is_refused_with_the_valid_ones():
    with pytest.raises(ValueError, match="unknown layout 'zoo'; valid: uniform, zoology"):
        TASKS["mqar"].configured({"layout": "zoo"})
    with pytest.raises(ValueError, match="must be positive integers"):
        TASKS["mqar"].configured({"pairs": "4", "layout": "zoology"})


def test_selective_copying_recalls_the_data_tokens_in_order_at_the_markers():
    inputs, targets = selective_copying(np.random.default_rng(1), 4, 128)
    for row, target in zip(inputs, targets):
        body = row[:-16]
        assert (row[-16:] == MARKER).all() and (target[:-16] == IGNORE).all()
        assert list(target[-16:]) == [t for t in body if t != NOISE]


def test_induction_heads_answer_follows_the_only_earlier_trigger():
    inputs, targets = induction_heads(np.random.default_rng(2), 8, 64)
    for row, target in zip(inputs, targets):
        triggers = np.flatnonzero(row == MARKER)
        assert len(triggers) == 2 and triggers[1] == 63
        assert target[63] == row[triggers[0] + 1] and (target[:63] == IGNORE).all()


@pytest.mark.parametrize("population,count", [(4095, 4), (4095, 64), (224, 64), (16, 16), (5, 1), (1, 1)])
def test_choosing_by_partial_selection_equals_the_full_sort(population, count):
    """The fast `_choose` returns the reference's indices, in its order, and consumes the same
    draws (the generator ends in the same state), so every batch is unchanged."""
    for seed in range(5):
        fast_rng, reference_rng = np.random.default_rng(seed), np.random.default_rng(seed)
        got = _choose(fast_rng, 7, population, count)
        assert got.shape == (7, count) and np.array_equal(got, choose_reference(reference_rng, 7, population, count))
        assert fast_rng.bit_generator.state == reference_rng.bit_generator.state


@pytest.mark.parametrize("name", sorted(TASKS))
def test_batches_are_reproducible_and_within_the_vocabulary(name):
    task = TASKS[name]
    a, b = (task.generate(np.random.default_rng(7), 3, task.min_length * 2) for _ in range(2))
    assert all((x == y).all() for x, y in zip(a, b))
    assert a[0].max() < task.vocab_size and a[0].min() >= 0 and task.vocab_size % 8 == 0


class Oracle(torch.nn.Module):
    """Knows the evaluation seed: regenerates each batch and puts all mass on its answers, or on
    a wrong token where `wrong` says so."""

    def __init__(self, task, seed: int, batch: int, wrong: bool = False):
        super().__init__()
        self.task, self.rng, self.batch, self.wrong = task, np.random.default_rng(seed), batch, wrong

    def forward(self, idx):
        _, targets = self.task.generate(self.rng, self.batch, idx.shape[1])
        answer = np.where(targets == IGNORE, 0, targets) + (1 if self.wrong else 0)
        return torch.nn.functional.one_hot(torch.from_numpy(answer) % self.task.vocab_size,
                                           self.task.vocab_size).float(), None


@pytest.mark.parametrize("name", sorted(TASKS))
def test_accuracy_counts_exactly_the_answers(name):
    task, length = TASKS[name], 64
    cpu = torch.device("cpu")
    right = accuracy(Oracle(task, 5, 4), task, length, 4, 3, 5, cpu, torch.float32)
    wrong = accuracy(Oracle(task, 5, 4, wrong=True), task, length, 4, 3, 5, cpu, torch.float32)
    answers_per_row = {"mqar": length // 16, "selective_copying": 16, "induction_heads": 1}[name]
    assert right == {"accuracy": 1.0, "scored": 3 * 4 * answers_per_row} and wrong["accuracy"] == 0.0


def params(**over) -> QualityParams:
    values = dict(name="quality", corpus="/nonexistent", preset="tiny", seeds=[0], timeout_s=limit(300.0), parts=["synthetic"],
                  models=[{"model": "transformer"}, {"model": "mamba", "match": "params_active"}],
                  synthetic={"tasks": ["induction_heads", "mqar"], "train_lengths": [64], "eval_lengths": [64, 128],
                             "steps": 3, "batch_size": 4, "lr": 3e-3, "eval_every": 2, "eval_batches": 1})
    return from_mapping(QualityParams, {**values, **over}, where="suite")  # as the CLI builds them


def test_synthetic_part_runs_without_a_corpus_and_reports_accuracy_per_length(tmp_path):
    points, _ = build_points(params(), CPU)
    assert [(p.config["synthetic_task"], p.config["label"]) for p in points] == [
        ("induction_heads", "transformer"), ("induction_heads", "mamba"), ("mqar", "transformer"), ("mqar", "mamba")]
    assert {p.config["model_config"]["vocab_size"] for p in points} == {24, 512}
    rows = run_sweep(points[:1], str(tmp_path / "store"), progress=False)
    assert rows[0]["status"] == "ok", rows[0].get("error")
    [(_, record)] = list(results.iter_records(tmp_path / "store"))
    s = record["synthetic"]
    assert set(s["accuracy"]) == {"64", "128"} and s["training"]["steps"] == 3 and s["eval_capacity"] == "unlimited"
    assert [n for n, _ in s["training"]["val_curve"]] == [2 * 4 * 64, 3 * 4 * 64]  # probes at step 2 and the end
    lines = quality_report.write(tmp_path / "store")
    assert any("| induction_heads" in line and "transformer" in line for line in lines)
    assert (tmp_path / "store" / "report.md").exists()


@pytest.mark.parametrize("synthetic, message", [
    ({"tasks": ["parity"]}, "unknown task 'parity'; valid: mqar, selective_copying, induction_heads"),
    ({"eval_lengths": [64, 8192]}, "length 8192 is impossible for mqar"),
    ({"train_lengths": [16]}, "length 16 is impossible for mqar (valid: 64..4080)"),
    ({"steps": 0}, "suite.synthetic.steps=0: must be >= 1"),
    ({"steps": "many"}, "suite.synthetic.steps: expected int"),
])
def test_bad_synthetic_settings_name_what_is_wrong(synthetic, message):
    base = dataclasses.asdict(params().synthetic)
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build_points(params(synthetic={**base, "tasks": ["mqar"], **synthetic}), CPU)


def test_command_line_settings_win_over_the_profile():
    profile = {"cpu": {"synthetic": {**dataclasses.asdict(params().synthetic), "steps": 50}}}
    override = {k: None for k in dataclasses.asdict(params().synthetic) if k != "tasks"} | {"steps": 7}
    points, _ = build_points(params(synthetic=override, profiles=profile), CPU)
    assert {p.config["steps"] for p in points} == {7}


def test_an_unknown_part_is_refused():
    with pytest.raises(UserError, match=r"suite.parts=\['lm'\]: valid parts are corpus, synthetic"):
        build_points(params(parts=["lm"]), CPU)
