"""Run one point in a fresh Python process, in its own process group, under a timeout.

A fresh interpreter per point (as optimum-benchmark's `process` launcher) keeps CUDA state,
allocator caches and compiled kernels of one point out of the next. `start_new_session=True`
makes the child a process-group leader, so a timeout kills everything it started (compile
workers, data loaders) with one killpg.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness.measure.env import REPO_ROOT

STDERR_TAIL_CHARS = 4000


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def run_isolated(point: dict, timeout_s: float, env: dict | None = None) -> dict:
    """Run `point` in a child; returns {status, error, payload, overhead_s, wall_s}."""
    with tempfile.TemporaryDirectory(prefix="swarm-bench-point-") as tmp:
        request, result, log = Path(tmp, "request.json"), Path(tmp, "result.json"), Path(tmp, "child.log")
        request.write_text(json.dumps({"point": point, "spawned_at": time.time()}))
        t0 = time.perf_counter()
        with open(log, "wb") as log_file:
            proc = subprocess.Popen([sys.executable, "-m", "harness.run.worker", str(request), str(result)],
                                    cwd=REPO_ROOT, stdout=log_file, stderr=subprocess.STDOUT,
                                    start_new_session=True, env={**os.environ, **(env or {})})
            try:
                proc.wait(timeout=timeout_s)
                timed_out = False
            except subprocess.TimeoutExpired:
                _kill_group(proc)
                timed_out = True
            except BaseException:  # Ctrl-C or an error in the parent: the child must not linger
                _kill_group(proc)
                raise
            # the child may have left processes in its group; none may outlive the point
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        wall_s = time.perf_counter() - t0
        output_tail = log.read_text(errors="replace")[-STDERR_TAIL_CHARS:]
        if timed_out:
            return {"status": "timeout", "error": f"no result after {timeout_s:g} s; process group killed\n"
                    + output_tail, "payload": {}, "overhead_s": {}, "wall_s": wall_s}
        if not result.exists():
            code = proc.returncode
            how = f"killed by signal {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
            return {"status": "crashed", "error": f"child process died ({how}) without a result\n" + output_tail,
                    "payload": {}, "overhead_s": {}, "wall_s": wall_s}
        outcome = json.loads(result.read_text())
        outcome["wall_s"] = wall_s
        return outcome
