"""Measuring inside a point: latency, peak-memory and energy trackers, timing loops, summary
statistics, the environment a point ran in, NVML readings. `stats` imports no torch (the
dashboard and the gate use it)."""
