"""suite=decode on CPU: points, records (prefill, per-token latency, state bytes), and the
refusals that keep the comparison honest."""
from __future__ import annotations

import pytest
import torch

from harness.store import results
from models import generation, registry
from tests.limits import limit
from tests.test_cli import run_cli


def test_decode_sweep_records_prefill_decode_and_state_bytes(tmp_path):
    out = run_cli("suite=decode", "suite.models=[mamba,transformer]", "suite.contexts=[16,48]", "suite.batch_sizes=[2]",
                  "suite.gen_tokens=3", "suite.decode_repeats=1", "suite.max_batch_sizes=[]", f"results_dir={tmp_path}",
                  "progress=false")
    assert out.returncode == 0, out.stderr
    df = results.load(tmp_path).set_index(["model", "seq_len"])
    assert (df["status"] == "ok").all() and len(df) == 4
    assert (df["latency_n"] == 3).all() and df["prefill_ms_p50"].gt(0).all()
    kv = df.loc["transformer"]
    assert kv["state_kind"].eq("kv_cache").all()
    assert kv.loc[48, "state_mb"] == pytest.approx(3 * kv.loc[16, "state_mb"])  # grows with the context
    assert kv.loc[16, "state_mb_end"] > kv.loc[16, "state_mb"]  # and with every generated token
    recurrent = df.loc["mamba"]
    assert recurrent["state_kind"].eq("recurrent").all()
    assert recurrent.loc[48, "state_mb"] == recurrent.loc[16, "state_mb"] == recurrent.loc[16, "state_mb_end"]


def test_max_batch_points_run_in_order_and_stop_at_the_first_failure():
    from suites.common import RunContext
    from suites.decode import DecodeParams, build_points

    ctx = RunContext(device="cpu", dtype="fp32", seed=0, vocab_size=64, model_choice=None)
    params = DecodeParams(name="decode", models=["mamba", "transformer"], preset="tiny", contexts=[8],
                          batch_sizes=[1], gen_tokens=2, decode_repeats=1, cuda_graphs=[False], max_batch_context=8,
                          max_batch_sizes=[64, 4, 16], max_batch_gen_tokens=2, warmup=0, iters=1, max_time_s=1.0, energy_min_s=0.0,
                          timeout_s=limit(60.0))
    points, _ = build_points(params, ctx)
    sweep = [p for p in points if p.config["sweep"] == "max_batch" and p.config["model"] == "mamba"]
    assert [p.config["batch_size"] for p in sweep] == [4, 16, 64]
    assert len({p.stop_group for p in sweep}) == 1


def test_cuda_graphs_are_refused_where_they_cannot_run():
    out = run_cli("suite=decode", "suite.cuda_graphs=[true]", "dry_run=true")
    assert out.returncode == 2 and "CUDA graphs need device=cuda" in out.stderr
    transformer = registry.build("transformer", registry.resolve_config("transformer", "tiny", {"vocab_size": 64}))
    with pytest.raises(ValueError, match="no static-shape step"):
        generation.GreedyDecoder(transformer, cuda_graphs=True)


def test_greedy_decoder_feeds_back_the_argmax():
    torch.manual_seed(0)
    model = registry.build("mamba", registry.resolve_config("mamba", "tiny", {"vocab_size": 64})).eval()
    prompt = torch.randint(0, 64, (2, 5))
    with torch.no_grad():
        decoder = generation.GreedyDecoder(model)
        first = decoder.prefill(prompt)
        second = decoder.step()
        full, _ = model(torch.cat([prompt, first.argmax(-1, keepdim=True)], dim=1))
    torch.testing.assert_close(second, full[:, -1], rtol=1e-4, atol=1e-4)
