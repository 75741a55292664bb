"""Summary statistics of latency samples: median, percentiles, IQR, bootstrap CI, noise flag.

NumPy and SciPy only (the dashboard and the store use it without torch). Percentiles use
linear interpolation; the CI is a percentile bootstrap of the median with a fixed seed, so the
same samples always give the same interval. `fit_power_law` gives scaling exponents with a
t-based CI (the dashboard's fitted exponents, the claims ledger's scaling verdicts);
`mean_interval`, the t-interval of a mean (the ledger's paired feature differences).
"""
from __future__ import annotations

import numpy as np
from scipy import stats as scipy_stats

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


def mean_interval(values, level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high): Student's t-interval of the mean of the finite `values` (n - 1 degrees of
    freedom); low and high are NaN with fewer than 2 of them, all three with none."""
    x = np.asarray(values, float)
    x = x[np.isfinite(x)]
    if len(x) == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(x.mean())
    if len(x) < 2:
        return mean, float("nan"), float("nan")
    half = float(scipy_stats.t.ppf(0.5 + level / 2, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x)))
    return mean, mean - half, mean + half


def fit_power_law(x, y, level: float = 0.95) -> dict | None:
    """Least-squares slope of log y on log x with its CI: y ~ x^exponent. None with fewer than
    3 distinct positive x values."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    keep = (x > 0) & (y > 0) & np.isfinite(x) & np.isfinite(y)
    x, y = np.log(x[keep]), np.log(y[keep])
    if len(np.unique(x)) < 3:
        return None
    fit = scipy_stats.linregress(x, y)
    half = scipy_stats.t.ppf(0.5 + level / 2, len(x) - 2) * fit.stderr
    return {"exponent": float(fit.slope), "ci_lo": float(fit.slope - half), "ci_hi": float(fit.slope + half),
            "points": int(len(x))}


def fit_affine(x, y, level: float = 0.95) -> dict:
    """Least-squares y = intercept + slope * x with the slope's CI (t, n - 2 degrees of freedom)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    fit = scipy_stats.linregress(x, y)
    stderr = fit.stderr if np.isfinite(fit.stderr) else 0.0  # constant y: an exact, flat line
    half = scipy_stats.t.ppf(0.5 + level / 2, len(x) - 2) * stderr if len(x) > 2 else float("inf")
    return {"slope": float(fit.slope), "slope_lo": float(fit.slope - half), "slope_hi": float(fit.slope + half),
            "intercept": float(fit.intercept), "points": int(len(x))}
