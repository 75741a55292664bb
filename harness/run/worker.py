"""Child-process entry point: run a point's task and write what happened to a JSON file.

    python -m harness.run.worker REQUEST.json RESULT.json     one point, then exit (isolation=point)
    python -m harness.run.worker --serve MODULE[,MODULE...]   a warm worker (isolation=chain):
        import the modules, then read `[REQUEST, RESULT]` JSON lines from stdin, one point each

The task is `point["task"]`, a name in harness.tasks.TASKS (or any "module:function"), taking
the point dict and returning a JSON-serialisable payload. Exceptions become data: out-of-memory
errors -> status "oom", anything else -> "error" with the traceback. A process that dies
without writing RESULT.json is classified by the parent (harness.run.isolation) as "crashed".
A warm worker exits after any point that did not end `ok`, so a failure never leaks into the
next point; between points it frees the last point's objects and resets the CUDA allocator's
cache and peak statistics.
"""
from __future__ import annotations

import ctypes
import gc
import importlib
import json
import os
import signal
import sys
import time
import traceback

from harness import tasks
from harness.measure.host_memory import reset_host_peak
from harness.run import process_tree
from harness.store.atomic import write_json_atomic

PR_SET_PDEATHSIG = 1  # linux/prctl.h
PARENT_AT_START = os.getppid()


def _libc():
    """glibc (prctl, malloc_trim), or None off Linux/glibc."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        return libc if hasattr(libc, "prctl") and hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


LIBC = _libc()
OOM_MARKERS = ("out of memory", "can't allocate memory", "cannot allocate memory")


def classify(exc: BaseException) -> str:
    if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError":
        return "oom"
    text = str(exc).lower()
    return "oom" if any(marker in text for marker in OOM_MARKERS) else "error"


def _environment(point: dict) -> dict | None:
    """Where a failed point ran, so failures carry their environment like successes."""
    try:
        import torch

        from harness.measure import env
        return env.collect(torch.device(point.get("device", "cpu")))
    except Exception:
        return None


def run_request(request_path: str, result_path: str, started: float) -> str:
    """Run one request; write its result; return its status."""
    with open(request_path) as f:
        request = json.load(f)
    point = request["point"]
    reset_host_peak()  # peak_rss: this point's own, in a warm worker as in a fresh one
    t0 = time.perf_counter()
    import_s = None
    try:
        task = tasks.resolve(point["task"])
        import_s = time.perf_counter() - t0
        payload, status, error = task(point), "ok", None
    except Exception as exc:  # the point failed; the sweep goes on
        payload, status = {"env": _environment(point)}, classify(exc)
        error = "".join(traceback.format_exception(exc))[-6000:]
    write_json_atomic(result_path, {
        "status": status, "error": error, "payload": payload,
        "overhead_s": {"process_start": started - request["spawned_at"], "import": import_s},
    })
    return status


def _release() -> None:
    """Free what the last point left: its objects (and the heap pages malloc keeps), the CUDA
    allocator's cached blocks, the peak statistics (each point's trackers read its own peaks
    from a fresh baseline)."""
    gc.collect()
    if LIBC is not None:
        LIBC.malloc_trim(0)
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        torch.cuda.synchronize()
        torch._C._cuda_clearCublasWorkspaces()  # live allocations a fresh process would not have yet
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def serve(preload: list[str]) -> int:
    for module in preload:
        importlib.import_module(module)
    for line in sys.stdin:
        request_path, result_path = json.loads(line)
        status = run_request(request_path, result_path, started=time.time())
        if status != "ok":
            return 0
        _release()
    return 0


def _die(*_) -> None:
    process_tree.kill_descendants(os.getpid())
    os.killpg(0, signal.SIGKILL)


def die_with_parent() -> None:
    """Linux: when the parent dies (even by SIGKILL), this child gets SIGTERM and takes its
    whole tree down with it (its process group, and what left the group: this process is a
    child subreaper, see harness.run.process_tree), so no point outlives the sweep."""
    signal.signal(signal.SIGTERM, _die)
    if LIBC is None:
        return
    LIBC.prctl(process_tree.PR_SET_CHILD_SUBREAPER, 1)
    LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != PARENT_AT_START:  # the parent died before prctl took effect
        os.killpg(0, signal.SIGKILL)


def main(argv: list[str]) -> int:
    die_with_parent()
    if argv[:1] == ["--serve"]:
        return serve([m for m in (argv[1] if len(argv) > 1 else "").split(",") if m])
    started = time.time()
    run_request(argv[0], argv[1], started)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
