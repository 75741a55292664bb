"""Point ids are the store's keys: the suites must still build, on the device the reference
was measured on, exactly the points stored in results/reference, so a rerun resumes instead of
measuring again. A dry run over each committed GPU run finds every point done (or skipped
after a stored failure of its stop group)."""
from __future__ import annotations

import dataclasses

import pytest

from harness.measure.env import REPO_ROOT
from harness.run import runner
from harness.run.config import compose_config, to_container
from harness.run.sweep import _expander, build
from suites.common import RunContext

REFERENCE = str(REPO_ROOT / "results" / "reference")
DONE = {"done before (force=true to redo)", "a shorter point of this group failed"}


@pytest.mark.parametrize("suite", ["scaling", "encoders", "decode", "regression", "claims"])
def test_a_dry_run_over_the_gpu_reference_finds_every_point_done(suite):
    ctx = RunContext(device="cuda", dtype="bf16", seed=0, vocab_size=16384, model_choice=None)
    ctx = dataclasses.replace(ctx, expand=_expander(ctx))  # the reference runs: GPU profile, defaults
    _, _, _, points, _ = build(to_container(compose_config([f"suite={suite}"])), ctx)
    states = runner.plan(points, REFERENCE)
    assert points and set(states) <= DONE, [(p.label, s) for p, s in zip(points, states) if s not in DONE][:5]
    assert states.count("done before (force=true to redo)") >= 0.8 * len(points)
