"""NVML readings (nvidia-ml-py, imported as pynvml): identity, clocks, throttle reasons, the
total-energy counter, per-process memory and the number of processes on the device. Every
function returns None where NVML or a reading is unavailable (no driver, a VM that hides it),
so callers record "not available" instead of failing.

The NVML device is found by the UUID torch reports, because NVML and CUDA may number GPUs
differently unless CUDA_DEVICE_ORDER=PCI_BUS_ID (optimum-benchmark issue #136).
"""
from __future__ import annotations

import functools
import os
import threading

import torch


@functools.lru_cache(maxsize=None)
def _pynvml():
    try:
        import pynvml
        pynvml.nvmlInit()
        return pynvml
    except Exception:
        return None


@functools.lru_cache(maxsize=None)
def device_count() -> int | None:
    """GPUs NVML sees (indexed in PCI bus order), or None without NVML."""
    return _read(lambda n: n.nvmlDeviceGetCount())


def handle(device_index: int):
    nvml = _pynvml()
    if nvml is None:
        return None
    try:
        uuid = str(torch.cuda.get_device_properties(device_index).uuid)
        for i in range(nvml.nvmlDeviceGetCount()):
            h = nvml.nvmlDeviceGetHandleByIndex(i)
            if uuid in nvml.nvmlDeviceGetUUID(h):
                return h
        return nvml.nvmlDeviceGetHandleByIndex(device_index)
    except Exception:
        return None


def _read(fn, *args):
    nvml = _pynvml()
    try:
        return fn(nvml, *args) if nvml is not None and all(a is not None for a in args) else None
    except Exception:
        return None


def device_info(device_index: int) -> dict:
    h = handle(device_index)
    return {
        "gpu_uuid": _read(lambda n, h: n.nvmlDeviceGetUUID(h), h),
        "driver_version": _read(lambda n: n.nvmlSystemGetDriverVersion()),
        "power_limit_w": _read(lambda n, h: n.nvmlDeviceGetEnforcedPowerLimit(h) / 1e3, h),
    }


def clocks_and_throttle(device_index: int) -> dict:
    """SM and memory clocks (MHz), temperature, and the active clock-event (throttle) reasons."""
    h = handle(device_index)

    def reasons(n, h):
        mask = n.nvmlDeviceGetCurrentClocksEventReasons(h)
        names = [name for name in dir(n) if name.startswith("nvmlClocksEventReason") and name != "nvmlClocksEventReasonAll"]
        return sorted(name.removeprefix("nvmlClocksEventReason") for name in names
                      if getattr(n, name) and mask & getattr(n, name))

    return {
        "sm_clock_mhz": _read(lambda n, h: n.nvmlDeviceGetClockInfo(h, n.NVML_CLOCK_SM), h),
        "mem_clock_mhz": _read(lambda n, h: n.nvmlDeviceGetClockInfo(h, n.NVML_CLOCK_MEM), h),
        "temperature_c": _read(lambda n, h: n.nvmlDeviceGetTemperature(h, n.NVML_TEMPERATURE_GPU), h),
        "throttle_reasons": _read(reasons, h),
    }


def total_energy_mj(device_index: int) -> int | None:
    """The device's energy counter since driver load, millijoules (Volta and newer)."""
    return _read(lambda n, h: n.nvmlDeviceGetTotalEnergyConsumption(h), handle(device_index))


def process_memory_bytes(device_index: int, pid: int) -> int | None:
    """GPU memory NVML attributes to `pid` (None if NVML cannot see per-process usage)."""
    def used(n, h):
        for proc in n.nvmlDeviceGetComputeRunningProcesses(h):
            if proc.pid == pid and proc.usedGpuMemory is not None:
                return int(proc.usedGpuMemory)
        return None
    return _read(used, handle(device_index))


def compute_processes(device_index: int) -> int | None:
    """How many compute processes NVML sees on the device (every user's and launcher's)."""
    return _read(lambda n, h: len(n.nvmlDeviceGetComputeRunningProcesses(h)), handle(device_index))


class ProcessMemorySampler:
    """Samples this process's NVML memory every `interval_s` in a thread; `.peak_bytes` after exit."""

    def __init__(self, device_index: int, interval_s: float = 0.01):
        self.device_index, self.interval_s = device_index, interval_s
        self.peak_bytes: int | None = None
        self._stop = threading.Event()

    def _loop(self):
        pid = os.getpid()
        while True:
            used = process_memory_bytes(self.device_index, pid)
            if used is not None:
                self.peak_bytes = max(self.peak_bytes or 0, used)
            if self._stop.wait(self.interval_s):
                return

    def __enter__(self):
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
