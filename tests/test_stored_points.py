"""Point ids are the store's keys: the suites must still build, on the device the reference was
measured on, exactly the points stored in results/reference, so a rerun resumes instead of
measuring again. A dry run over each complete GPU reference (the H100's in results/reference,
the H200's in results/reference/h200) finds every point done, or skipped after a stored failure;
every point of the H200 set, which is partial for encoders, decode and the claims, is one the
suites build (by default, or by the README's feature-timing commands)."""
from __future__ import annotations

import dataclasses

import pytest

from harness.measure.env import REPO_ROOT
from harness.run import runner
from harness.run.config import compose_config, to_container
from harness.run.sweep import _expander, build
from harness.store import results
from harness.store.points import point_id
from suites.common import RunContext

H100 = str(REPO_ROOT / "results" / "reference")
H200 = str(REPO_ROOT / "results" / "reference" / "h200")
DONE = {"done before (force=true to redo)", "a shorter point of this group failed"}
ADDED_LATER = {H100: {"mamba2"}}  # models the suites gained after that GPU was measured


# the feature timings at the trained shape (README, "The swarm's features"): the base command, then
# each variant's extra overrides
FEATURE_TIMING = ["model=swarm", "suite.preset=small", "model.d_model=128", "model.n_encoders=5", "model.top_k=2",
                  "model.domains=[code,legal,math,prose,tech]", "suite.seq_lens=[512]", "suite.extend_seq_lens=[]",
                  "suite.modes=[forward]", "suite.batch_size=64", "suite.repeats=3", "suite.timeout_s=90"]
FEATURE_VARIANTS = [[], ["model.fusion=attention"], ["model.share_rank=8"], ["model.top_k=1"], ["model.top_k=3"],
                    ["model.top_k=3", "model.routing_threshold=0.6"], ["model.stateful_encoders=true"]]


def _points(suite: str, overrides: tuple[str, ...] = ()):
    ctx = RunContext(device="cuda", dtype="bf16", seed=0, vocab_size=16384, model_choice=None)
    ctx = dataclasses.replace(ctx, expand=_expander(ctx))  # the reference runs: GPU profile, defaults
    return build(to_container(compose_config([f"suite={suite}", *overrides])), ctx)[3]


@pytest.mark.parametrize("suite, store", [("scaling", H100), ("encoders", H100), ("regression", H100),
                                          ("scaling", H200), ("regression", H200)])
def test_a_dry_run_over_a_complete_gpu_reference_finds_every_point_done(suite, store):
    points = [p for p in _points(suite) if p.config.get("model") not in ADDED_LATER.get(store, set())]
    states = runner.plan(points, store)
    assert points and set(states) <= DONE, [(p.label, s) for p, s in zip(points, states) if s not in DONE][:5]
    assert states.count("done before (force=true to redo)") >= 0.8 * len(points)


def test_every_stored_h200_point_is_one_the_suites_build():
    built = {point_id(p.config) for suite in ("claims", "scaling", "encoders", "decode", "regression")
             for p in _points(suite)}
    built |= {point_id(p.config) for variant in FEATURE_VARIANTS for p in _points("scaling", (*FEATURE_TIMING, *variant))}
    # quality points name the corpus they trained on (its path and id, built by `corpus build`,
    # which CI does not run), and the calibration reruns set their own budgets on the command line
    stored = [(path, record["point_id"]) for path, record in results.iter_records(H200)
              if record.get("config", {}).get("suite") != "quality"]
    assert len(stored) > 250
    assert [str(path) for path, pid in stored if pid not in built] == []
