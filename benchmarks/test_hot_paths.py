"""CPU hot paths timed by pytest-benchmark, gated in CI against a committed baseline.

    pytest benchmarks/test_hot_paths.py --benchmark-storage=file://benchmarks/baseline \
        --benchmark-compare=0001 --benchmark-compare-fail=median:100%

The baseline (`benchmarks/baseline/<machine>/0001_*.json`) was recorded on the 2-core CI
machine type; the 100% threshold fails a real slowdown (2x) and lets run-to-run noise through
(measured spread in the README). Not collected by a plain `pytest` (testpaths = tests).
"""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from harness.analysis import compare
from harness.store import results
from harness.store.atomic import write_json_atomic
from models import routing
from models.selective_scan import selective_scan_chunked
from models.swarm import ChunkRouter

REFERENCE = Path(__file__).resolve().parent.parent / "results" / "reference"


@pytest.fixture(autouse=True)
def _one_thread():
    """One intra-op thread: the timings then do not depend on what else the CI box runs."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_reference_selective_scan(benchmark):
    """The pure-PyTorch chunked scan every CPU Mamba forward runs: B=2, D=128, L=256, N=16."""
    gen = torch.Generator().manual_seed(0)
    batch, dim, length, n = 2, 128, 256, 16
    u, delta = torch.randn(batch, dim, length, generator=gen), torch.rand(batch, dim, length, generator=gen)
    A = -torch.rand(dim, n, generator=gen)
    B, C = torch.randn(batch, n, length, generator=gen), torch.randn(batch, n, length, generator=gen)
    y = benchmark(selective_scan_chunked, u, delta, A, B, C, None, None, None, True)
    assert y.shape == (batch, dim, length)


def test_router_dispatch(benchmark):
    """Route 8 x 32 chunks to k=4 of 1000 encoders under a capacity limit, then sort by encoder."""
    torch.manual_seed(0)
    router = ChunkRouter(d_model=64, n_encoders=1000, top_k=4, noisy_gating=False, capacity_factor=1.25,
                         min_capacity=1, domain_of_encoder=[-1] * 1000).eval()
    chunks = torch.randn(8, 32, 16, 64)  # (B, C, Lc, d)

    def dispatch():
        with torch.inference_mode():
            r = router(chunks)
            order = torch.argsort(r.experts.flatten(), stable=True)
            return r, order

    r, order = benchmark(dispatch)
    assert r.experts.shape == (8 * 32, 4) and order.shape == (8 * 32 * 4,)
    assert routing.routing_stats(r, 1000)["experts_used"] > 0


def test_results_loading(benchmark, tmp_path):
    """Load a store of 300 records (copies of one real H100 record) into one table; a fixed
    store, so the timing does not grow with the committed reference set."""
    _, record = next(results.iter_records(REFERENCE / "encoders"))
    for i in range(300):
        write_json_atomic(tmp_path / "encoders" / f"{i:04d}.json", {**record, "point_id": f"{i:04d}"})
    df = benchmark(results.load, tmp_path)
    assert len(df) == 300 and "latency_ms_p50" in df.columns


def test_compare_reference_runs(benchmark):
    """The regression gate over the two committed H100 runs (15 points)."""
    base = compare.load_run(str(REFERENCE / "regression"))
    cand = compare.load_run(str(REFERENCE / "calibration" / "h100-run2"))
    result = benchmark(compare.compare_runs, base, cand)
    assert result["passed"]
