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


def test_every_model_with_a_static_step_gets_graph_and_eager_points_in_both_sweeps():
    from suites.common import RunContext
    from suites.decode import DecodeParams, build_points

    ctx = RunContext(device="cuda", dtype="bf16", seed=0, vocab_size=64, model_choice=None)  # points only: no GPU
    params = DecodeParams(name="decode", models=["mamba", "transformer", "mamba_moe"], preset="tiny", contexts=[8],
                          batch_sizes=[1], gen_tokens=2, decode_repeats=1, cuda_graphs=[False, True],
                          max_batch_context=8, max_batch_sizes=[4, 16], max_batch_gen_tokens=2, warmup=0, iters=1,
                          max_time_s=1.0, energy_min_s=0.0, timeout_s=limit(60.0))
    points, _ = build_points(params, ctx)
    settings = {(p.config["model"], p.config["sweep"], p.config["cuda_graphs"]) for p in points}
    for model in ("mamba", "transformer"):
        assert {(model, sweep, graphs) for sweep in ("latency", "max_batch") for graphs in (False, True)} <= settings
    assert not any(graphs for model, _, graphs in settings if model == "mamba_moe")
    sweep = [p for p in points if p.config["model"] == "transformer" and p.config["sweep"] == "max_batch"]
    assert [(p.config["cuda_graphs"], p.config["batch_size"]) for p in sweep] == [(False, 4), (False, 16),
                                                                                   (True, 4), (True, 16)]
    assert len({p.stop_group for p in sweep}) == 2  # a failure stops its own setting only


def test_the_gpu_reference_points_keep_their_ids_and_only_new_settings_are_added():
    """Every stored point of results/reference/decode is still built with its id; the new ones are the
    Transformer's graph points and the eager max-batch sweep of the models that had only graphs there."""
    import dataclasses

    from harness.measure.env import REPO_ROOT
    from harness.run.config import compose_config, to_container
    from harness.run.sweep import _expander, build
    from harness.store.points import point_id
    from suites.common import RunContext

    ctx = RunContext(device="cuda", dtype="bf16", seed=0, vocab_size=16384, model_choice=None)
    ctx = dataclasses.replace(ctx, expand=_expander(ctx))
    _, _, _, points, _ = build(to_container(compose_config(["suite=decode"])), ctx)
    built = {point_id(p.config): p.config for p in points}
    stored = {path.stem for path in (REPO_ROOT / "results" / "reference" / "decode").glob("*.json")}
    assert stored and stored <= set(built)
    settings = {pid: (c["model"], c["sweep"], c["cuda_graphs"]) for pid, c in built.items()}
    new = set(settings.values()) - {settings[pid] for pid in stored}
    assert new == {("transformer", "latency", True), ("transformer", "max_batch", True),
                   ("mamba", "max_batch", False), ("swarm", "max_batch", False)}


def test_cuda_graphs_are_refused_where_they_cannot_run():
    out = run_cli("suite=decode", "suite.cuda_graphs=[true]", "dry_run=true")
    assert out.returncode == 2 and "CUDA graphs need device=cuda" in out.stderr
    moe = registry.build("mamba_moe", registry.resolve_config("mamba_moe", "tiny", {"vocab_size": 64}))
    with pytest.raises(ValueError, match="no static-shape step"):
        generation.GreedyDecoder(moe, cuda_graphs=True)


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
