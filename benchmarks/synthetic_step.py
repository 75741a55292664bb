"""Where a calibration training step's time goes: the data, the GPU, or the host launching it.

For each calibration point of `suite=quality` (suites.quality_calibration, the shipped settings),
alone on the device: the milliseconds to generate one batch (harness.quality.synthetic_tasks,
on the host), the steady training step of harness.quality.train.train (after a warm-up run of
its own, with the batches generated ahead as training does), eager and, where the model allows
it, replayed from a CUDA graph (harness.quality.train_step), and from torch.profiler the device
time its kernels take per step. A step far above its kernel time is bound by the host (the data
or the launches), not the GPU; this is what says whether CUDA graphs or a faster sampler pay.

    python -m benchmarks.synthetic_step --only mqar_zoology_64 --steps 200 --out synthetic_step.json
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import torch
from torch.autograd import DeviceType
from torch.profiler import ProfilerActivity, profile

from harness.quality.synthetic_batches import TaskSampler
from harness.quality.synthetic_tasks import TASKS
from harness.quality.train import train
from harness.run.config import compose_config, to_container
from harness.run.sweep import build, resolve_device
from harness.tasks.model_setup import DTYPES, build_model
from harness.tasks.synthetic import train_config

PROFILED_STEPS = 10
TOP_OPS = 6


def calibration_points(only: list[str]) -> list[dict]:
    """The calibration points `run.py suite=quality suite.parts=[calibration]` builds, seed 0."""
    overrides = ["suite=quality", "suite.parts=[calibration]", "suite.calibration_seeds=[0]"]
    if only:
        overrides.append("suite.calibration_only=[" + ",".join(f"'{name}'" for name in only) + "]")
    return [p.config for p in build(to_container(compose_config(overrides)))[3]]


def data_ms(point: dict, batches: int = 10) -> float:
    task = TASKS[point["synthetic_task"]].configured(point.get("task_options"))
    rng, times = np.random.default_rng(0), []
    for _ in range(batches):
        start = time.perf_counter()
        task.generate(rng, point["batch_size"], point["seq_len"])
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def _train(point: dict, model, steps: int, graphs: bool = False) -> dict:
    device, dtype = torch.device(point["device"]), DTYPES[point["dtype"]]
    task = TASKS[point["synthetic_task"]].configured(point.get("task_options"))
    cfg = train_config({**point, "steps": steps, "eval_every": 10 ** 9, "max_wall_s": None, "record_path": None,
                        "cuda_graphs": graphs})
    sampler = TaskSampler(task, point["train_lengths"], point["batch_size"], point["seed"])
    return train(model, sampler, cfg, device, dtype, evaluate=lambda: {})


def _step_ms(point: dict, model, steps: int, graphs: bool) -> float:
    _train(point, model, 10, graphs)  # warm-up: kernels chosen, caches filled
    timed = _train(point, model, steps, graphs)
    return timed["wall_s"] / timed["steps"] * 1e3


def step_profile(point: dict, steps: int) -> dict:
    model = build_model(point, train=True)
    eager_ms = _step_ms(point, model, steps, graphs=False)
    graphed_ms = _step_ms(point, model, steps, graphs=True) if model.train_step_capturable else None
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        _train(point, model, PROFILED_STEPS)
    # the kernels each host-side op launched, once each (kernel events themselves would count them twice)
    events = [e for e in prof.key_averages() if e.device_type == DeviceType.CPU and e.self_device_time_total > 0]
    kernel_ms = sum(e.self_device_time_total for e in events) / 1e3 / PROFILED_STEPS
    top = sorted(events, key=lambda e: e.self_device_time_total, reverse=True)[:TOP_OPS]
    return {"step_ms": eager_ms, "graphed_step_ms": graphed_ms, "kernel_ms_per_step": kernel_ms,
            "top_ops": [{"op": e.key, "device_ms_per_step": e.self_device_time_total / 1e3 / PROFILED_STEPS,
                         "calls_per_step": e.count / PROFILED_STEPS} for e in top]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=[], help="settings or setting/label, as suite.calibration_only")
    parser.add_argument("--steps", type=int, default=200, help="timed training steps per point")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    if resolve_device("auto") == "cpu":
        raise SystemExit("benchmarks.synthetic_step: needs a CUDA device (the kernel times come from it)")
    rows = []
    for point in calibration_points(args.only):
        row = {"calibration": point["calibration"], "label": point["label"], "batch_size": point["batch_size"],
               "length": point["seq_len"], "data_ms": data_ms(point), **step_profile(point, args.steps)}
        row["host_bound"] = row["step_ms"] > 1.5 * row["kernel_ms_per_step"]
        graphed = f"{row['graphed_step_ms']:7.2f} ms" if row["graphed_step_ms"] else "      -"
        print(f"{row['calibration']:22s} {row['label']:18s} data {row['data_ms']:7.2f} ms"
              f"  step {row['step_ms']:7.2f} ms  graphed {graphed}  kernels {row['kernel_ms_per_step']:7.2f} ms",
              flush=True)
        rows.append(row)
    with open(args.out, "w") as f:
        json.dump({"device": torch.cuda.get_device_name(), "torch": torch.__version__, "steps": args.steps,
                   "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
