"""How much faster a sweep finishes over every GPU of the host (launcher=local_gpus) than on
one GPU (launcher=local): the same points, each in its own store, wall time of the whole run.

    python -m benchmarks.multi_gpu_sweep --out results/reference/multi_gpu/sweep_timing.json

The points (suite=encoders, forward, a few N and k) are short, so the per-point process
overhead dominates, as it does in real sweeps; the ratio is what the launcher buys.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from harness.measure import env as env_mod
from harness.run import launchers
from harness.store import results

POINTS = ["suite=encoders", "suite.n_encoders=[10,100,500,1000]", "suite.top_k=[1,10]", "suite.modes=[forward]",
          "suite.baselines=[]", "suite.loop_n_encoders=[]", "progress=false"]


def timed_sweep(launcher: str, store: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "run.py", *POINTS, f"launcher={launcher}", f"results_dir={store}"], check=True,
                   cwd=env_mod.REPO_ROOT)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        one, many = Path(tmp, "one_gpu"), Path(tmp, "all_gpus")
        single_s = timed_sweep("local", one)
        parallel_s = timed_sweep("local_gpus", many)
        runs = {name: results.load(store) for name, store in (("one_gpu", one), ("all_gpus", many))}
    summary = {
        "gpus": launchers.visible_gpus(), "points": POINTS, "single_gpu_s": single_s, "all_gpus_s": parallel_s,
        "speedup": single_s / parallel_s,
        "per_point": {name: df[["model.n_encoders", "model.top_k", "status", "latency_ms_p50", "gpu_uuid",
                                "overhead_wall_s"]].to_dict("records") for name, df in runs.items()},
        "env": env_mod.collect(torch.device("cuda", 0) if torch.cuda.is_available() else torch.device("cpu")),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(summary, indent=1, default=str))
    print(f"one GPU {single_s:.1f} s, {len(summary['gpus'])} GPUs {parallel_s:.1f} s: {summary['speedup']:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
