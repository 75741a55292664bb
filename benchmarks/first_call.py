"""Where a fresh process's start goes on a GPU: each first-time cost timed apart.

Each probe runs in a new interpreter (`--probe`) and times, in order and synchronised: import
torch; the CUDA context; the first cuBLAS GEMM; the first SDPA call; importing the task module
(models, trackers); importing mamba-ssm and causal-conv1d; the first causal-conv1d call; the
first selective scan; then `measure_model` (the task of a sweep point) on smoke-size Mamba
forward, Mamba train and Transformer forward points, twice each, with the phases its
record would carry (build, first_call). The probe runs `--runs` times in a row with one
persistent Triton/inductor cache, so run 1 shows a cold machine and later runs what the
persistent caches save. The answer to "what is the first call made of" in the overhead issue.

    python -m benchmarks.first_call --out results/reference/bench/first_call_h200.json
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _stage(timings: dict, name: str, fn) -> object:
    t0 = time.perf_counter()
    out = fn()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        torch.cuda.synchronize()
    timings[name] = time.perf_counter() - t0
    return out


def _smoke_point(model: str, mode: str) -> dict:
    from harness.run.config import compose_config, to_container
    from harness.run.sweep import build, resolve_dtype
    from suites.common import RunContext

    ctx = RunContext(device="cuda", dtype=resolve_dtype("auto", "cuda"), seed=0, vocab_size=16384, model_choice=None)
    points = build(to_container(compose_config(["suite=smoke", f"suite.models=[{model}]", f"suite.modes=[{mode}]",
                                                "suite.seq_lens=[128]", "suite.energy_min_s=0.0"])), ctx)[3]
    return points[0].config


def probe() -> dict:
    """One fresh process's first-time costs (seconds), in the order they are paid."""
    t: dict = {}
    torch = _stage(t, "import_torch", lambda: __import__("torch"))
    _stage(t, "cuda_context", lambda: torch.zeros(1, device="cuda"))
    a = torch.randn(2048, 2048, device="cuda", dtype=torch.bfloat16)
    _stage(t, "first_cublas_gemm", lambda: a @ a)
    q = torch.randn(2, 8, 512, 64, device="cuda", dtype=torch.bfloat16)
    _stage(t, "first_sdpa", lambda: torch.nn.functional.scaled_dot_product_attention(q, q, q, is_causal=True))
    _stage(t, "import_task_module", lambda: __import__("harness.tasks.forward_train"))
    ssi = _stage(t, "import_mamba_ssm", lambda: __import__("mamba_ssm.ops.selective_scan_interface",
                                                             fromlist=["x"]))
    conv = _stage(t, "import_causal_conv1d", lambda: __import__("causal_conv1d", fromlist=["x"]))
    d, length, n = 256, 128, 16
    x = torch.randn(2, d, length, device="cuda", dtype=torch.bfloat16)
    w = torch.randn(d, 4, device="cuda", dtype=torch.bfloat16)
    _stage(t, "first_causal_conv1d", lambda: conv.causal_conv1d_fn(x, w, None, activation="silu"))
    delta = torch.rand(2, d, length, device="cuda", dtype=torch.bfloat16)
    A = -torch.rand(d, n, device="cuda")
    B = torch.randn(2, n, length, device="cuda", dtype=torch.bfloat16)
    _stage(t, "first_selective_scan", lambda: ssi.selective_scan_fn(x, delta, A, B, B, None, None, None, True))
    from harness.tasks.forward_train import measure_model
    for model, mode in (("mamba", "forward"), ("mamba", "train"), ("transformer", "forward")):
        point = _smoke_point(model, mode)
        for attempt in (1, 2):
            payload = _stage(t, f"{model}_{mode}_point{attempt}", lambda: measure_model(point))
            phases = payload["phases_s"]
            t[f"{model}_{mode}_point{attempt}_phases"] = {k: phases.get(k) for k in ("build", "first_call", "measure")}
    return t


def run(runs: int) -> dict:
    cache = tempfile.mkdtemp(prefix="swarm-bench-first-call-")
    env = {**os.environ, "XDG_CACHE_HOME": cache}
    rows = []
    for i in range(runs):
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "benchmarks.first_call", "--probe"], env=env,
                             capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
        wall = time.perf_counter() - t0
        if out.returncode != 0:
            rows.append({"run": i + 1, "wall_s": wall, "error": out.stderr[-3000:]})
            continue
        rows.append({"run": i + 1, "wall_s": wall, "stages_s": json.loads(out.stdout.strip().splitlines()[-1])})
    import torch

    return {"benchmark": "first-time costs of a fresh process, cold then with persistent compile caches",
            "device": torch.cuda.get_device_name(0), "torch": torch.__version__,
            "cuda_module_loading": os.environ.get("CUDA_MODULE_LOADING", "(unset: torch sets LAZY)"),
            "runs": rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--probe", action="store_true", help="(internal) one fresh process's stages, as JSON")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", default="results/bench/first_call.json")
    args = parser.parse_args(argv)
    if args.probe:
        print(json.dumps(probe()))
        return 0
    report = run(args.runs)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1))
    for row in report["runs"]:
        print(f"run {row['run']}: wall {row['wall_s']:.2f} s", row.get("error") or "")
        for name, value in (row.get("stages_s") or {}).items():
            print(f"  {name:<32} {value if isinstance(value, dict) else round(value, 3)}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
