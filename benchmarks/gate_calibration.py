"""How trustworthy is the regression gate on a machine? Given several runs of
`suite=regression` from one machine, compare every ordered pair (false alarms: every flag is
one, since nothing changed), then plant slowdowns into the candidate's latency samples and
count how often each is caught (the smallest slowdown the gate reliably detects).

    python -m benchmarks.gate_calibration runs/a runs/b runs/c --out calibration.json
"""
from __future__ import annotations

import argparse
import copy
import itertools
import json
from pathlib import Path

from harness.analysis import compare

PLANTED = (1.05, 1.10, 1.15, 1.20, 1.30, 1.50)


def slowed(records: list[dict], factor: float) -> list[dict]:
    out = copy.deepcopy(records)
    for record in out:
        if record.get("samples_ms"):
            record["samples_ms"] = [v * factor for v in record["samples_ms"]]
    return out


def calibrate(run_dirs: list[str], settings: compare.GateSettings) -> dict:
    runs = {d: compare.load_run(d) for d in run_dirs}
    pairs = list(itertools.permutations(run_dirs, 2))
    false_alarms, timing_points = [], 0
    detected = {f: 0 for f in PLANTED}
    for base, cand in pairs:
        result = compare.compare_runs(runs[base], runs[cand], settings)
        false_alarms += [{"baseline": base, "candidate": cand, "point": p["label"], "verdict": p["verdict"]}
                         for p in result["points"] if p["verdict"] in compare.FAILING]
        timed = [p for p in result["points"] if p.get("latency")]
        timing_points += len(timed)
        for factor in PLANTED:
            planted = compare.compare_runs(runs[base], slowed(runs[cand], factor), settings)
            detected[factor] += sum(p["verdict"] == "regressed" for p in planted["points"] if p.get("latency"))
    return {
        "runs": run_dirs, "ordered_pairs": len(pairs), "settings": settings.__dict__,
        "points_compared": sum(len(compare.group_points(runs[b])) for b, _ in pairs),
        "false_alarms": false_alarms,
        "detection_rate": {f"{f:.2f}": detected[f] / timing_points for f in PLANTED},
        "timing_point_comparisons": timing_points,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="results directories of suite=regression runs from one machine")
    parser.add_argument("--threshold", type=float, default=compare.GateSettings.threshold)
    parser.add_argument("--out", help="write the calibration JSON here")
    args = parser.parse_args()
    if len(args.runs) < 2:
        parser.error("need at least two runs")
    report = calibrate(args.runs, compare.GateSettings(threshold=args.threshold))
    print(f"{report['ordered_pairs']} ordered pairs, {report['points_compared']} point comparisons: "
          f"{len(report['false_alarms'])} false alarms")
    for alarm in report["false_alarms"]:
        print(f"  false alarm: {alarm['point']} ({alarm['verdict']}) {alarm['baseline']} -> {alarm['candidate']}")
    print("planted slowdown -> share of timing points flagged: "
          + ", ".join(f"{f}x {rate:.0%}" for f, rate in report["detection_rate"].items()))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, indent=1))
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
