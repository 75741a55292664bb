"""Child-process entry point: run one point's task and write what happened to a JSON file.

    python -m harness.run.worker REQUEST.json RESULT.json

The task is `point["task"]`, a name in harness.tasks.TASKS (or any "module:function") taking the point dict and returning a JSON-
serialisable payload. Exceptions become data: out-of-memory errors -> status "oom", anything
else -> "error" with the traceback. A process that dies without writing RESULT.json is
classified by the parent (harness.run.isolation) as "crashed".
"""
from __future__ import annotations

import json
import sys
import time
import traceback

from harness import tasks
from harness.store.atomic import write_json_atomic

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


def main(request_path: str, result_path: str) -> int:
    started = time.time()
    with open(request_path) as f:
        request = json.load(f)
    point = request["point"]
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
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
