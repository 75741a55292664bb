"""suite=regression: the point grid (repeats interleaved, loss points), its validation, the
fixed-seed loss run (deterministic on CPU, learning), and the whole loop: run twice, compare."""
from __future__ import annotations

import math

import pytest

from harness.errors import UserError
from harness.store import results
from harness.store.atomic import write_json_atomic
from harness.tasks.fixed_seed_loss import bigram_batches, train_loss
from models import registry
from models.errors import ModelConfigError
from suites import regression
from suites.common import RunContext
from tests.limits import limit
from tests.test_cli import run_cli

CTX = RunContext(device="cpu", dtype="fp32", seed=0, vocab_size=512, model_choice=None)


def params(**overrides) -> regression.RegressionParams:
    values = dict(name="regression", modes=["forward", "train"], models=["mamba", "transformer"],
                  presets=["tiny"], shapes=[[1, 32], [2, 64]], repeats=3, loss_steps=5, loss_shape=[2, 32],
                  loss_repeats=2, loss_lr=1e-2, warmup=1, iters=3, max_time_s=1.0, energy_min_s=0.0, timeout_s=limit(60.0))
    return regression.RegressionParams(**{**values, **overrides})


def test_points_are_repeated_interleaved_and_include_loss_runs():
    points, _ = regression.build_points(params(), CTX)
    timing = [p.config for p in points if p.config["mode"] != "loss"]
    loss = [p.config for p in points if p.config["mode"] == "loss"]
    assert len(timing) == 2 * 2 * 2 * 3 and len(loss) == 2 * 2
    assert [c["repeat"] for c in timing[:8]] == [0] * 8 and timing[8]["repeat"] == 1  # every point once, then again
    assert {(c["batch_size"], c["seq_len"]) for c in timing} == {(1, 32), (2, 64)}
    assert all(c["task"] == "harness.fixed_seed_loss:train_loss" and c["lr"] == 1e-2 for c in loss)
    assert len({p.config["repeat"] for p in points}) == 3


@pytest.mark.parametrize("overrides, message", [
    ({"shapes": [[1]]}, "expected [batch, seq_len]"),
    ({"repeats": 0}, "suite.repeats=0 is impossible"),
    ({"models": ["gpt"]}, "unknown model 'gpt'"),
    ({"presets": ["huge"]}, "unknown preset 'huge'"),
    ({"modes": ["backward"]}, "valid: forward, train"),
    ({"loss_lr": 0.0}, "suite.loss_lr=0.0 is impossible"),
])
def test_bad_settings_name_the_key(overrides, message):
    with pytest.raises((UserError, ModelConfigError), match=message.replace("[", r"\[").replace("]", r"\]")):
        regression.build_points(params(**overrides), CTX)


def test_bigram_data_is_seeded_and_follows_its_table():
    a, b = bigram_batches(64, 2, 16, 3, 4, seed=1), bigram_batches(64, 2, 16, 3, 4, seed=1)
    assert a.equal(b) and a.shape == (3, 2, 17) and int(a.max()) < 64
    successors = {}
    for prev, nxt in zip(a[..., :-1].flatten().tolist(), a[..., 1:].flatten().tolist()):
        successors.setdefault(prev, set()).add(nxt)
    assert max(len(s) for s in successors.values()) <= 4


def test_fixed_seed_loss_is_bit_identical_on_cpu_and_learns():
    config = registry.resolve_config("transformer", "tiny", {"vocab_size": 128})
    point = {"model": "transformer", "model_config": config, "device": "cpu", "dtype": "fp32", "seed": 0,
             "loss_steps": 30, "batch_size": 4, "seq_len": 32, "lr": 1e-2, "branching": 2, "data_vocab": 16}
    first, second = train_loss(point), train_loss(point)
    assert first["loss"]["curve"] == second["loss"]["curve"]
    assert first["loss"]["final"] < first["loss"]["initial"] - 1.0 and first["loss"]["initial"] > math.log(100)


@pytest.mark.slow
def _copy_run(records: list[dict], root, run_id: str) -> None:
    """`records` written again as run `run_id` under `root`: the same measurements, another run."""
    for record in records:
        write_json_atomic(root / record["config"]["suite"] / f"{record['point_id']}.json", {**record, "run_id": run_id})


def test_two_runs_compare_clean_and_a_lost_point_fails(tmp_path):
    """The gate's loop (matching, reports, exit codes) over real suite records. The shared points
    carry identical measurements, so nothing here depends on how fast or loaded the machine is
    (the gate's statistics are tested in test_compare)."""
    common = ["suite=regression", "suite.models=[transformer]", "suite.modes=[forward]", "suite.repeats=2",
              "suite.loss_steps=3", "suite.loss_shape=[1,16]", "suite.loss_repeats=1", "vocab_size=256",
              "progress=false"]
    assert run_cli(*common, "suite.shapes=[[1,16],[1,32]]", f"results_dir={tmp_path / 'run'}").returncode == 0
    measured = [r for _, r in results.iter_records(tmp_path / "run")]
    small = [r for r in measured if r["config"].get("seq_len") != 32]
    _copy_run(small, tmp_path / "a", "run-a")
    _copy_run(small, tmp_path / "b", "run-b")
    _copy_run(measured, tmp_path / "more", "run-more")
    same = run_cli("compare", f"baseline={tmp_path / 'a'}", f"candidate={tmp_path / 'b'}")
    assert same.returncode == 0, same.stdout + same.stderr
    assert "gate PASSED" in same.stdout
    more = run_cli("compare", f"baseline={tmp_path / 'a'}", f"candidate={tmp_path / 'more'}")
    assert more.returncode == 0 and "new" in more.stdout, more.stdout  # a point added to the suite
    fewer = run_cli("compare", f"baseline={tmp_path / 'more'}", f"candidate={tmp_path / 'a'}")
    assert fewer.returncode == 1 and "missing" in fewer.stdout  # a point the candidate lost
