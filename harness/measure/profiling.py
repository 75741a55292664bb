"""One more iteration of a point's step under `torch.profiler`, after the timed ones (so the
timing is not perturbed): its Chrome/Perfetto trace, gzipped beside the record
(`<point_id>.trace.json.gz`, open it in https://ui.perfetto.dev or chrome://tracing), and the
top operators and kernels by self time in the record's `profile`. Uses torch.profiler's own
API (`profile`, `key_averages`, `export_chrome_trace`).
"""
from __future__ import annotations

import gzip
import os
import shutil
import tempfile
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity

TOP = 10


def _self_time_us(event, cuda: bool) -> float:
    if cuda:
        return getattr(event, "self_device_time_total", None) or getattr(event, "self_cuda_time_total", 0.0)
    return event.self_cpu_time_total


def profile_step(step, device: torch.device, trace_path: str, top: int = TOP) -> dict:
    """Profile one call of `step`; write the trace to `trace_path`; return the record's `profile`."""
    cuda = device.type == "cuda"
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with torch.profiler.profile(activities=activities) as prof:
        step()
        if cuda:
            torch.cuda.synchronize(device)
    path = Path(trace_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        raw = os.path.join(tmp, "trace.json")
        prof.export_chrome_trace(raw)
        with open(raw, "rb") as src, gzip.open(path, "wb") as dst:
            shutil.copyfileobj(src, dst)
    events = sorted(prof.key_averages(), key=lambda e: _self_time_us(e, cuda), reverse=True)[:top]
    return {"trace": path.name, "by": "self CUDA time" if cuda else "self CPU time",
            "top": [{"name": e.key, "calls": e.count, "self_ms": _self_time_us(e, cuda) / 1e3} for e in events]}
