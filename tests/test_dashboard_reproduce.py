"""The Point view's command line (dashboard_app.reproduce) against the suites' own point lists:
for sweeps of every suite, on both device profiles and with settings off the profile, each
point's record gives a command whose sweep holds that point with all its processes, and only
them where the command says it is exact (the harness's own composition and `build`, with the
device taken as given, so a CPU machine checks the GPU profiles too)."""
from __future__ import annotations

import shlex

import pytest

from dashboard_app import reproduce
from harness.run import sweep
from harness.run.config import compose_config, to_container
from harness.store.points import point_id
from suites.common import RunContext

CUDA, CPU = ["device=cuda", "dtype=bf16"], ["device=cpu", "dtype=fp32"]
SWEEPS = {  # name -> the overrides of a sweep whose points are recorded and then measured again
    "scaling": ["suite=scaling", *CUDA],
    "scaling cpu, repeats": ["suite=scaling", *CPU, "suite.repeats=2"],
    "smoke": ["suite=smoke", *CPU],
    "scaling, model overrides": ["suite=scaling", *CUDA, "model=transformer_swarm_full", "model.d_model=768",
                                 "model.n_head=12", "model.n_encoders=32", "model.top_k=32", "suite.seq_lens=[2048]",
                                 "suite.batch_size=1", "suite.modes=[forward]", "suite.repeats=3"],
    "scaling, off-profile settings": ["suite=scaling", *CUDA, "seed=3", "vocab_size=1000", "suite.iters=7",
                                      "suite.capacity_factor=1.25", "suite.models=[mamba_moe,transformer]",
                                      "suite.seq_lens=[512,1024]", "suite.extend_seq_lens=[2048]"],
    "encoders": ["suite=encoders", *CUDA],
    "encoders cpu, repeats": ["suite=encoders", *CPU, "suite.repeats=2"],
    "encoders, transformer swarm": ["suite=encoders", *CUDA, "suite.swarm_model=transformer_swarm",
                                    "suite.n_encoders=[10,100]", "suite.top_k=[10]", "suite.baselines=[]",
                                    "suite.loop_n_encoders=[100]", "suite.batch_size=4"],
    "decode": ["suite=decode", *CUDA, "suite.max_batch_repeats=2"],
    "regression": ["suite=regression", *CUDA],
    "quality, synthetic": ["suite=quality", *CUDA, "suite.parts=[synthetic]", "suite.seeds=[0,1]"],
    "distributed cpu": ["suite=distributed", *CPU],
}


def points_of(args: list[str]) -> list[dict]:
    """The point configs a command line would run (its results_dir and force left out)."""
    args = [a for a in args if not a.startswith(("results_dir=", "force="))]
    cfg = to_container(compose_config(args))
    ctx = RunContext(device=cfg["device"], dtype=cfg["dtype"], seed=cfg["seed"], vocab_size=cfg["vocab_size"],
                     model_choice=None)
    return [p.config for p in sweep.build(cfg, ctx)[3]]


def recorded_points(args: list[str]) -> list[tuple[dict, list[str]]]:
    """(record of a point's first process, every process's id) for the first point of each kind
    (model, mode, sweep, matched baseline, pool) of a sweep."""
    processes: dict[str, list[dict]] = {}
    for config in points_of(args):
        base = point_id({k: v for k, v in config.items() if k != "repeat"})
        processes.setdefault(base, []).append(config)
    kinds: dict[tuple, list[dict]] = {}
    for group in processes.values():
        c = group[0]
        kinds.setdefault((c["model"], c["mode"], c.get("sweep"), bool(c.get("matched_to")),
                          (c.get("model_config") or {}).get("pool_backend")), group)
    return [({"point_id": point_id(g[0]), "config": g[0]}, [point_id(c) for c in g]) for g in kinds.values()]


@pytest.mark.parametrize("name", list(SWEEPS))
def test_each_points_command_runs_it_and_only_it_where_it_says_exact(name):
    recorded = recorded_points(SWEEPS[name])
    assert recorded
    for record, ids in recorded:
        command = reproduce.command(record, processes=len(ids))
        ran = [point_id(c) for c in points_of(list(command.args))]
        where = f"{name}: {record['config']['model']} {record['config']['mode']}: {command.text}"
        assert set(ids) <= set(ran), where
        if command.exact:
            assert sorted(ran) == sorted(ids) and command.note.startswith("this point only"), where
        else:
            assert len(set(ran)) > len(ids) and command.note.startswith("this point and "), where


def test_a_later_repeat_brings_the_earlier_ones_and_says_so():
    (record, ids), *_ = [r for r in recorded_points(SWEEPS["regression"]) if r[0]["config"]["mode"] == "train"]
    last = {"point_id": ids[-1], "config": {**record["config"], "repeat": len(ids) - 1}}
    command = reproduce.command(last, processes=1)
    assert not command.exact and f"{len(ids) - 1} earlier repeat(s)" in command.note
    assert set(ids) == {point_id(c) for c in points_of(list(command.args))}


def test_the_command_is_shell_safe_and_writes_a_fresh_store():
    record = {"point_id": "x", "config": {"suite": "quality", "model": "swarm", "label": "odd label", "mode": "synthetic",
                                          "synthetic_task": "mqar", "device": "cuda", "dtype": "bf16", "seed": 0}}
    command = reproduce.command(record)
    assert shlex.split(command.text)[2:] == list(command.args)
    assert command.args[-2:] == (f"results_dir={reproduce.OUT}", "force=true")
    parsed = to_container(compose_config([a for a in command.args if not a.startswith(("results_dir", "force"))]))
    assert parsed["suite"]["models"] == [{"model": "swarm", "label": "odd label"}]
    unknown = reproduce.command({"point_id": "y", "config": {"suite": "future", "device": "cpu"}})
    assert not unknown.exact and "no narrowing is known" in unknown.note
