"""What a point costs beyond its measurement, and whether a warm worker measures the same.

One fixed set of `suite=scaling` points (mamba, transformer, swarm, mamba_moe; forward and
train; two lengths) runs `--repeats` times under each isolation, interleaved (point, chain,
chain, point, ...), each repeat a separate process per point (isolation=point) or one warm
worker over all points (isolation=chain). Per point and run: wall, measurement, each overhead
phase, latency median with CI, peak allocated. Then the agreement per point: the latency
ratio chain/point with a process-level CI (harness.analysis.compare, the gate's own interval)
and the peak-allocated difference.

    python -m benchmarks.overhead --out results/reference/bench/overhead_h200.json
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import time
from pathlib import Path

from harness.analysis import compare
from harness.run import runner
from harness.run.config import compose_config, to_container
from harness.run.sweep import build, resolve_device, resolve_dtype
from harness.store import results
from harness.store.points import Point
from suites.common import RunContext

MODELS = "[mamba,transformer,swarm,mamba_moe]"
MODES = "[forward,train]"
LENGTHS = {"cuda": "[2048,8192]", "cpu": "[64,128]"}
AGREE_RTOL = 0.03  # a ratio within +-3% agrees even when its CI excludes 1
MEM_RTOL, MEM_ATOL_MB = 0.01, 1.0


def benchmark_points(device: str, lengths: str | None = None, models: str | None = None,
                     modes: str | None = None) -> list[Point]:
    kind = device.split(":")[0]
    overrides = ["suite=scaling", f"suite.models={models or MODELS}", f"suite.modes={modes or MODES}",
                 f"suite.seq_lens={lengths or LENGTHS[kind]}",
                 "suite.extend_seq_lens=[]",
                 "suite.energy_min_s=0.0", "suite.match=none", "suite.iters=10", "suite.max_time_s=1.0"]
    ctx = RunContext(device=device, dtype=resolve_dtype("auto", device), seed=0, vocab_size=16384, model_choice=None)
    return build(to_container(compose_config(overrides)), ctx)[3]


def repeated(points: list[Point], repeat: int) -> list[Point]:
    """The points as distinct records of repeat `repeat` (compare pools repeats per point)."""
    return [dataclasses.replace(p, config={**p.config, "repeat": repeat}, stop_group=None) for p in points]


def per_run_row(record: dict) -> dict:
    overhead = record.get("overhead_s") or {}
    latency = record.get("latency_ms") or {}
    measure = overhead.get("measure")
    return {"status": record["status"], "wall_s": overhead.get("wall"), "measure_s": measure,
            "overhead_s": (overhead["wall"] - measure) if overhead.get("wall") and measure else None,
            "phases_s": {k: overhead.get(k) for k in ("process_start", "import", "build", "first_call", "warmup")},
            "latency_ms_median": latency.get("median"), "latency_ms_ci": [latency.get("ci_lo"), latency.get("ci_hi")],
            "peak_alloc_mb": (record.get("memory_mb") or {}).get("peak_alloc"),
            "worker_point": (record.get("isolation") or {}).get("worker_point")}


def agreement(point_records: list[dict], chain_records: list[dict]) -> dict:
    settings = compare.GateSettings()
    base = [r["samples_ms"] for r in point_records if r["status"] == "ok"]
    cand = [r["samples_ms"] for r in chain_records if r["status"] == "ok"]
    if not base or not cand:
        return {"agrees": False, "why": "a side has no ok run"}
    import numpy as np

    latency = compare.latency_comparison([np.asarray(b) for b in base], [np.asarray(c) for c in cand], settings)
    lo, hi = latency["ci"]
    peaks = [[r["memory_mb"].get("peak_alloc") for r in side if r["status"] == "ok"] for side in (point_records,
                                                                                               chain_records)]
    peak_point, peak_chain = (statistics.median(p) if all(v is not None for v in p) and p else None for p in peaks)
    mem_ok = peak_point is None or abs(peak_chain - peak_point) <= MEM_RTOL * peak_point + MEM_ATOL_MB
    latency_ok = lo <= 1 <= hi or (1 - AGREE_RTOL <= lo and hi <= 1 + AGREE_RTOL)
    return {"latency_ratio": latency["ratio"], "latency_ci": [lo, hi], "interval": latency["interval"],
            "processes": latency["processes"], "peak_alloc_mb": [peak_point, peak_chain],
            "latency_agrees": latency_ok, "memory_agrees": mem_ok, "agrees": latency_ok and mem_ok}


def run(out: Path, repeats: int, device: str, lengths: str | None = None, models: str | None = None,
        modes: str | None = None) -> dict:
    points = benchmark_points(device, lengths, models, modes)
    stores = {mode: out.parent / f"{out.stem}-{mode}" for mode in ("point", "chain")}
    wall = {"point": 0.0, "chain": 0.0}
    for repeat in range(repeats):
        for mode in (("point", "chain") if repeat % 2 == 0 else ("chain", "point")):
            t0 = time.perf_counter()
            runner.run_sweep(repeated(points, repeat), store=str(stores[mode]), force=True, progress=False,
                             isolation=mode)
            wall[mode] += time.perf_counter() - t0
    records = {mode: [r for _, r in results.iter_records(store)] for mode, store in stores.items()}
    rows = []
    for point in points:
        key = compare.point_key({"config": point.config})
        side = {mode: sorted((r for r in records[mode] if compare.point_key(r) == key),
                             key=lambda r: r["config"]["repeat"]) for mode in records}
        rows.append({"label": point.label, "model": point.config["model"], "mode": point.config["mode"],
                     "seq_len": point.config["seq_len"], "runs": {m: [per_run_row(r) for r in side[m]] for m in side},
                     "agreement": agreement(side["point"], side["chain"])})
    overheads = {mode: [run["overhead_s"] for row in rows for run in row["runs"][mode] if run["overhead_s"] is not None]
                 for mode in stores}
    env = next((r["env"] for r in records["chain"] if r.get("env")), {})
    return {
        "benchmark": "per-point overhead and agreement, isolation=point vs chain",
        "device": env.get("gpu_name") or "cpu", "dtype": points[0].config["dtype"], "repeats": repeats,
        "git_sha": env.get("git_sha"), "points": len(points),
        "median_overhead_s": {m: statistics.median(v) if v else None for m, v in overheads.items()},
        "sweep_wall_s": wall, "all_agree": all(r["agreement"]["agrees"] for r in rows), "rows": rows,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results/bench/overhead.json")
    parser.add_argument("--repeats", type=int, default=2, help="processes per point and isolation (interleaved)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--lengths", default=None, help="e.g. [8192]; default: two per device")
    parser.add_argument("--models", default=None, help=f"a subset, e.g. [mamba,swarm]; default {MODELS}")
    parser.add_argument("--modes", default=None, help=f"default {MODES}")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    report = run(out, args.repeats, resolve_device(args.device), args.lengths, args.models, args.modes)
    out.write_text(json.dumps(report, indent=1))
    print(f"{report['device']}: median overhead per point {report['median_overhead_s']}; "
          f"sweep wall {report['sweep_wall_s']}; all agree: {report['all_agree']}")
    for row in report["rows"]:
        a = row["agreement"]
        print(f"  {row['label']:<32} ratio {a.get('latency_ratio', float('nan')):.3f} "
              f"CI {a.get('latency_ci')} peak {a.get('peak_alloc_mb')} agrees {a['agrees']}")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
