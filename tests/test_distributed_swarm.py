"""The swarm's encoders spread over two gloo processes (torchrun): the same logits as the
single-process swarm on the whole batch, every dispatched chunk received once, the record."""
from __future__ import annotations

import pytest

from harness.store import results
from models.swarm import encoder_bounds
from tests.test_cli import run_cli


def test_encoder_bounds_are_contiguous_and_even():
    assert encoder_bounds(10, 2) == [0, 5, 10]
    assert encoder_bounds(1000, 3) == [0, 333, 666, 1000]


@pytest.mark.slow
def test_expert_parallel_swarm_matches_the_single_process_swarm(tmp_path):
    out = run_cli("suite=distributed", f"results_dir={tmp_path}", "progress=false", timeout=300)
    assert out.returncode == 0, out.stderr + out.stdout
    record = results.read_record(next((tmp_path / "distributed").glob("*.json")))
    assert record["status"] == "ok", record.get("error")
    d = record["distributed"]
    assert d["world_size"] == 2 and d["backend"] == "gloo" and d["matches_single"]
    assert d["rel_err_vs_single"] < 1e-5
    ranks = sorted(d["per_rank"], key=lambda r: r["rank"])
    assert [r["encoders"] for r in ranks] == [[0, 5], [5, 10]]
    cfg = record["config"]
    chunks = cfg["batch_size"] * cfg["seq_len"] // cfg["model_config"]["chunk_len"] * cfg["model_config"]["top_k"]
    assert sum(r["chunks_received"] for r in ranks) == chunks  # every dispatched chunk arrives exactly once
    assert d["all_to_all_ms_median"] > 0 and d["nvls_disabled"]


def test_world_size_one_is_refused():
    out = run_cli("suite=distributed", "suite.world_sizes=[1]", "dry_run=true")
    assert out.returncode == 2 and "must be >= 2" in out.stderr
