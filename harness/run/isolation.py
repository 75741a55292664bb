"""Run points in child processes, each in its own process group, under a timeout.

Two isolation modes (`isolation=` in the config; every record says which ran it):

    point   a fresh interpreter per point (optimum-benchmark's `process` launcher): imports,
            the CUDA context, kernel loading and compilation are paid by every point
    chain   a warm worker (`python -m harness.run.worker --serve`) runs point after point,
            paying those once; between points it frees the previous point's objects, empties
            the CUDA cache and resets the peak-memory statistics, so every peak stays the
            point's own. Any failure (error, oom, timeout, crash) ends the worker and the next
            point gets a fresh one. The first worker can be started before the points are
            built (`start_early`, while the parent composes and sizes models), and on a GPU a
            spare worker is started ahead (imports only, no CUDA context), so a replacement is
            ready when one ends. A point's `repeat` index (0 when absent) is its process: a
            worker serves one repeat index only, so the repeats of a point always come from
            different processes and their spread is the between-process spread.

Either way `start_new_session=True` makes the child a process-group leader, so a timeout
kills everything it started (compile workers, data loaders) with one killpg, and the parent
records every status: a child that dies without a result is `crashed`, one that outlives
its timeout is `timeout`, one the kernel's OOM killer ended is `oom` (harness.run.oom).
A child dies with its parent (harness.run.worker.die_with_parent),
even when the parent is SIGKILLed; the temp folders such a parent leaves are removed by the
next run.
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness.measure.env import PACKAGE_ROOT, compile_cache_env
from harness.run import oom, process_tree

STDERR_TAIL_CHARS = 4000
MODES = ("chain", "point")
POLL_S = 0.005  # how often the parent looks for a warm worker's result
TEMP_PREFIX = "swarm-bench-"  # + point|worker-<parent pid>-: a dead parent's leftovers are found by pid
COMMON_TASK = "harness.tasks.forward_train"  # what a worker started before its points are known imports
KERNEL_MODULES = ("mamba_ssm.ops.selective_scan_interface", "causal_conv1d")  # imported ahead where installed


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def clean_stale_temp_dirs(root: str | None = None) -> list[str]:
    """Remove the request/result folders that a parent killed by SIGKILL left behind (their
    children died with it: see harness.run.worker.die_with_parent); returns what was removed."""
    removed = []
    for path in Path(root or tempfile.gettempdir()).glob(f"{TEMP_PREFIX}*-*-*"):
        kind, _, rest = path.name[len(TEMP_PREFIX):].partition("-")
        pid = rest.partition("-")[0]
        if kind in ("point", "worker") and pid.isdigit() and not _pid_alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(str(path))
    return removed


def _kill_group(proc: subprocess.Popen) -> None:
    """Kill the child, its process group and every descendant that left the group."""
    process_tree.kill_descendants(proc.pid)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def _spawn(args: list[str], log_file, env: dict | None, stdin=None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "harness.run.worker", *args], cwd=PACKAGE_ROOT,
                            stdin=stdin, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True,
                            env={**os.environ, **compile_cache_env(), **(env or {})})


def _failure(status: str, why: str, output_tail: str, wall_s: float, isolation: dict) -> dict:
    return {"status": status, "error": f"{why}\n{output_tail}", "payload": {}, "overhead_s": {}, "wall_s": wall_s,
            "isolation": isolation}


def _died(proc: subprocess.Popen) -> str:
    code = proc.returncode
    how = f"killed by signal {signal.Signals(-code).name}" if code is not None and code < 0 else f"exit code {code}"
    return f"child process died ({how}) without a result"


def _no_result(proc: subprocess.Popen, oom_before: dict, output_tail: str, wall_s: float, isolation: dict) -> dict:
    """A child that died without a result: `oom` when the kernel's OOM killer ended it
    (harness.run.oom), else `crashed`."""
    reason = oom.oom_kill_reason(oom_before, proc.returncode)
    if reason:
        return _failure("oom", f"{reason}; {_died(proc)}", output_tail, wall_s, isolation)
    return _failure("crashed", _died(proc), output_tail, wall_s, isolation)


def run_isolated(point: dict, timeout_s: float, env: dict | None = None) -> dict:
    """Run `point` in a fresh child; returns {status, error, payload, overhead_s, wall_s, isolation}."""
    with tempfile.TemporaryDirectory(prefix=f"{TEMP_PREFIX}point-{os.getpid()}-") as tmp:
        request, result, log = Path(tmp, "request.json"), Path(tmp, "result.json"), Path(tmp, "child.log")
        request.write_text(json.dumps({"point": point, "spawned_at": time.time()}))
        oom_before = oom.counters()
        t0 = time.perf_counter()
        with open(log, "wb") as log_file:
            proc = _spawn([str(request), str(result)], log_file, env)
            try:
                proc.wait(timeout=timeout_s)
                timed_out = False
            except subprocess.TimeoutExpired:
                _kill_group(proc)
                timed_out = True
            except BaseException:  # Ctrl-C or an error in the parent: the child must not linger
                _kill_group(proc)
                raise
            _kill_group(proc)  # the child may have left processes in its group; none may outlive the point
        wall_s = time.perf_counter() - t0
        output_tail = log.read_text(errors="replace")[-STDERR_TAIL_CHARS:]
        isolation = {"mode": "point", "worker_point": 0}
        if timed_out:
            return _failure("timeout", f"no result after {timeout_s:g} s; process group killed", output_tail, wall_s,
                            isolation)
        if not result.exists():
            return _no_result(proc, oom_before, output_tail, wall_s, isolation)
        outcome = json.loads(result.read_text())
        outcome.update(wall_s=wall_s, isolation=isolation)
        return outcome


class WarmWorker:
    """One `--serve` child: requests go in on its stdin (one JSON line each), results come back
    as files written atomically, which the parent polls for."""

    def __init__(self, env: dict | None, preload: list[str]):
        self.tmp = tempfile.TemporaryDirectory(prefix=f"{TEMP_PREFIX}worker-{os.getpid()}-")
        self.log_path = Path(self.tmp.name, "worker.log")
        self.log_file = open(self.log_path, "wb")
        self.proc = _spawn(["--serve", ",".join(preload)], self.log_file, env, stdin=subprocess.PIPE)
        self.points = 0
        self.closed = False

    def alive(self) -> bool:
        return self.proc.poll() is None

    def run(self, point: dict, timeout_s: float) -> dict:
        n = self.points
        self.points += 1
        request, result = Path(self.tmp.name, f"request-{n}.json"), Path(self.tmp.name, f"result-{n}.json")
        log_offset = self.log_path.stat().st_size
        request.write_text(json.dumps({"point": point, "spawned_at": time.time()}))
        oom_before = oom.counters()
        t0 = time.perf_counter()
        try:
            self.proc.stdin.write((json.dumps([str(request), str(result)]) + "\n").encode())
            self.proc.stdin.flush()
        except BrokenPipeError:
            pass  # it died between points: found below
        deadline = t0 + timeout_s
        isolation = {"mode": "chain", "worker_point": n}
        try:
            while not result.exists():
                if self.proc.poll() is not None:
                    return _no_result(self.proc, oom_before, self._tail(log_offset), time.perf_counter() - t0,
                                      isolation)
                if time.perf_counter() > deadline:
                    _kill_group(self.proc)
                    return _failure("timeout", f"no result after {timeout_s:g} s; process group killed",
                                    self._tail(log_offset), time.perf_counter() - t0, isolation)
                time.sleep(POLL_S)
        except BaseException:  # Ctrl-C or an error in the parent: the worker must not linger
            self.close()
            raise
        outcome = json.loads(result.read_text())
        outcome.update(wall_s=time.perf_counter() - t0, isolation=isolation)
        return outcome

    def _tail(self, offset: int) -> str:
        return self.log_path.read_bytes()[offset:].decode(errors="replace")[-STDERR_TAIL_CHARS:]

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.proc.stdin and not self.proc.stdin.closed:
            try:
                self.proc.stdin.close()
            except BrokenPipeError:
                pass
        _kill_group(self.proc)
        self.log_file.close()
        self.tmp.cleanup()


class Isolation:
    """Runs points one after another in `mode` (see the module docstring); `close()` ends any
    worker. One per chain runner: parallel launchers hold one each."""

    def __init__(self, mode: str = "chain", env: dict | None = None, worker: WarmWorker | None = None):
        """`worker`: one from `start_early` (same `env`), taken as the chain's first worker."""
        if mode not in MODES:
            raise ValueError(f"isolation={mode!r}; valid: {', '.join(MODES)}")
        self.mode, self.env = mode, env
        clean_stale_temp_dirs()
        self.worker: WarmWorker | None = worker if mode == "chain" else None
        if worker is not None and self.worker is None:
            worker.close()
        self.spare: WarmWorker | None = None
        self.worker_repeat = 0  # the repeat index the current worker serves

    def run(self, point: dict, timeout_s: float) -> dict:
        if self.mode == "point":
            return run_isolated(point, timeout_s, env=self.env)
        repeat = int(point.get("repeat") or 0)
        if self.worker is not None and (not self.worker.alive() or repeat != self.worker_repeat):
            self.worker.close()  # it ended between points, or this point is another process's repeat
            self.worker = None
        self.worker_repeat = repeat
        if self.worker is None:
            spare, self.spare = self.spare, None
            if spare is not None and not spare.alive():
                spare.close()
                spare = None
            self.worker = spare or WarmWorker(self.env, _preload(point))
        if self.spare is None and str(point.get("device", "")).startswith("cuda"):
            self.spare = WarmWorker(self.env, _preload(point))  # imports while this point measures
        outcome = self.worker.run(point, timeout_s)
        if outcome["status"] != "ok" or not self.worker.alive():  # any failure ends the worker
            self.worker.close()
            self.worker = None
        return outcome

    def close(self) -> None:
        for worker in (self.worker, self.spare):
            if worker is not None:
                worker.close()
        self.worker = self.spare = None


def start_early(env: dict | None = None) -> WarmWorker:
    """A warm worker started before the sweep's points exist: it imports the common task and
    the kernels while the parent composes the config and sizes the models."""
    return WarmWorker(env, [COMMON_TASK, *_installed(KERNEL_MODULES)])


def _installed(modules: tuple[str, ...]) -> list[str]:
    return [m for m in modules if importlib.util.find_spec(m.partition(".")[0]) is not None]


def _preload(point: dict) -> list[str]:
    """The modules a worker imports before its first request: the point's task module and,
    for a CUDA point, the installed fused kernels."""
    from harness import tasks

    target = tasks.TASKS.get(point.get("task", ""), point.get("task", ""))
    kernels = _installed(KERNEL_MODULES) if str(point.get("device", "")).startswith("cuda") else []
    return ([target.partition(":")[0]] if ":" in target else []) + kernels
