"""The bad-input table: every mistake a user can make on the command line (top-level keys,
each suite's keys, the model and launcher groups, every command) gets one line on stderr that
names what is wrong, and exit code 2, before anything is measured; every kind of damaged record
in a store is named (path and cause) by `results.load`, the dashboard's loader and `compare`,
never dropped silently. Run in-process, so the table costs seconds, not a process per case."""
from __future__ import annotations

import json
import os
import warnings

import pytest

from harness.run import cli
from harness.store import results
from harness.store.results import UnreadableRecords

S = "suite=scaling"
CLI_CASES = [
 # top-level keys
 (["device=tpu"], "device"), (["device=cuda:x"], "device"), (["device=cpu:0"], "device"), (["device=cuda"], "CUDA"),
 (["dtype=int3"], "dtype"), (["dtype=1"], "dtype"), (["seed=abc"], "seed"), (["seed=1.5"], "seed"),
 (["vocab_size=1"], "vocab_size"), (["vocab_size=x"], "vocab_size"), (["results_dir="], "results_dir"),
 (["force=maybe"], "force"), (["progress=perhaps"], "progress"), (["dry_run=perhaps"], "dry_run"),
 (["isolation=thread"], "isolation"), (["wait=soon"], "wait"), (["colour=red"], "colour"), (["+colour=red"], "colour"),
 (["results_dir=/proc/version"], "results_dir"),
 # suite group
 (["suite=scalng"], "scalng"), (["suite=[smoke,scaling]"], "suite"), (["suite=smoke", "~suite"], "suite"),
 (["suite="], "suite"), (["suite.seq_len=[1]"], "seq_len"), (["suite.name=other"], "other"),
 (["suite=claims", "suite.runs=[[suite=claims]]"], "claims"),
 # model group
 (["model=gpt"], "gpt"), (["model=mamba", "model.d_model=-8"], "d_model"), (["model=mamba", "model.d_model=abc"], "d_model"),
 (["model=mamba", "model.flux=1"], "flux"), (["model=mamba", "model.preset=huge"], "huge"),
 (["model=mamba", "model.backend=bogus"], "backend"), (["model=transformer", "model.n_head=0"], "n_head"),
 (["model=swarm", "model.top_k=0"], "top_k"), (["model=swarm", "model.n_encoders=-1"], "n_encoders"),
 (["model=mamba_moe", "model.n_experts=abc"], "n_experts"),
 # scaling / smoke keys
 ([S, "suite.seq_lens=[0,64]"], "seq_lens"), ([S, "suite.seq_lens=[1024,x]"], "seq_lens"), ([S, "suite.seq_lens=[]"], "seq_lens"),
 ([S, "suite.seq_lens=5"], "seq_lens"), ([S, "suite.extend_seq_lens=[-1]"], "extend_seq_lens"),
 ([S, "suite.batch_size=-2"], "batch_size"), ([S, "suite.batch_size=0"], "batch_size"), ([S, "suite.iters=0"], "iters"),
 ([S, "suite.warmup=-1"], "warmup"), ([S, "suite.timeout_s=0"], "timeout_s"), ([S, "suite.max_time_s=abc"], "max_time_s"),
 ([S, "suite.modes=[forward,backward]"], "modes"), ([S, "suite.modes=[]"], "modes"), ([S, "suite.match=size"], "match"),
 ([S, "suite.preset=huge"], "huge"), ([S, "suite.models=[mamba,gpt]"], "gpt"), ([S, "suite.models=[]"], "models"),
 ([S, "suite.profiles=3"], "profiles"), ([S, "suite.energy_min_s=-1"], "energy_min_s"),
 (["suite=smoke", "suite.seq_lens=[0]"], "seq_lens"), (["suite=smoke", "suite.batch_size=x"], "batch_size"),
 (["suite=smoke", "suite.modes=[infer]"], "modes"),
 # encoders
 (["suite=encoders", "suite.n_encoders=[0]"], "n_encoders"), (["suite=encoders", "suite.top_k=[0]"], "top_k"),
 (["suite=encoders", "suite.seq_lens=[x]"], "seq_lens"), (["suite=encoders", "suite.swarm_model=gpt"], "gpt"),
 (["suite=encoders", "suite.modes=[sideways]"], "modes"), (["suite=encoders", "suite.batch_size=0"], "batch_size"),
 (["suite=encoders", "suite.baselines=3"], "baselines"), (["suite=encoders", "suite.train_top_k=[0]"], "train_top_k"),
 # decode
 (["suite=decode", "suite.contexts=[0]"], "contexts"), (["suite=decode", "suite.batch_sizes=[0]"], "batch_sizes"),
 (["suite=decode", "suite.gen_tokens=0"], "gen_tokens"), (["suite=decode", "suite.cuda_graphs=[maybe]"], "cuda_graphs"),
 (["suite=decode", "suite.models=[gpt]"], "gpt"), (["suite=decode", "suite.decode_repeats=0"], "decode_repeats"),
 (["suite=decode", "suite.max_batch_sizes=[x]"], "max_batch_sizes"), (["suite=decode", "suite.match=size"], "match"),
 # regression
 (["suite=regression", "suite.shapes=[[4]]"], "shapes"), (["suite=regression", "suite.shapes=[[0,64]]"], "shapes"),
 (["suite=regression", "suite.repeats=0"], "repeats"), (["suite=regression", "suite.loss_steps=-1"], "loss_steps"),
 (["suite=regression", "suite.presets=[huge]"], "huge"), (["suite=regression", "suite.models=[gpt]"], "gpt"),
 (["suite=regression", "suite.loss_lr=abc"], "loss_lr"), (["suite=regression", "suite.loss_shape=[1]"], "loss_shape"),
 (["suite=regression", "suite.loss_branching=0"], "loss_branching"),
 # quality
 (["suite=quality", "suite.corpus=/nonexistent/corpus"], "corpus"), (["suite=quality", "suite.parts=[poetry]"], "parts"),
 (["suite=quality", "suite.seeds=[]"], "seeds"), (["suite=quality", "suite.lr=abc"], "lr"),
 (["suite=quality", "suite.context=0"], "context"), (["suite=quality", "suite.lr=-1"], "lr"),
 (["suite=quality", "suite.parts=[synthetic]", "suite.synthetic.tasks=[chess]"], "chess"),
 (["suite=quality", "suite.parts=[synthetic]", "suite.synthetic.steps=0"], "steps"), (["suite=quality", "suite.synthetic.flux=1"], "flux"),
 (["suite=quality", "suite.models=3"], "models"),
 (["suite=quality", "suite.lr_by_model=3"], "lr_by_model: expected a mapping"),
 (["suite=quality", "suite.lr_by_size={d512: {mamba: 0.001}}"], "lr_by_size='d512' is not a size"),
 (["suite=quality", "suite.lr_sweep_sizes=[d512]", "suite.parts=[lr_sweep]"], "lr_sweep_sizes='d512' is not a size"),
 (["suite=quality", "suite.only=[transfomer]"], "suite.only: 'transfomer' names no entry"),
 # distributed
 (["suite=distributed", "suite.world_sizes=[0]"], "world_sizes"), (["suite=distributed", "suite.n_encoders=[x]"], "n_encoders"),
 (["suite=distributed", "suite.top_k=0"], "top_k"), (["suite=distributed", "suite.seq_len=0"], "seq_len"),
 # claims
 (["suite=claims", "suite.runs=3"], "runs"), (["suite=claims", "suite.runs=[[suite=nope]]"], "nope"),
 # launchers
 (["launcher=nope"], "nope"), (["launcher=local_gpus", "launcher.gpus=abc"], "gpus"), (["launcher=slurm", "launcher.flux=1"], "flux"),
 (["launcher=slurm", "launcher.cluster=moon"], "cluster"),
 # commands
 (["frobnicate"], "frobnicate"), (["compare"], "baseline"), (["compare", "baseline=/nonexistent"], "candidate"),
 (["compare", "baseline=/nonexistent", "candidate=/nonexistent2"], "nonexistent"),
 (["compare", "baseline=results/reference/regression", "candidate=results/reference/regression", "threshold=abc"], "threshold"),
 (["compare", "baseline=results/reference/regression", "candidate=results/reference/regression", "flux=1"], "flux"),
 (["compare", "baseline=results/reference/regression", "candidate=results/reference/regression", "markdown=/proc/version/x.md"], "markdown"),
 (["compare", "--help"], "key=value"), (["claims", "store=/nonexistent"], "nonexistent"), (["claims", "flux=1"], "flux"),
 (["claims", "--help"], "key=value"), (["claims", "out=/proc/version/x"], "out"),
 (["corpus", "build", "flux=1"], "flux"), (["corpus", "build", "max_train_mb=abc"], "max_train_mb"), (["corpus", "frob"], "frob"),
 (["corpus=build", "seed=1"], "corpus"),
 (["export", "store=/nonexistent"], "nonexistent"), (["export", "store=results/reference/regression", "format=xml"], "xml"),
 (["export", "store=results/reference/regression", "flux=1"], "flux"),
 (["export", "store=results/reference/regression", "out=/proc/version/x.csv"], "out"), (["export"], "store"),
]


