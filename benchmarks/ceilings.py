"""The GPU's own ceilings, measured: the best dense BF16 GEMM throughput (cuBLAS via torch.matmul,
square sizes, as the roofline sweeps of NVIDIA's and PyTorch's GEMM benchmarks do) and the
device-memory copy bandwidth (a large tensor copied on the device: bytes read + bytes written
per second, as nvbandwidth's device-local copy counts them), next to the datasheet figures.

    python -m benchmarks.ceilings --out results/reference/h200/ceilings.json

The dashboard's "achieved vs limit" view reads every `ceilings.json` under the store it shows
(dashboard_app.charts.load_ceilings), keyed by the GPU name the file records, so a new GPU needs
this one command and no code. Medians of CUDA-event timings after a warm-up (harness.measure).
"""
from __future__ import annotations

import argparse

import torch

from harness.measure import env
from harness.measure.stats import summarize
from harness.measure.timing import time_iterations
from harness.store.atomic import write_json_atomic

# dense BF16 tensor-core TFLOP/s and HBM GB/s from NVIDIA's datasheets (SXM parts, no sparsity)
DATASHEET = {"NVIDIA H100 80GB HBM3": {"bf16_tflops": 989.4, "memory_gb_s": 3350.0},
             "NVIDIA H200": {"bf16_tflops": 989.4, "memory_gb_s": 4800.0}}


def gemm_tflops(n: int, device: torch.device, iters: int) -> dict:
    a, b = (torch.randn(n, n, device=device, dtype=torch.bfloat16) for _ in range(2))
    ms = summarize(time_iterations(lambda: a @ b, device, warmup=5, iters=iters, max_time_s=5.0))
    return {"n": n, "median_ms": ms["median"], "tflops": 2 * n**3 / (ms["median"] / 1e3) / 1e12}


def copy_gb_s(gib: float, device: torch.device, iters: int) -> dict:
    src = torch.empty(int(gib * 2**30), dtype=torch.uint8, device=device)
    dst = torch.empty_like(src)
    ms = summarize(time_iterations(lambda: dst.copy_(src), device, warmup=3, iters=iters, max_time_s=5.0))
    return {"gib": gib, "median_ms": ms["median"], "gb_s": 2 * src.numel() / (ms["median"] / 1e3) / 1e9}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[4096, 8192, 16384])
    parser.add_argument("--copy-gib", type=float, default=4.0)
    parser.add_argument("--iters", type=int, default=30)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("benchmarks.ceilings measures a GPU; none is visible here")
    device = torch.device("cuda")
    gemms = [gemm_tflops(n, device, args.iters) for n in args.sizes]
    copy = copy_gb_s(args.copy_gib, device, args.iters)
    environment = env.collect(device)
    gpu = environment.get("gpu_name")
    result = {"gpu_name": gpu, "bf16_gemm_tflops": max(g["tflops"] for g in gemms), "gemm": gemms,
              "copy_gb_s": copy["gb_s"], "copy": copy, "datasheet": DATASHEET.get(gpu, {}), "env": environment}
    write_json_atomic(args.out, result)
    print(f"{gpu}: best BF16 GEMM {result['bf16_gemm_tflops']:.0f} TF/s, device copy {copy['gb_s']:.0f} GB/s -> {args.out}")


if __name__ == "__main__":
    main()
