"""Summary statistics of latency samples: median, percentiles, IQR, bootstrap CI, noise flag.

NumPy only (the dashboard and the store use it without torch). Percentiles use linear
interpolation; the CI is a percentile bootstrap of the median with a fixed seed, so the same
samples always give the same interval.
"""
from __future__ import annotations

import numpy as np

NOISY_IQR_OVER_MEDIAN = 0.10


def bootstrap_ci(samples, stat=np.median, level: float = 0.95, n_resamples: int = 2000,
                 seed: int = 0) -> tuple[float, float]:
    x = np.asarray(samples, dtype=float)
    rng = np.random.default_rng(seed)
    resampled = stat(x[rng.integers(0, len(x), size=(n_resamples, len(x)))], axis=1)
    alpha = (1 - level) / 2
    lo, hi = np.quantile(resampled, [alpha, 1 - alpha])
    return float(lo), float(hi)


def summarize(samples) -> dict:
    """Statistics of one list of samples (any unit); keys are unit-free."""
    x = np.asarray(samples, dtype=float)
    if x.size == 0:
        raise ValueError("no samples to summarize")
    p10, q1, median, q3, p90 = np.quantile(x, [0.10, 0.25, 0.50, 0.75, 0.90])
    ci_lo, ci_hi = bootstrap_ci(x) if x.size > 1 else (float(median), float(median))
    iqr = float(q3 - q1)
    return {
        "n": int(x.size), "median": float(median), "mean": float(x.mean()),
        "std": float(x.std(ddof=1)) if x.size > 1 else 0.0, "min": float(x.min()), "max": float(x.max()),
        "p10": float(p10), "p90": float(p90), "q1": float(q1), "q3": float(q3), "iqr": iqr,
        "ci_lo": ci_lo, "ci_hi": ci_hi,
        "iqr_over_median": iqr / float(median) if median > 0 else float("nan"),
        "noisy": bool(median > 0 and iqr / float(median) > NOISY_IQR_OVER_MEDIAN),
    }
