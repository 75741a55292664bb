"""The environment recorded with every point: code version, libraries, hardware, settings.

Software versions come from installed package metadata (importlib.metadata), so reading them
imports nothing heavy; GPU facts come from torch and NVML (harness.measure.nvml).
"""
from __future__ import annotations

import functools
import importlib.metadata
import os
import platform
import subprocess
import sys
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the directory holding harness/ (a checkout or site-packages)
REPO_ROOT = PACKAGE_ROOT
PACKAGES = ("torch", "triton", "transformers", "mamba-ssm", "causal-conv1d", "numpy", "hydra-core")


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


@functools.lru_cache(maxsize=None)
def code_version() -> dict:
    """The commit and dirty flag. SWARM_BENCH_GIT_SHA, when set, names the commit instead
    (dirty unknown: None): a copied tree (a GPU box fed a working copy, an sdist) may carry a
    .git whose HEAD is not the code that runs."""
    named = os.environ.get("SWARM_BENCH_GIT_SHA")
    if named:
        return {"git_sha": named, "git_dirty": None}
    sha = _git("rev-parse", "HEAD")
    if sha is None:
        return {"git_sha": None, "git_dirty": None}
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {"git_sha": sha, "git_dirty": None if status is None else bool(status)}


def package_versions() -> dict:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


COMPILE_CACHES = ("TRITON_CACHE_DIR", "TORCHINDUCTOR_CACHE_DIR")  # where compiled kernels persist
GPU_SHARED = "SWARM_BENCH_GPU_SHARED"  # set by launcher=local_gpus launcher.per_gpu=N: N points shared this GPU


def compile_cache_env() -> dict:
    """Persistent Triton and inductor caches under the user's cache directory (or what the
    environment already sets), so a kernel compiled by one point's process is loaded, not
    compiled again, by the next."""
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "swarm-bench"
    return {key: os.environ.get(key) or str(root / key.split("_")[0].lower()) for key in COMPILE_CACHES}


def collect(device) -> dict:
    """Everything about where a point ran. `device` is the torch.device it ran on."""
    import torch

    from harness.measure import nvml

    env = {
        **code_version(),
        "python": sys.version.split()[0], "platform": platform.platform(), "hostname": platform.node(),
        "cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
        "packages": package_versions(),
        "torch_cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version() if torch.cuda.is_available() else None,
        "device": str(device), "torch_threads": torch.get_num_threads(),
        "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
        "compile_caches": {k: os.environ.get(k) for k in COMPILE_CACHES},
    }
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        props = torch.cuda.get_device_properties(index)
        env.update({
            "gpu_name": props.name, "gpu_capability": f"{props.major}.{props.minor}",
            "gpu_memory_mb": props.total_memory / 2**20, "gpu_sm_count": props.multi_processor_count,
            "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
            **({"gpu_shared_by": int(os.environ[GPU_SHARED])} if os.environ.get(GPU_SHARED) else {}),
            "gpu_processes": nvml.compute_processes(index),  # at collection: after the point, for its record
            **nvml.device_info(index), **nvml.clocks_and_throttle(index),
        })
    return env