def _with_store(argv: list[str], store) -> list[str]:
    """A sweep's arguments get a temporary store (commands take their own paths)."""
    is_sweep = "=" in argv[0] and argv[0] != "corpus=build" and not any(a.startswith("results_dir") for a in argv)
    return [*argv, f"results_dir={store}"] if is_sweep else argv


@pytest.mark.parametrize("argv,names", CLI_CASES, ids=[" ".join(a) for a, _ in CLI_CASES])
def test_a_command_line_mistake_is_one_line_and_exit_2(argv, names, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cli, "_early_worker", lambda argv: None)  # no worker process per case
    code = cli.main(_with_store(argv, tmp_path / "store"))
    out, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, (code, out[-500:], err[-500:])
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    assert names in lines[0], f"the message should name {names!r}: {lines[0]}"
    assert "Traceback" not in out + err
    assert not list((tmp_path / "store").rglob("*.json")), "a mistake must not measure anything"


def test_the_table_has_at_least_100_cases():
    assert len(CLI_CASES) + len(STORE_CASES) >= 100


GOOD = {"point_id": "0123456789abcdef", "schema_version": 3, "status": "ok", "config": {"suite": "unit", "model": "m"},
        "run_id": "r"}
STORE_CASES = {
    "truncated": b'{"point_id": "0123456789abcdef", "sta',
    "empty": b"",
    "not UTF-8": b'{"point_id": "' + bytes([0xFF, 0xFE]) + b'"}',
    "a JSON list": b"[1, 2, 3]",
    "a JSON number": b"42",
    "a JSON string": b'"record"',
    "null": b"null",
    "an object without point_id": b'{"status": "ok"}',
    "binary garbage": bytes(range(256)),
    "dangling link": None,
}


