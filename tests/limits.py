"""Every child-process time limit of the tests, from one setting.

`limit(seconds)` scales a generous base by `SCALE`: the environment's
`SWARM_BENCH_TEST_TIMEOUT_SCALE` (default 1) times how loaded the machine is when the tests
start (the 1-minute load average per core, at least 1, at most 4). The limits catch hangs;
they never measure speed. A timeout that is itself the behaviour under test (a point that hangs
until its `timeout_s`) is not scaled: it is how long the test waits on purpose.
"""
from __future__ import annotations

import os

LOAD_FACTOR = min(4.0, max(1.0, os.getloadavg()[0] / (os.cpu_count() or 1)))
SCALE = float(os.environ.get("SWARM_BENCH_TEST_TIMEOUT_SCALE", "1")) * LOAD_FACTOR


def limit(seconds: float) -> float:
    return seconds * SCALE
