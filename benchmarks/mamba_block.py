"""Our Mamba block against upstream `mamba_ssm.Mamba`, forward, same shape and dtype.

    python -m benchmarks.mamba_block --out results/reference/bench/mamba_block.json

Proves the fused path is the one that runs: with the same weights both blocks should take
the same time (target: ours within 1.10x of upstream at B=8, L=2048, d_model=768, bf16).
The two are timed in alternating rounds so clock drift hits both alike; each round is
harness.measure.timing (warm-up, then per-iteration CUDA events).
"""
from __future__ import annotations

import argparse

import torch

from harness.measure import env
from harness.measure.stats import summarize
from harness.measure.timing import time_iterations
from harness.store.atomic import write_json_atomic
from models.mamba_block import MambaBlock


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq-len", type=int, default=2048)
    parser.add_argument("--d-model", type=int, default=768)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--iters", type=int, default=50)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    from mamba_ssm import Mamba

    device, dtype = torch.device("cuda"), torch.bfloat16
    ours = MambaBlock(args.d_model).to(device, dtype)
    upstream = Mamba(d_model=args.d_model).to(device, dtype)
    upstream.load_state_dict(ours.state_dict())
    x = torch.randn(args.batch, args.seq_len, args.d_model, device=device, dtype=dtype)
    samples = {"ours": [], "upstream": []}
    with torch.inference_mode():
        for _ in range(args.rounds):
            for name, block in (("ours", ours), ("upstream", upstream)):
                samples[name] += time_iterations(lambda: block(x), device, warmup=5, iters=args.iters, max_time_s=30)
    stats = {name: summarize(s) for name, s in samples.items()}
    result = {
        "shape": {"batch": args.batch, "seq_len": args.seq_len, "d_model": args.d_model, "dtype": "bf16"},
        "our_backend": ours.last_backend, "latency_ms": stats,
        "ratio_ours_over_upstream": stats["ours"]["median"] / stats["upstream"]["median"],
        "samples_ms": samples, "env": env.collect(device),
    }
    write_json_atomic(args.out, result)
    print(f"ours ({ours.last_backend}) {stats['ours']['median']:.3f} ms, upstream {stats['upstream']['median']:.3f} ms, "
          f"ratio {result['ratio_ours_over_upstream']:.3f}")


if __name__ == "__main__":
    main()
