"""The CPU gate: hot-path medians (benchmarks/test_hot_paths.py, pytest-benchmark) against the
baseline of this machine class, with a verdict that tells a regression from a loaded machine.

    python -m benchmarks.cpu_gate            # compare; exit 1 only on a regression
    python -m benchmarks.cpu_gate --save     # record this machine class's baseline

A machine class is the CPU's vendor, family and model and the number of CPUs
(`AuthenticAMD-f25-m17-2cpu`); its baseline is `benchmarks/baseline/<class>.json`, in
pytest-benchmark's JSON format. A class without a baseline is not gated, and the gate says so.
Each pass times every benchmark and also measures how much of the machine's CPU other
processes used meanwhile (/proc/stat minus this pass's own CPU time). A median more than
`--threshold` (100%) over its baseline is a regression. Up to `--passes` passes: any clean pass
passes the gate; a regression fails it only when every pass saw one and at least one of those
passes ran on a quiet machine (others used under 25% of the CPU); when every failing pass ran
loaded, the verdict is "inconclusive" and the gate does not fail on what may be noise.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINES = ROOT / "benchmarks" / "baseline"
PYTEST_ARGS = ["benchmarks/test_hot_paths.py", "-q", "-p", "no:cacheprovider", "--benchmark-min-rounds=20",
               "--benchmark-warmup=on", "--benchmark-columns=median,iqr,rounds"]
QUIET_SHARE = 0.25  # others' share of the CPU under which a pass counts as quiet


def machine_class() -> str:
    fields: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    vendor = fields.get("vendor_id") or os.uname().machine
    return f"{vendor}-f{fields.get('cpu family', '?')}-m{fields.get('model', '?')}-{os.cpu_count()}cpu"


def _busy_jiffies() -> tuple[int, int] | None:
    """(busy, total) CPU time of the whole machine so far, in clock ticks."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return None
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return sum(values) - idle, sum(values)


def run_pass(json_out: Path) -> tuple[int, str, float | None]:
    """One pytest-benchmark run: (exit code, output, others' share of the CPU meanwhile)."""
    before, own_before = _busy_jiffies(), resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run([sys.executable, "-m", "pytest", *PYTEST_ARGS, f"--benchmark-json={json_out}"],
                          cwd=ROOT, capture_output=True, text=True)
    after, own_after = _busy_jiffies(), resource.getrusage(resource.RUSAGE_CHILDREN)
    share = None
    if before and after and after[1] > before[1]:
        ticks = os.sysconf("SC_CLK_TCK")
        own = (own_after.ru_utime + own_after.ru_stime - own_before.ru_utime - own_before.ru_stime) * ticks
        share = max(0.0, (after[0] - before[0] - own) / (after[1] - before[1]))
    return proc.returncode, proc.stdout + proc.stderr, share


def medians(path: Path) -> dict[str, float]:
    return {b["name"]: b["stats"]["median"] for b in json.loads(path.read_text())["benchmarks"]}


def regressions(now: dict[str, float], base: dict[str, float], threshold: float) -> list[str]:
    """One line per benchmark over its limit, or missing."""
    lines = []
    for name, median in sorted(base.items()):
        if name not in now:
            lines.append(f"  MISSING {name}: in the baseline, not measured now")
        elif now[name] > (1 + threshold) * median:
            lines.append(f"  REGRESSED {name}: median {now[name] * 1e3:.2f} ms vs {median * 1e3:.2f} ms baseline "
                         f"(+{100 * (now[name] / median - 1):.0f}%, limit +{100 * threshold:.0f}%)")
    return lines


def _load() -> str:
    return f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs"


def save(klass: str) -> int:
    BASELINES.mkdir(parents=True, exist_ok=True)
    path = BASELINES / f"{klass}.json"
    code, output, share = run_pass(path)
    if code != 0:
        print(output[-3000:])
        print(f"cpu gate: benchmarks failed (exit {code}); no baseline saved")
        return 1
    print(f"cpu gate: saved {path.relative_to(ROOT)} ({len(medians(path))} benchmarks; others used "
          f"{100 * (share or 0):.0f}% of the CPU meanwhile, {_load()})")
    return 0


def gate(klass: str, threshold: float, passes: int) -> int:
    path = BASELINES / f"{klass}.json"
    if not path.exists():
        known = sorted(p.stem for p in BASELINES.glob("*.json")) or ["none"]
        print(f"cpu gate: NOT GATED: no baseline for this machine class {klass} (baselines: {', '.join(known)}); "
              "record one on this class with `benchmarks/cpu_gate.sh --save` and commit it")
        return 0
    base = medians(path)
    failing_quiet = failing_loaded = 0
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(1, passes + 1):
            out = Path(tmp, f"pass{n}.json")
            code, output, share = run_pass(out)
            if not out.exists():
                print(output[-3000:])
                print(f"cpu gate: FAILED: the benchmarks did not run (exit {code})")
                return 1
            lines = regressions(medians(out), base, threshold)
            quiet = share is not None and share < QUIET_SHARE
            where = f"others used {100 * share:.0f}% of the CPU" if share is not None else "CPU use unknown"
            print(f"cpu gate: pass {n}/{passes} against {path.name}: {len(base)} benchmarks, {len(lines)} over the "
                  f"limit; {where} ({'quiet' if quiet else 'loaded'}; {_load()})")
            if not lines:
                print("cpu gate: PASSED")
                return 0
            print("\n".join(lines))
            failing_quiet += quiet
            failing_loaded += not quiet
            time.sleep(5)  # let a transient neighbour pass
    if failing_quiet:
        print(f"cpu gate: FAILED: a median regressed on every pass, {failing_quiet} of them on a quiet machine")
        return 1
    print(f"cpu gate: INCONCLUSIVE: every pass ran while other processes loaded the machine (over "
          f"{100 * QUIET_SHARE:.0f}% of its CPU); not failing on what may be their noise. Rerun on a quiet machine.")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--save", action="store_true", help="record this machine class's baseline")
    parser.add_argument("--threshold", type=float, default=1.0, help="allowed slowdown of a median (1.0 = +100%%)")
    parser.add_argument("--passes", type=int, default=3)
    args = parser.parse_args(argv)
    klass = machine_class()
    return save(klass) if args.save else gate(klass, args.threshold, args.passes)


if __name__ == "__main__":
    raise SystemExit(main())
