"""How long whole sweeps take, and how much of it is measurement: each suite is run with the
real command line (`python run.py suite=<name> ...`, default settings for this device) into a
fresh store, timed end to end; then its records give the per-point overhead (wall minus
measurement) and the statuses.

    python -m benchmarks.sweep_cost --suites smoke scaling regression --out sweep_cost.json
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness.measure.env import PACKAGE_ROOT
from harness.store import results


def cost(suite: str, store: Path, extra: list[str]) -> dict:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "run.py", f"suite={suite}", f"results_dir={store}", "progress=false", *extra],
                          cwd=PACKAGE_ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    records = [r for _, r in results.iter_records(store)]
    overheads = [r["overhead_s"]["wall"] - r["overhead_s"]["measure"] for r in records
                 if (r.get("overhead_s") or {}).get("wall") and (r.get("overhead_s") or {}).get("measure")]
    statuses: dict[str, int] = {}
    for r in records:
        statuses[r["status"]] = statuses.get(r["status"], 0) + 1
    env = next((r["env"] for r in records if r.get("env")), {})
    return {"suite": suite, "args": extra, "exit_code": proc.returncode, "wall_s": wall, "points": len(records),
            "statuses": statuses, "device": env.get("gpu_name") or f"cpu x{env.get('cpu_count')}",
            "isolation": sorted({(r.get("isolation") or {}).get("mode", "point") for r in records}),
            "median_overhead_s": statistics.median(overheads) if overheads else None,
            "max_overhead_s": max(overheads) if overheads else None,
            "measurement_s": sum(r["overhead_s"]["measure"] for r in records if (r.get("overhead_s") or {}).get("measure")),
            "output_tail": proc.stdout[-1500:] + proc.stderr[-1500:]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suites", nargs="+", default=["smoke"])
    parser.add_argument("--out", default="results/bench/sweep_cost.json")
    parser.add_argument("--keep", default=None, help="keep the stores under this directory (default: a temp dir)")
    parser.add_argument("extra", nargs="*", help="overrides passed to every suite, e.g. isolation=point")
    args = parser.parse_args(argv)
    root = Path(args.keep or tempfile.mkdtemp(prefix="swarm-bench-cost-"))
    rows = []
    for i, suite in enumerate(args.suites):  # a suite named twice runs twice, into its own store
        row = cost(suite, root / f"{i}-{suite}", args.extra)
        rows.append(row)
        print(f"{suite}: {row['points']} points in {row['wall_s']:.1f} s ({row['statuses']}), median overhead "
              f"{row['median_overhead_s']} s, exit {row['exit_code']}", flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