def _plant(store, name: str, content: bytes | None):
    folder = store / "unit"
    folder.mkdir(parents=True)
    (folder / "fedcba9876543210.json").write_text(json.dumps(GOOD))
    bad = folder / "0000000000000000.json"
    if content is None:
        os.symlink(folder / "missing-target.json", bad)
    else:
        bad.write_bytes(content)
    return bad


@pytest.mark.parametrize("name", list(STORE_CASES))
def test_a_damaged_record_is_named_by_the_loader_and_the_good_ones_stay(name, tmp_path):
    bad = _plant(tmp_path, name, STORE_CASES[name])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        df = results.load(tmp_path)
    named = [w for w in caught if issubclass(w.category, UnreadableRecords)]
    assert named and str(bad) in str(named[0].message)
    assert [p["path"] for p in df.attrs["problems"]] == [str(bad)]
    assert list(df["point_id"]) == [GOOD["point_id"]]  # the good record is not hidden


@pytest.mark.parametrize("name", list(STORE_CASES))
def test_the_dashboard_loader_names_a_damaged_record(name, tmp_path):
    from dashboard_app import data

    bad = _plant(tmp_path, name, STORE_CASES[name])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnreadableRecords)
        table = data.load(str(tmp_path))
    assert str(bad.name) in data.problems_text(table)
    assert len(table) == 1


@pytest.mark.parametrize("name", list(STORE_CASES))
def test_compare_refuses_a_run_with_a_damaged_record(name, tmp_path, monkeypatch, capsys):
    _plant(tmp_path / "base", name, STORE_CASES[name])
    (tmp_path / "cand" / "unit").mkdir(parents=True)
    (tmp_path / "cand" / "unit" / "fedcba9876543210.json").write_text(json.dumps(GOOD))
    code = cli.main(["compare", f"baseline={tmp_path / 'base'}", f"candidate={tmp_path / 'cand'}"])
    err = capsys.readouterr().err
    assert code == 2 and "0000000000000000.json" in err and "Traceback" not in err
