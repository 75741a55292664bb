"""run.py: config mistakes give one line naming the bad value and the valid ones, exit 2;
Hydra's --help and --cfg work; a one-point sweep runs end to end and prints its table."""
from __future__ import annotations

import re
import subprocess
import sys

import pytest

from harness.measure.env import REPO_ROOT
from tests.limits import limit


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """`run.py args` in a child; `timeout` is a base, scaled by tests.limits."""
    return subprocess.run([sys.executable, "run.py", *args], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=limit(timeout))


@pytest.mark.parametrize("args,message", [
    (["suite=scalng"], "unknown suite 'scalng'; valid: claims, decode, distributed, encoders, quality, regression, scaling, smoke"),
    (["model=gpt"], "unknown model 'gpt'; valid: hf, mamba, mamba2, mamba2_swarm, mamba_moe, swarm, transformer"),
    (["suite.seq_len=[1]"], "unknown key 'suite.seq_len'; valid keys of suite:"),
    (["colour=red"], "unknown key 'colour'; valid keys of the config:"),
    (["seed=abc"], "config.seed: expected int, got 'abc'"),
    (["suite=scaling", "suite.seq_lens=[1024,x]"], "suite.seq_lens[1]: expected int, got 'x'"),
    (["suite.seq_lens=[0,64]"], "suite.seq_lens has impossible lengths [0]"),
    (["suite.batch_size=-2"], "suite.batch_size=-2 is impossible"),
    (["suite.models=[mamba,gpt]"], "unknown model 'gpt'; valid: hf, mamba, mamba2"),
    (["device=tpu"], "device='tpu'; valid: auto, cpu, cuda, cuda:N"),
    (["dtype=int3"], "dtype='int3'; valid: auto, fp32, bf16, fp16"),
    (["model=mamba", "model.d_model=-8"], "model[mamba].d_model=-8 is impossible"),
    (["suite.modes=[forward,backward]"], "suite.modes has ['backward']; valid: forward, train"),
    (["suite.seq_lens=[1,"], "cannot parse overrides"),
    (["results_dir="], "results_dir is empty"),
    (["suite=smoke", "~suite"], "~suite: a config group cannot be deleted"),
    (["suite=[smoke,scaling]"], "unknown suite ['smoke', 'scaling']; valid:"),
    (["isolation=thread"], "isolation='thread'; valid: chain, point"),
    (["frobnicate"], "unknown command 'frobnicate'; valid: compare, claims, corpus"),
])
def test_config_errors_are_one_line_exit_2(args, message):
    out = run_cli(*args)
    assert out.returncode == 2, out.stderr
    assert out.stderr.startswith("error: ") and message in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr


def test_config_errors_with_hydra_flags_are_one_line_too():
    out = run_cli("suite=scalng", "--cfg", "job")
    assert out.returncode == 2 and out.stderr.strip() == "error: unknown suite 'scalng'; valid: claims, decode, distributed, encoders, quality, regression, scaling, smoke"


def test_cuda_request_on_a_cpu_machine_is_refused():
    import torch
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    out = run_cli("device=cuda")
    assert out.returncode == 2 and "no CUDA device is visible" in out.stderr


def test_help_lists_commands_suites_models_and_exit_codes_and_cfg_job_works():
    help_out = run_cli("--help")
    assert help_out.returncode == 0
    for word in ("compare", "claims", "corpus", "suite=<name>", "exit codes:"):
        assert word in help_out.stdout
    for suite in ("claims", "decode", "distributed", "encoders", "quality", "regression", "scaling", "smoke"):
        assert f"\n  {suite} " in help_out.stdout
    assert "hf, mamba, mamba2, mamba2_swarm, mamba_moe, swarm, transformer, transformer_eager, transformer_swarm" in help_out.stdout
    cfg = run_cli("suite=scaling", "suite.seq_lens=[1024,4096]", "--cfg", "job")
    assert cfg.returncode == 0
    assert "seq_lens:\n  - 1024\n  - 4096" in cfg.stdout


@pytest.mark.slow
def test_one_point_sweep_end_to_end(tmp_path):
    args = ["suite=smoke", "model=mamba", "suite.seq_lens=[16]", "suite.modes=[forward]",
            f"results_dir={tmp_path}", "progress=false"]
    out = run_cli(*args)
    assert out.returncode == 0, out.stderr
    assert "suite 'smoke' on cpu (fp32): 1 points" in out.stdout
    assert re.search(r"mamba\s+forward\s+2\s+16\s+ok", out.stdout) and "reference" in out.stdout
    assert len(list((tmp_path / "smoke").glob("*.json"))) == 1
    again = run_cli(*args)
    assert "done before" in again.stdout
