#!/usr/bin/env bash
# The CPU gate (see benchmarks/cpu_gate.py): hot-path medians against this machine class's
# baseline in benchmarks/baseline/<class>.json; exit 1 only on a regression seen on every
# pass, at least one of them on a quiet machine.
#   benchmarks/cpu_gate.sh           compare
#   benchmarks/cpu_gate.sh --save    record the baseline of this machine class
set -euo pipefail
cd "$(dirname "$0")/.."
exec python -m benchmarks.cpu_gate "$@"
