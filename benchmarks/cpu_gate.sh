#!/usr/bin/env bash
# CPU hot-path benchmarks against the committed baseline (pytest-benchmark); fails when a
# median is more than 100% slower than benchmarks/baseline/<machine>/0001_ci-baseline.json.
# Re-baseline on the CI machine type with:  benchmarks/cpu_gate.sh --save
set -euo pipefail
cd "$(dirname "$0")/.."
opts=(-q -p no:cacheprovider --benchmark-min-rounds=20 --benchmark-warmup=on
      --benchmark-columns=median,iqr,rounds --benchmark-storage=file://benchmarks/baseline)
if [[ "${1:-}" == "--save" ]]; then
  exec python -m pytest benchmarks/test_hot_paths.py "${opts[@]}" --benchmark-save=ci-baseline
fi
exec python -m pytest benchmarks/test_hot_paths.py "${opts[@]}" --benchmark-compare=0001 --benchmark-compare-fail=median:100%
