"""Hydra's sweep syntax (`-m key=a,b ...`) runs every combination as one sweep into one store,
with one summary and no `multirun/` folder; run-level keys cannot be swept; `--cfg job` prints
the values a run would use on this device; `dry_run=true` names each point's sizes, parameters
and whether it is done."""
from __future__ import annotations

import pytest

from harness.run import cli
from harness.store import results

pytestmark = pytest.mark.slow
TINY = ["suite=smoke", "model=mamba", "suite.modes=[forward]", "suite.seq_lens=[16]", "progress=false"]


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # where Hydra's launcher would leave multirun/<date>/


def test_a_multirun_lands_in_one_store_with_one_summary(tmp_path, capsys):
    code = cli.main(["-m", *TINY, "seed=0,1", "suite.batch_size=1,2", f"results_dir={tmp_path / 'store'}"])
    out = capsys.readouterr().out
    assert code == 0
    assert "multirun, 4 combinations of seed=0,1 x suite.batch_size=1,2: 4 points" in out
    assert out.count("status: ok 4") == 1  # one sweep, one summary
    df = results.load(tmp_path / "store")
    assert sorted(zip(df["seed"], df["batch_size"])) == [(0, 1), (0, 2), (1, 1), (1, 2)]
    assert not (tmp_path / "multirun").exists() and not (tmp_path / "outputs").exists()


def test_combinations_that_share_a_point_run_it_once(tmp_path, capsys):
    assert cli.main(["-m", *TINY, "seed=3,3", f"results_dir={tmp_path / 'store'}"]) == 0
    assert "2 combinations of seed=3,3: 1 points" in capsys.readouterr().out
    assert len(results.load(tmp_path / "store")) == 1


@pytest.mark.parametrize("key", ["results_dir=a,b", "force=true,false", "isolation=chain,point", "launcher=local,slurm"])
def test_run_level_keys_cannot_be_swept(key, capsys):
    assert cli.main(["-m", *TINY, key]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot be swept: it belongs to the whole run" in err[0]


def test_cfg_job_prints_the_values_of_this_device(capsys):
    assert cli.main(["--cfg", "job", "suite=scaling"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# suite 'scaling' on cpu (fp32): 16 points; CPU profile")
    assert "device: cpu\ndtype: fp32\n" in out
    assert "seq_lens:\n  - 128\n  - 256\n  - 512\n" in out and "null" not in out.split("model:")[0]


def test_dry_run_names_sizes_parameters_and_what_is_done(tmp_path, capsys):
    store = f"results_dir={tmp_path / 'store'}"
    cli.main([*TINY, store, "dry_run=true"])
    planned = capsys.readouterr().out
    assert "mamba forward L=16: to run  [d_model=64 n_layer=2; 1.11M params]" in planned
    cli.main([*TINY, store])
    capsys.readouterr()
    cli.main([*TINY, store, "dry_run=true"])
    assert "mamba forward L=16: done before (force=true to redo)  [d_model=64 n_layer=2; 1.11M params]" in \
        capsys.readouterr().out
