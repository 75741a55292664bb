"""suite=quality on a small fixture corpus (CPU): points carry the corpus and tokenizer they
were built for, training records learning curves, evaluation scores every domain; divergence
is recorded, a changed corpus refused, capacity limits lifted only while scoring."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from harness.quality import corpus_build
from harness.quality.evaluate import no_capacity_drops
from harness.quality.train import TokenSampler, TrainConfig, train
from harness.run.runner import run_sweep
from harness.store import results
from harness.store.points import Point, point_id
from harness.tasks import corpus_quality as quality
from models import registry
from suites.common import RunContext
from suites.quality import QualityParams, build_points
from tests.limits import limit
from tests.test_corpus import sources  # noqa: F401  (the fixture corpus)


def params(corpus: str, **over) -> QualityParams:
    values = dict(name="quality", corpus=corpus, tokenizer="bytes", preset="tiny", seeds=[0], train_tokens=2048,
                  batch_size=4, context=64, lr=3e-3, eval_every=4, eval_tokens=256, test_tokens=1024, timeout_s=limit(300.0),
                  parts=["corpus"],
                  models=[{"model": "swarm", "overrides": {"n_encoders": 4, "top_k": 1}},
                          {"model": "mamba", "match": "params_active"}])
    return QualityParams(**{**values, **over})


CPU = RunContext(device="cpu", dtype="fp32", seed=0, vocab_size=16384, model_choice=None)


def test_quality_suite_trains_and_scores_every_domain(sources, tmp_path):  # noqa: F811
    manifest = corpus_build.build(sources)
    points, _ = build_points(params(sources.out), CPU)
    assert [p.config["label"] for p in points] == ["swarm", "mamba"]
    assert all(p.config["corpus_id"] == manifest["corpus_id"] and p.config["model_config"]["vocab_size"] == 257
               for p in points)
    assert points[0].config["model_config"]["domains"] == ["legal", "prose"]  # specialists per corpus domain
    rows = run_sweep(points, str(tmp_path / "store"), progress=False)
    assert [r["status"] for r in rows] == ["ok", "ok"], [r.get("error") for r in rows]
    for path, record in results.iter_records(tmp_path / "store"):
        q = record["quality"]
        assert set(q["test"]) == {"legal", "prose"} and q["eval_capacity"] == "unlimited"
        assert all(0 < s["bpb"] < 9 and s["tokens"] == 1024 for s in q["test"].values())
        assert q["training"]["tokens"] == 2048 and len(q["training"]["val_curve"]) == 2
        if record["config"]["model"] == "swarm":
            assert 0 <= q["routing"]["domain_accuracy"] <= 1 and len(q["routing"]["encoder_load"]) == 4


def test_a_changed_corpus_is_refused(sources):  # noqa: F811
    corpus_build.build(sources)
    points, _ = build_points(params(sources.out), CPU)
    with pytest.raises(ValueError, match="was built for"):
        quality.train_and_evaluate({**points[1].config, "corpus_id": "0" * 16})


class ScriptedLoss(torch.nn.Module):
    """A model whose loss at call n (1, 2, ...) is `loss_at(n)`, through one parameter."""

    def __init__(self, loss_at):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(2, 2))
        self.loss_at, self.calls = loss_at, 0

    def forward(self, idx, targets=None):
        self.calls += 1
        return None, self.w.sum() * 0 + self.loss_at(self.calls)


def exploding() -> ScriptedLoss:
    """A loss of 5, 5, then NaN: training must stop and say so."""
    return ScriptedLoss(lambda n: math.nan if n >= 3 else 5.0)


def counting() -> ScriptedLoss:
    """A loss of 10 + the step number (11, 12, ...): never three times the first."""
    return ScriptedLoss(lambda n: 10.0 + n)


def test_a_long_run_keeps_a_bounded_curve_of_window_means(monkeypatch):
    from harness.quality import train as train_mod

    monkeypatch.setattr(train_mod, "CURVE_POINTS", 4)
    sampler = TokenSampler({"a": np.arange(1000) % 7}, context=8, batch_size=2, seed=0)
    out = train(counting(), sampler, TrainConfig(tokens=0, steps=10, batch_size=2, context=8, eval_every=100),
                torch.device("cpu"), torch.float32, evaluate=dict)
    # windows of ceil(10 / 4) = 3 steps: means 12, 15, 18, then the partial window (20)
    assert out["train_curve"] == [[48, 12.0], [96, 15.0], [144, 18.0], [160, 20.0]]
    assert out["steps"] == 10 and out["tokens"] == 160 and out["final_loss"] == 20.0


def test_divergence_is_recorded_not_hidden():
    sampler = TokenSampler({"a": np.arange(1000) % 7}, context=8, batch_size=2, seed=0)
    out = train(exploding(), sampler, TrainConfig(tokens=160, batch_size=2, context=8), torch.device("cpu"),
                torch.float32, evaluate=dict)
    assert out["status"] == "diverged" and out["steps"] == 3 and math.isnan(out["train_curve"][-1][1])


def test_capacity_limits_are_lifted_only_while_scoring():
    model = registry.build("swarm", registry.resolve_config("swarm", "tiny", {"vocab_size": 64}))
    before = (model.router.capacity_factor, model.cfg.capacity_factor)
    with no_capacity_drops(model):
        assert model.router.capacity_factor == 0 and model.cfg.capacity_factor == 0
    assert (model.router.capacity_factor, model.cfg.capacity_factor) == before


def test_sizes_rates_the_lr_sweep_and_the_features_part_build_the_points_they_say(sources, tmp_path):  # noqa: F811
    corpus_build.build(sources)
    sized = params(sources.out, seeds=[0, 1], sizes=[{"label": "d32", "overrides": {"d_model": 32}},
                                                      {"label": "d64", "overrides": {}}],
                   lr_by_model={"mamba": 1e-3}, lr_sweep=[1e-3, 4e-3], lr_sweep_tokens=1024,
                   feature_models=[{"model": "swarm", "label": "swarm gate=attention",
                                    "overrides": {"n_encoders": 4, "top_k": 1, "fusion": "attention"}}],
                   parts=["corpus", "lr_sweep", "features"])
    points, _ = build_points(sized, CPU)
    corpus = [p.config for p in points if "score_split" not in p.config and p.config["label"] in ("swarm", "mamba")]
    assert sorted({(c["label"], c["size"], c["seed"]) for c in corpus}) == sorted(
        (label, size, seed) for label in ("swarm", "mamba") for size in ("d32", "d64") for seed in (0, 1))
    assert {c["model_config"]["d_model"] for c in corpus if c["size"] == "d32"} == {32}
    assert {c["lr"] for c in corpus if c["label"] == "mamba"} == {1e-3}  # lr_by_model by family
    assert {c["lr"] for c in corpus if c["label"] == "swarm"} == {3e-3}  # else suite.lr
    sweep = [p.config for p in points if p.config.get("score_split") == "val"]
    assert sorted((c["label"], c["lr"]) for c in sweep) == [("mamba", 1e-3), ("mamba", 4e-3), ("swarm", 1e-3),
                                                            ("swarm", 4e-3)]
    assert {(c["size"], c["seed"], c["train_tokens"]) for c in sweep} == {("d32", 0, 1024)}  # first size and seed
    features = [p.config for p in points if p.config["label"] == "swarm gate=attention"]
    assert {(c["size"], c["seed"]) for c in features} == {("d64", 0), ("d64", 1)}  # the last size, every seed
    at_d32, _ = build_points(dataclasses.replace(sized, parts=["features"], feature_size="d32"), CPU)
    assert {(p.config["size"], p.config["seed"]) for p in at_d32} == {("d32", 0), ("d32", 1)}
    both, _ = build_points(dataclasses.replace(sized, parts=["lr_sweep"], lr_sweep_sizes=["d32", "d64"]), CPU)
    assert sorted((p.config["size"], p.config["lr"]) for p in both if p.config["label"] == "mamba") == [
        ("d32", 1e-3), ("d32", 4e-3), ("d64", 1e-3), ("d64", 4e-3)]
    per_size, _ = build_points(dataclasses.replace(sized, parts=["corpus"], lr_by_size={"d64": {"mamba": 2e-3}}), CPU)
    assert {(p.config["size"], p.config["lr"]) for p in per_size if p.config["label"] == "mamba"} == {
        ("d32", 1e-3), ("d64", 2e-3)}  # lr_by_size first, then lr_by_model
    labelled = dataclasses.replace(sized, parts=["corpus"], lr_by_model={"swarm": 5e-3, "swarm-b": 7e-3},
                                   lr_by_size={"d64": {"swarm": 6e-3}},
                                   models=[{"model": "swarm"}, {"model": "swarm", "label": "swarm-b"}])
    rates = {(p.config["label"], p.config["size"]): p.config["lr"] for p in build_points(labelled, CPU)[0]}
    assert rates == {("swarm", "d32"): 5e-3, ("swarm", "d64"): 6e-3,  # family: the size's rate, then the model's
                     ("swarm-b", "d32"): 7e-3, ("swarm-b", "d64"): 7e-3}  # a label beats a size's family rate
    with_baseline = dataclasses.replace(sized, parts=["corpus", "features"], lr_by_model={"swarm gate=attention": 6e-3},
                                        feature_models=[{**sized.feature_models[0], "baseline": "swarm"}])
    built = [p.config for p in build_points(with_baseline, CPU)[0]]
    assert len({point_id(c) for c in built}) == len(built)  # no point twice
    assert sorted((c["label"], c["size"], c["lr"]) for c in built if c["label"] != "mamba") == sorted(
        [("swarm", size, 3e-3) for size in ("d32", "d64") for _ in (0, 1)]  # the corpus part
        + [(label, "d64", 6e-3) for label in ("swarm gate=attention", "swarm") for _ in (0, 1)])  # pairs at one rate
    same_rate = [p.config for p in build_points(dataclasses.replace(with_baseline, lr_by_model={}), CPU)[0]]
    assert len(same_rate) == len(built) - 2  # the baseline at the corpus rate is the corpus point, listed once
    two_rates = dataclasses.replace(with_baseline, parts=["features"], only=["swarm k=2"],
                                    lr_by_model={"swarm gate=attention": 6e-3, "swarm k=2": 7e-3},
                                    feature_models=[*with_baseline.feature_models,
                                                    {"model": "swarm", "label": "swarm k=2", "baseline": "swarm",
                                                     "overrides": {"n_encoders": 4, "top_k": 2}}])
    narrowed_features = [p.config for p in build_points(two_rates, CPU)[0]]
    assert sorted((c["label"], c["lr"]) for c in narrowed_features) == [("swarm", 7e-3)] * 2 + [("swarm k=2", 7e-3)] * 2
    both = [p.config for p in build_points(dataclasses.replace(two_rates, only=[]), CPU)[0]]
    assert sorted({(c["label"], c["lr"]) for c in both if c["label"] == "swarm"}) == [("swarm", 6e-3), ("swarm", 7e-3)]
    matched = dataclasses.replace(sized, parts=["corpus", "lr_sweep"], only=["transformer"],
                                  models=[{"model": "swarm"}, {"model": "transformer", "match": "params_active"}])
    narrowed, _ = build_points(matched, CPU)
    assert {p.config["label"] for p in narrowed} == {"transformer"} and len(narrowed) == 2 * 2 + 2
    full, _ = build_points(dataclasses.replace(matched, only=[]), CPU)  # the same points as without `only`
    assert {p.config["model_config"]["n_layer"] for p in narrowed} == {
        p.config["model_config"]["n_layer"] for p in full if p.config["label"] == "transformer"}
    no_features_size, _ = build_points(dataclasses.replace(sized, parts=["corpus"], feature_size="d512"), CPU)
    assert no_features_size  # feature_size is checked only when the features part runs
    rows = run_sweep([Point(sweep[0], limit(300.0))], str(tmp_path / "store"), progress=False)
    assert rows[0]["status"] == "ok", rows[0].get("error")
    (record,) = [r for _, r in results.iter_records(tmp_path / "store")]
    assert "test" not in record["quality"] and set(record["quality"]["val"]) == {"legal", "prose"}
    assert record["quality"]["val_bpb_mean"] > 0  # scored on the validation split only


def test_impossible_sizes_and_rates_are_one_line_errors(sources):  # noqa: F811
    from harness.errors import UserError

    corpus_build.build(sources)
    with pytest.raises(UserError, match="suite.sizes"):
        build_points(params(sources.out, sizes=[{"overrides": {"d_model": 32}}]), CPU)
    with pytest.raises(UserError, match="lr_by_model"):
        build_points(params(sources.out, lr_by_model={"mamba": -1.0}), CPU)
    with pytest.raises(UserError, match="lr_sweep"):
        build_points(params(sources.out, parts=["lr_sweep"], lr_sweep=[], lr_sweep_tokens=1024), CPU)
    with pytest.raises(UserError, match="feature_models"):
        build_points(params(sources.out, parts=["features"]), CPU)
    with pytest.raises(UserError, match="feature_size='d512' is not a size; valid: d32"):
        build_points(params(sources.out, parts=["features"], sizes=[{"label": "d32", "overrides": {}}],
                            feature_size="d512", feature_models=[{"model": "mamba"}]), CPU)
    one_size = [{"label": "d32", "overrides": {}}]
    with pytest.raises(UserError, match="lr_sweep_sizes='d64' is not a size; valid: d32"):
        build_points(params(sources.out, parts=["lr_sweep"], sizes=one_size, lr_sweep=[1e-3], lr_sweep_tokens=1024,
                            lr_sweep_sizes=["d64"]), CPU)
    with pytest.raises(UserError, match="lr_by_size='d64' is not a size; valid: d32"):
        build_points(params(sources.out, sizes=one_size, lr_by_size={"d64": {"mamba": 1e-3}}), CPU)
    with pytest.raises(UserError, match=r"suite.only: 'mamab' names no entry .*; valid: swarm, mamba"):
        build_points(params(sources.out, only=["mamab"]), CPU)
    with pytest.raises(UserError, match=r"lr_by_size.d32: mamba: lr=0 is impossible"):
        build_points(params(sources.out, sizes=one_size, lr_by_size={"d32": {"mamba": 0}}), CPU)


class CutAfter:
    """A sampler whose process is 'killed' (an exception) when it is asked for batch `n`."""

    def __init__(self, sampler, n: int):
        self.sampler, self.n, self.calls = sampler, n, 0

    def batch(self, device):
        self.calls += 1
        if self.calls == self.n:
            raise RuntimeError("killed")
        return self.sampler.batch(device)

    def state_dict(self):
        return self.sampler.state_dict()

    def load_state_dict(self, state):
        self.sampler.load_state_dict(state)


def test_a_run_cut_short_resumes_on_the_same_batches_and_ends_as_an_uncut_run(tmp_path):
    streams = {"a": np.arange(3000) % 13, "b": np.arange(3000) % 7}
    store = tmp_path / "quality"  # not there yet: a fresh results_dir's first point saves before any record
    cfg = TrainConfig(tokens=16 * 2 * 8, batch_size=2, context=8, eval_every=5, seed=0)
    resumable = dataclasses.replace(cfg, resume_path=str(store / "p.resume.pt"), checkpoint_every_s=0.0)

    def fresh():  # a swarm: noisy gating draws from torch's RNG, which the resume must restore too
        torch.manual_seed(0)
        return registry.build("swarm", registry.resolve_config("swarm", "tiny", {"vocab_size": 64})), \
            TokenSampler(streams, 8, 2, seed=0)

    def val_loss(model):
        @torch.no_grad()
        def evaluate():
            return {"loss": float(model(torch.arange(16)[None] % 13, torch.arange(1, 17)[None] % 13)[1])}
        return evaluate

    model, sampler = fresh()
    uncut = train(model, sampler, cfg, torch.device("cpu"), torch.float32, val_loss(model))
    cut_model, cut_sampler = fresh()
    with pytest.raises(RuntimeError, match="killed"):
        train(cut_model, CutAfter(cut_sampler, 8), resumable, torch.device("cpu"), torch.float32, val_loss(cut_model))
    assert (store / "p.resume.pt").exists()  # saved after step 7, the last that finished
    resumed_model, resumed_sampler = fresh()
    resumed = train(resumed_model, resumed_sampler, resumable, torch.device("cpu"), torch.float32,
                    val_loss(resumed_model))
    assert resumed["resumed_at_steps"] == [7] and "resumed_at_steps" not in uncut
    assert (resumed["steps"], resumed["tokens"], resumed["status"]) == (uncut["steps"], uncut["tokens"], "ok")
    assert resumed["train_curve"] == uncut["train_curve"] and resumed["val_curve"] == uncut["val_curve"]
    for (name, a), b in zip(model.state_dict().items(), resumed_model.state_dict().values()):
        assert torch.equal(a, b), name
    assert not (store / "p.resume.pt").exists()  # removed once training ends
    (store / "p.resume.pt").write_bytes(b"not a checkpoint")  # a broken file: set aside, a fresh run
    model, sampler = fresh()
    again = train(model, sampler, resumable, torch.device("cpu"), torch.float32, val_loss(model))
    assert again["train_curve"] == uncut["train_curve"] and "resumed_at_steps" not in again
    assert (store / "p.resume.pt.unusable").read_bytes() == b"not a checkpoint"


def test_a_synthetic_task_sampler_resumes_on_the_batch_it_would_have_drawn():
    from harness.quality.synthetic_batches import TaskSampler
    from harness.quality.synthetic_tasks import TASKS

    sampler = TaskSampler(TASKS["induction_heads"], [16, 32], batch_size=2, seed=3)
    for _ in range(3):
        sampler.batch("cpu")
    state = sampler.state_dict()
    expected = sampler.batch("cpu")
    again = TaskSampler(TASKS["induction_heads"], [16, 32], batch_size=2, seed=3)
    again.load_state_dict(state)
    got = again.batch("cpu")
    assert got[0].shape == (2, 32) and torch.equal(got[0], expected[0]) and torch.equal(got[1], expected[1])


def test_a_synthetic_task_sampler_hands_out_the_batches_of_generating_them_one_at_a_time():
    """The worker thread generating ahead changes neither the batches nor their order, and a
    state taken while batches wait ahead rewinds to the one handed out last."""
    import numpy as np

    from harness.quality.synthetic_batches import TaskSampler
    from harness.quality.synthetic_tasks import TASKS

    task = TASKS["mqar"].configured({"pairs": 4, "keys": 63})
    rng = np.random.default_rng(5)
    direct = [task.generate(rng, 3, length) for length in [16, 32, 16, 32, 16, 32]]
    sampler = TaskSampler(task, [16, 32], batch_size=3, seed=5, ahead=3)
    for inputs, targets in direct[:4]:
        got = sampler.batch("cpu")
        assert np.array_equal(got[0].numpy(), inputs) and np.array_equal(got[1].numpy(), targets)
    state = sampler.state_dict()
    assert state["calls"] == 4 and sampler.calls > 4  # generated ahead, not handed out
    sampler.load_state_dict(state)
    assert np.array_equal(sampler.batch("cpu")[0].numpy(), direct[4][0])
    again = TaskSampler(task, [16, 32], batch_size=3, seed=5, ahead=0)
    again.load_state_dict(state)
    assert np.array_equal(again.batch("cpu")[1].numpy(), direct[4][1])


def test_cuda_graphs_asked_for_on_the_cpu_train_eagerly_and_the_record_says_so():
    from harness.quality.synthetic_batches import TaskSampler
    from harness.quality.synthetic_tasks import TASKS

    task = TASKS["induction_heads"]
    model = registry.build("mamba", registry.resolve_config("mamba", "tiny", {"vocab_size": task.vocab_size}))
    cfg = TrainConfig(tokens=0, steps=3, batch_size=2, context=16, eval_every=3, cuda_graphs=True)
    history = train(model, TaskSampler(task, [16], 2, seed=0), cfg, torch.device("cpu"), torch.float32,
                    lambda: {"accuracy": 0.0})
    assert history["cuda_graphs"] is False and history["steps"] == 3 and history["status"] == "ok"


def test_a_synthetic_point_sets_adams_betas_and_turns_clipping_off():
    from harness.quality.train_step import eager_step, make_optimizer, max_norm
    from harness.tasks.synthetic import train_config

    point = {"steps": 2, "batch_size": 2, "train_lengths": [8], "lr": 1e-3, "eval_every": 1, "seed": 0}
    assert (train_config(point).betas, train_config(point).clip) == ((0.9, 0.95), 1.0)  # the harness's own
    cfg = train_config({**point, "adam_betas": [0.9, 0.999], "grad_clip": None})
    assert (cfg.betas, cfg.clip) == ((0.9, 0.999), None)

    def grads_after_a_step(clip):
        class Model(torch.nn.Module):  # the (logits, loss) interface of the models, with large gradients
            def __init__(self):
                super().__init__()
                self.linear = torch.nn.Linear(4, 1)

            def forward(self, idx, targets):
                return None, 100.0 * (self.linear(idx) - 10.0).square().mean()

        model = Model()
        optimizer = make_optimizer([{"params": list(model.parameters())}], 1e-3, torch.device("cpu"), False, cfg.betas)
        norm = eager_step(model, optimizer, torch.autocast("cpu", enabled=False), clip, torch.ones(3, 4), None, {})[1]
        assert optimizer.param_groups[0]["betas"] == (0.9, 0.999)
        return float(norm), float(torch.cat([p.grad.flatten() for p in model.parameters()]).norm())

    measured, unclipped = grads_after_a_step(max_norm(None))
    assert measured > 1.0 and unclipped == pytest.approx(measured, rel=1e-5)  # measured, never scaled
    measured, clipped = grads_after_a_step(1.0)
    assert measured > 1.0 and clipped == pytest.approx(1.0, rel=1e-3)


def test_weight_decay_spares_every_embedding_whatever_its_name():
    from harness.quality.train import param_groups
    from models import registry

    for config, tables in (("gpt2", {"wte", "wpe"}), ("llama", {"embed_tokens"})):  # GPT-2's names hold no "embed"
        model = registry.build("hf", registry.resolve_config("hf", "tiny", {"vocab_size": 64, "config": config}))
        decay, no_decay = (set(map(id, group["params"])) for group in param_groups(model, 0.1))
        names = {id(p): n.split(".")[-2] for n, p in model.named_parameters()}
        assert tables <= {names[i] for i in no_decay} and not tables & {names[i] for i in decay}
        assert all(p.dim() >= 2 for p in model.parameters() if id(p) in decay)  # norms and biases: never decayed
        assert len(decay) + len(no_decay) == len(list(model.parameters()))  # the tied head counted once
