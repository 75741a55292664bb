"""Full-value ticks for the dashboard's log axes: plotly labels only the decades and writes
"2", "5" between them; these put a tick at every power of two (lengths, batch sizes: 512,
1K, 2K, ... 256K) or at 1-2-5 steps (times, rates: 0.5, 1, 2, 5, 10, ... 1M), each labelled
with its whole value, fewer when the data span many decades."""
from __future__ import annotations

import numpy as np


def label(v: float, binary: bool = False) -> str:
    """512, 1K, 2K, 256K, 1M (binary: K = 1024); 0.05, 2.5, 20, 1.5K, 3M (decimal)."""
    step = 1024 if binary else 1000
    for unit, scale in (("G", step ** 3), ("M", step ** 2), ("K", step)):
        if abs(v) >= scale:
            return f"{v / scale:.3g}{unit}"
    return f"{v:.3g}"


def log_axis(values, binary: bool | None = None) -> dict:
    """Plotly axis settings (type log, tickvals, ticktext) covering `values` (positive ones);
    `binary` (default: every value is a power of two) ticks each power of two."""
    v = np.asarray([x for x in values if x is not None and np.isfinite(x) and x > 0], float)
    if v.size == 0:
        return {"type": "log"}
    lo, hi = v.min(), v.max()
    if binary is None:
        binary = bool(np.all(np.log2(v) == np.round(np.log2(v))))
    if binary:
        exps = np.arange(np.floor(np.log2(lo)), np.ceil(np.log2(hi)) + 1)
        stride = max(1, int(np.ceil(len(exps) / 12)))
        ticks = [2.0 ** e for e in exps[::stride]]
    else:
        decades = np.arange(np.floor(np.log10(lo)), np.ceil(np.log10(hi)) + 1)
        steps = (1, 2, 5) if len(decades) <= 5 else (1,)
        ticks = [m * 10.0 ** d for d in decades for m in steps]
        ticks = [t for t in ticks if lo / 2.5 <= t <= hi * 2.5] or ticks
    axis = {"type": "log", "tickvals": ticks, "ticktext": [label(t, binary) for t in ticks]}
    if lo == hi:  # one value: half a decade either side (plotly's own range would be a whole one)
        axis["range"] = [np.log10(lo) - 0.5, np.log10(hi) + 0.5]
    return axis
