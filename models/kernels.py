"""Optional fused CUDA kernels (mamba-ssm, causal-conv1d) and the choice of backend.

mamba-ssm and causal-conv1d are compiled CUDA extensions that cannot be installed on a
machine without nvcc and a GPU, so they are imported lazily and may be absent. On a CUDA
device an absent kernel is an error, never a silent fall back to the slow reference.

Backends of the Mamba mixers (names recorded with every result):
    cuda_fused      mamba_ssm `mamba_inner_fn` (Mamba-2: `mamba_split_conv1d_scan_combined`;
                    both need causal-conv1d): conv + scan + gating fused
    cuda_scan       mamba_ssm `selective_scan_fn` (Mamba-2: the Triton `mamba_chunk_scan_combined`);
                    the short conv by causal-conv1d or torch
    reference       models.selective_scan.selective_scan_chunked (Mamba-2: models.ssd.ssd_chunked),
                    pure PyTorch, any device
One-token decode (`MambaBlock.step`, `Mamba2Block.step`) uses `decode_kernels()` on CUDA when
both are installed.
"""
from __future__ import annotations

import functools
from types import SimpleNamespace

BACKENDS = ("auto", "cuda_fused", "cuda_scan", "reference")


class KernelUnavailable(RuntimeError):
    """A requested fused kernel is not installed or cannot run on this device."""


@functools.lru_cache(maxsize=None)
def mamba_kernels() -> SimpleNamespace | None:
    """mamba-ssm's CUDA ops, or None when the package (or its CUDA extension) is missing."""
    try:
        from mamba_ssm.ops.selective_scan_interface import mamba_inner_fn, selective_scan_fn
    except Exception:  # ImportError, or an ABI mismatch raising OSError/RuntimeError at import
        return None
    return SimpleNamespace(mamba_inner_fn=mamba_inner_fn, selective_scan_fn=selective_scan_fn)


@functools.lru_cache(maxsize=None)
def mamba2_kernels() -> SimpleNamespace | None:
    """mamba-ssm's Triton SSD ops (Mamba-2), or None when the package or Triton is missing."""
    try:
        from mamba_ssm.ops.triton.ssd_combined import mamba_chunk_scan_combined, mamba_split_conv1d_scan_combined
    except Exception:
        return None
    return SimpleNamespace(mamba_chunk_scan_combined=mamba_chunk_scan_combined,
                           mamba_split_conv1d_scan_combined=mamba_split_conv1d_scan_combined)


@functools.lru_cache(maxsize=None)
def decode_kernels() -> SimpleNamespace | None:
    """The one-token update kernels upstream's `Mamba.step` uses, or None when either is missing:
    mamba-ssm's Triton `selective_state_update` and causal-conv1d's `causal_conv1d_update`."""
    try:
        from causal_conv1d import causal_conv1d_update
        from mamba_ssm.ops.triton.selective_state_update import selective_state_update
    except Exception:
        return None
    return SimpleNamespace(selective_state_update=selective_state_update, causal_conv1d_update=causal_conv1d_update)


def decode_update(block, x, kernels_ok: bool = True) -> SimpleNamespace | None:
    """The decode kernels a Mamba block's `step` uses on x's device, or None (its PyTorch
    `step_reference` runs); which one is kept in `block.last_step_backend`."""
    update = decode_kernels() if kernels_ok and x.is_cuda and block.backend != "reference" else None
    block.last_step_backend = "torch" if update is None else "selective_state_update"
    return update


@functools.lru_cache(maxsize=None)
def causal_conv1d_fn():
    """causal-conv1d's fused depthwise conv, or None."""
    try:
        from causal_conv1d import causal_conv1d_fn as fn
    except Exception:
        return None
    return fn


def resolve_backend(requested: str, device_type: str, family: str = "mamba") -> str:
    """Turn `requested` (one of BACKENDS) into the backend that will run on `device_type` for
    the mixer `family` (mamba | mamba2)."""
    if requested not in BACKENDS:
        raise ValueError(f"unknown Mamba backend {requested!r}; valid: {', '.join(BACKENDS)}")
    if requested == "reference":
        return "reference"
    if device_type != "cuda":
        if requested == "auto":
            return "reference"
        raise KernelUnavailable(f"backend {requested!r} needs a CUDA device, got {device_type!r}")
    if (mamba_kernels() if family == "mamba" else mamba2_kernels()) is None:
        raise KernelUnavailable(
            "mamba-ssm's CUDA kernels are not importable on this CUDA machine; install them with "
            "`pip install -e '.[gpu]' --no-build-isolation`, or choose the slow path explicitly "
            "with backend=reference")
    if requested == "cuda_fused" or (requested == "auto" and causal_conv1d_fn() is not None):
        if causal_conv1d_fn() is None:
            raise KernelUnavailable("backend 'cuda_fused' needs causal-conv1d, which is not installed")
        return "cuda_fused"
    return "cuda_scan"
