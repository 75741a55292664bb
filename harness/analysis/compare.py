"""Compare two runs point by point: the regression gate behind `python run.py compare`.

A run is a directory of records (`results_dir` of a sweep), a JSON file of records, or a run
id (or unique prefix) inside the store. Records are matched on their config minus `repeat`,
so the fresh-process repeats of one point pool into one sample set per side.

Verdicts, per point (the worst of its metrics):
- latency (statistical): the unit of replication is the process, since one process can sit
  5-50% away from the next (allocator layout, clocks, host jitter) while its own iterations
  agree closely. Each process gives its median; the ratio is exp(mean log median, candidate
  - baseline) and its CI a Student-t interval on the log scale (pooled variance, df =
  n_base + n_cand - 2), which stays honest with 3 processes a side where a bootstrap would
  be too narrow. With one process on a side the run-to-run spread is unknown: a bootstrap
  of the iterations is used and the row says so. `regressed` only when the ratio exceeds
  1 + threshold AND the CI lies wholly above 1; `improved` symmetrically. The CIs are
  Bonferroni-corrected over the m timed points (level 1 - (1 - confidence) / m), so the
  chance that noise fails the whole gate stays below 1 - confidence however many points
  the suite has.
- memory (near-deterministic): GPU peak allocated, else the child's peak RSS; `regressed`
  when the candidate exceeds the baseline by more than rtol x baseline + atol.
- size (deterministic): params_total, params_active, flops_per_token must be equal, else
  `changed` (the model itself differs: fix it or refresh the baseline).
- fixed-seed loss: `regressed` when the final loss is higher by more than `loss_atol` plus
  twice the spread of the baseline's own repeats (on a GPU, atomics in backward kernels and
  routing ties make repeats differ; on the CPU they are bit-identical, so the spread is 0).
- status: a point ok in the baseline and failed in the candidate is `failed`; a baseline
  point absent from the candidate is `missing` (its config changed, or it was not run) and
  fails too, so editing a model's preset cannot slip past the gate; candidate-only points
  are `new`. Runs with no point in common are refused.

Runs whose environments differ (GPU, dtype, library versions, CPU count on CPU runs) are
refused as incomparable (`Incomparable`), never compared.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import stats

from harness.errors import UserError
from harness.store import results
from harness.store.schema import OK

EXACT_FIELDS = ("params_total", "params_active", "flops_per_token")
FAILING = ("regressed", "failed", "changed", "missing")
# verdict severity, worst last
SEVERITY = ("unchanged", "improved", "new", "baseline failed", "missing", "changed", "regressed", "failed")


class Incomparable(UserError):
    """The two runs were measured in different environments."""


@dataclass(frozen=True)
class GateSettings:
    threshold: float = 0.10  # relative latency slowdown that counts, if also significant
    confidence: float = 0.95  # family-wise two-sided level (Bonferroni over the timed points)
    n_boot: int = 2000  # resamples of the iteration bootstrap (single-process points only)
    mem_rtol: float = 0.01  # GPU peak allocated: near-deterministic
    mem_atol_mb: float = 1.0
    rss_rtol: float = 0.05  # host RSS of the child process: allocator and import noise
    rss_atol_mb: float = 16.0
    loss_atol: float = 0.02  # nats; fixed-seed loss after a short run
    seed: int = 0


# ---- loading ------------------------------------------------------------------------------

def _readable(store: str | Path, spec: str, allow_unreadable: bool) -> list[tuple[Path, dict]]:
    """The records under `store`; unreadable record files refuse the run (a lost baseline
    point would otherwise read as `new` and pass) unless `allow_unreadable`."""
    found, problems = results.scan(store)
    if problems and not allow_unreadable:
        raise UserError(f"{spec!r}: {results.describe_problems(problems)}; repair or remove them, or pass "
                        "allow_unreadable=true to compare without them")
    return found


def load_run(spec: str, store: str | Path = results.DEFAULT_STORE, allow_unreadable: bool = False) -> list[dict]:
    """Records of run `spec`: a directory, a JSON file (a record or a list of records), or a
    run id / unique run-id prefix found under `store`."""
    path = Path(spec)
    if path.is_dir():
        records = [r for _, r in _readable(path, spec, allow_unreadable)]
        if not records:
            raise UserError(f"{spec!r} is a directory without result records")
        return records
    if path.is_file():
        try:
            data = json.loads(path.read_bytes().decode("utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise UserError(f"{spec!r} is not a JSON file of records: {exc}") from None
        records = data if isinstance(data, list) else [data]
        if not all(isinstance(r, dict) and "config" in r for r in records):
            raise UserError(f"{spec!r} holds no result records (expected a record or a list of records)")
        return records
    by_run: dict[str, list[dict]] = {}
    for _, record in _readable(store, spec, allow_unreadable):
        by_run.setdefault(str(record.get("run_id")), []).append(record)
    matches = sorted(run for run in by_run if run.startswith(spec))
    if len(matches) == 1:
        return by_run[matches[0]]
    if not matches:
        known = ", ".join(sorted(by_run)[-5:]) or "none"
        raise UserError(f"{spec!r} is not a directory, a file or a run id in {store}/ (latest run ids: {known})")
    raise UserError(f"run id prefix {spec!r} is ambiguous in {store}/: {', '.join(matches[:5])}")


def point_key(record: dict) -> str:
    config = {k: v for k, v in (record.get("config") or {}).items() if k != "repeat"}
    return json.dumps(config, sort_keys=True, separators=(",", ":"))


def point_label(record: dict) -> str:
    c = record.get("config") or {}
    name = c.get("model", "?") + (f"/{c['preset']}" if c.get("preset") else "")
    return f"{c.get('suite', '?')}: {name} {c.get('mode', '?')} B={c.get('batch_size', '?')} L={c.get('seq_len', '?')}"


def group_points(records: list[dict]) -> dict[str, list[dict]]:
    groups: dict[str, list[dict]] = {}
    for record in records:
        groups.setdefault(point_key(record), []).append(record)
    return groups


# ---- environments ------------------------------------------------------------------------

def environment(record: dict) -> dict:
    """What must match for two records' numbers to be comparable."""
    env = record.get("env") or {}
    packages = env.get("packages") or {}
    config = record.get("config") or {}
    on_gpu = bool(env.get("gpu_name"))
    return {
        "device": env.get("gpu_name") or "cpu", "dtype": config.get("dtype"),
        "torch": packages.get("torch"), "cuda": env.get("torch_cuda"),
        "transformers": packages.get("transformers"), "mamba-ssm": packages.get("mamba-ssm"),
        "causal-conv1d": packages.get("causal-conv1d"),
        "cpu_count": None if on_gpu else env.get("cpu_count"),
        "torch_threads": None if on_gpu else env.get("torch_threads"),
    }


def run_environment(records: list[dict], side: str) -> dict:
    envs = [environment(r) for r in records if r.get("env")]
    if not envs:
        raise UserError(f"the {side} run has no record with an environment")
    fields = {}
    for name in envs[0]:
        values = sorted({str(e[name]) for e in envs})
        if len(values) > 1:
            raise Incomparable(f"the {side} run mixes environments: {name} is {' and '.join(values)}; "
                               "point it at one run's directory")
        fields[name] = envs[0][name]
    return fields


def on_candidate_device(baseline: list[dict], candidate: list[dict]) -> list[dict]:
    """A baseline directory may hold reference runs of several GPUs and suites (results/reference
    keeps the H100's and the H200's side by side): keep the records of the candidate's suites
    recorded on the candidate's device, so the gate picks the baseline of the GPU it runs on
    without being told. A failed record has no environment; it goes with the other records of
    its run."""
    device = lambda r: (r.get("env") or {}).get("gpu_name") or ("cpu" if r.get("env") else None)  # noqa: E731
    suite = lambda r: (r.get("config") or {}).get("suite")  # noqa: E731
    suites = {suite(r) for r in candidate}
    baseline = [r for r in baseline if suite(r) in suites] or baseline
    wanted = {device(r) for r in candidate} - {None}
    runs = {r.get("run_id"): device(r) for r in baseline if device(r) is not None}
    if len(set(runs.values())) < 2 or len(wanted) != 1:
        return baseline
    kept = [r for r in baseline if (device(r) or runs.get(r.get("run_id"))) in wanted]
    return kept or baseline


def check_comparable(baseline: list[dict], candidate: list[dict], ignore: tuple[str, ...] = ()) -> dict:
    """The shared environment, or Incomparable naming every field that differs."""
    b_env, c_env = run_environment(baseline, "baseline"), run_environment(candidate, "candidate")
    unknown = sorted(set(ignore) - set(b_env))
    if unknown:
        raise UserError(f"ignore_env has unknown field {unknown[0]!r}; valid: {', '.join(b_env)}")
    differ = [f"{name} {b_env[name]!r} vs {c_env[name]!r}" for name in b_env
              if name not in ignore and b_env[name] != c_env[name]]
    if differ:
        raise Incomparable("runs are incomparable (baseline vs candidate): " + "; ".join(differ)
                           + ". Measure both in one environment, or name fields in ignore_env=[...] if you accept it")
    return b_env


# ---- statistics --------------------------------------------------------------------------

def _process_samples(records: list[dict]) -> list[np.ndarray]:
    return [np.asarray(r["samples_ms"], dtype=float) for r in records
            if r.get("status") == OK and r.get("samples_ms")]


def process_level_interval(base: list[np.ndarray], cand: list[np.ndarray], confidence: float) -> tuple[float, float, float]:
    """(ratio, lo, hi) of candidate / baseline latency from per-process medians: a pooled-
    variance t interval on the log scale; needs >= 2 processes on one side and >= 1 on both."""
    lb, lc = np.log([np.median(g) for g in base]), np.log([np.median(g) for g in cand])
    df = len(lb) + len(lc) - 2
    pooled_var = (((lb - lb.mean()) ** 2).sum() + ((lc - lc.mean()) ** 2).sum()) / df
    se = np.sqrt(pooled_var * (1 / len(lb) + 1 / len(lc)))
    diff, half = lc.mean() - lb.mean(), stats.t.ppf(0.5 + confidence / 2, df) * se
    return float(np.exp(diff)), float(np.exp(diff - half)), float(np.exp(diff + half))


def iteration_bootstrap_interval(base: list[np.ndarray], cand: list[np.ndarray], s: GateSettings) -> tuple[float, float, float]:
    """(ratio, lo, hi) from the pooled iterations alone (only within-process spread)."""
    b, c = np.concatenate(base), np.concatenate(cand)
    rng = np.random.default_rng(s.seed)
    ratios = (np.median(c[rng.integers(0, len(c), (s.n_boot, len(c)))], axis=1)
              / np.median(b[rng.integers(0, len(b), (s.n_boot, len(b)))], axis=1))
    alpha = (1 - s.confidence) / 2
    lo, hi = np.quantile(ratios, [alpha, 1 - alpha])
    return float(np.median(c) / np.median(b)), float(lo), float(hi)


def latency_comparison(base: list[np.ndarray], cand: list[np.ndarray], s: GateSettings) -> dict:
    per_process = len(base) + len(cand) > 2
    ratio, lo, hi = (process_level_interval(base, cand, s.confidence) if per_process
                     else iteration_bootstrap_interval(base, cand, s))
    if ratio > 1 + s.threshold and lo > 1:
        verdict = "regressed"
    elif ratio < 1 - s.threshold and hi < 1:
        verdict = "improved"
    else:
        verdict = "unchanged"
    return {"baseline_ms": float(np.median([np.median(g) for g in base])),
            "candidate_ms": float(np.median([np.median(g) for g in cand])),
            "ratio": ratio, "ci": [lo, hi], "processes": [len(base), len(cand)],
            # the smallest slowdown this point could flag with the spread it has (log-symmetric CI)
            "detectable_ratio": max(1 + s.threshold, float(np.sqrt(hi / lo))),
            "interval": "process-level t" if per_process else "iteration bootstrap (run-to-run spread unknown)",
            "verdict": verdict}


def _median_field(records: list[dict], path: tuple[str, ...]) -> float | None:
    values = [results.get_path(r, path) for r in records if r.get("status") == OK]
    values = [float(v) for v in values if v is not None]
    return float(np.median(values)) if values else None


def memory_comparison(base: list[dict], cand: list[dict], s: GateSettings) -> dict | None:
    for metric, rtol, atol in (("peak_alloc", s.mem_rtol, s.mem_atol_mb), ("peak_rss", s.rss_rtol, s.rss_atol_mb)):
        b, c = _median_field(base, ("memory_mb", metric)), _median_field(cand, ("memory_mb", metric))
        if b is not None and c is not None:
            limit = b * (1 + rtol) + atol
            verdict = "regressed" if c > limit else ("improved" if c < b * (1 - rtol) - atol else "unchanged")
            return {"metric": f"{metric}_mb", "baseline": b, "candidate": c, "ratio": c / b if b else None,
                    "limit": limit, "verdict": verdict}
    return None


def exact_comparison(base: list[dict], cand: list[dict]) -> dict:
    out = {}
    for name in EXACT_FIELDS:
        b, c = _median_field(base, ("model_info", name)), _median_field(cand, ("model_info", name))
        if b is not None or c is not None:
            out[name] = {"baseline": b, "candidate": c, "verdict": "unchanged" if b == c else "changed"}
    return out


def _loss_finals(records: list[dict]) -> list[float | None]:
    """Final losses of the fixed-seed runs among `records` (None where the run diverged)."""
    return [r["loss"].get("final") for r in records if isinstance(r.get("loss"), dict)]


def loss_comparison(base: list[dict], cand: list[dict], s: GateSettings) -> dict | None:
    b_finals, c_finals = _loss_finals(base), _loss_finals(cand)
    if not b_finals or not c_finals or None in b_finals:
        return None
    b = float(np.median(b_finals))
    if None in c_finals:
        return {"baseline": b, "candidate": None, "diff": None, "tolerance": None, "verdict": "regressed",
                "note": "candidate loss diverged (not finite)"}
    c = float(np.median(c_finals))
    tolerance = s.loss_atol + 2 * (max(b_finals) - min(b_finals))
    diff = c - b
    verdict = "regressed" if diff > tolerance else ("improved" if diff < -tolerance else "unchanged")
    return {"baseline": b, "candidate": c, "diff": diff, "tolerance": tolerance, "verdict": verdict}


def _worst(verdicts: list[str]) -> str:
    return max(verdicts, key=SEVERITY.index) if verdicts else "unchanged"


def compare_point(base: list[dict], cand: list[dict], s: GateSettings) -> dict:
    """One point's comparison; `s.confidence` is the per-point (already corrected) level."""
    label = point_label((base or cand)[0])
    if not cand:
        return {"label": label, "verdict": "missing",
                "note": "not in the candidate run: its config changed or it was not run"}
    if not base:
        return {"label": label, "verdict": "new", "note": "not in the baseline run"}
    b_ok = [r for r in base if r.get("status") == OK]
    c_bad = sorted({r.get("status") for r in cand if r.get("status") != OK})
    if not b_ok:
        return {"label": label, "verdict": "baseline failed",
                "note": f"baseline status {', '.join(sorted({r.get('status') for r in base}))}"}
    if c_bad:
        return {"label": label, "verdict": "failed", "note": f"candidate status {', '.join(c_bad)}"}
    out = {"label": label, "exact": exact_comparison(b_ok, cand)}
    b_samples, c_samples = _process_samples(b_ok), _process_samples(cand)
    if b_samples and c_samples:
        out["latency"] = latency_comparison(b_samples, c_samples, s)
    out["memory"] = memory_comparison(b_ok, cand, s)
    out["loss"] = loss_comparison(b_ok, cand, s)
    parts = [out.get("latency"), out["memory"], out["loss"], *out["exact"].values()]
    out["verdict"] = _worst([p["verdict"] for p in parts if p])
    return out


def compare_runs(baseline: list[dict], candidate: list[dict], settings: GateSettings = GateSettings(),
                 ignore_env: tuple[str, ...] = ()) -> dict:
    """The whole comparison: environment, one entry per point, counts and `passed`. A baseline
    of several GPUs is narrowed to the candidate's (`on_candidate_device`)."""
    baseline = on_candidate_device(baseline, candidate)
    env = check_comparable(baseline, candidate, ignore_env)
    b_groups, c_groups = group_points(baseline), group_points(candidate)
    keys = sorted(set(b_groups) | set(c_groups))
    if not set(b_groups) & set(c_groups):
        raise UserError(f"the runs have no point in common (baseline {len(b_groups)} points, candidate "
                        f"{len(c_groups)}): different suites or settings")
    timed = sum(bool(_process_samples(b_groups.get(k, []))) and bool(_process_samples(c_groups.get(k, [])))
                for k in keys)
    per_point = dataclasses.replace(settings, confidence=1 - (1 - settings.confidence) / max(timed, 1))
    points = [compare_point(b_groups.get(key, []), c_groups.get(key, []), per_point) for key in keys]
    points.sort(key=lambda p: (-SEVERITY.index(p["verdict"]), p["label"]))
    counts = {v: sum(p["verdict"] == v for p in points) for v in SEVERITY if any(p["verdict"] == v for p in points)}
    return {"environment": env, "settings": {**settings.__dict__, "per_point_confidence": per_point.confidence},
            "points": points, "counts": counts,
            "passed": not any(p["verdict"] in FAILING for p in points),
            "runs": {"baseline": sorted({str(r.get("run_id")) for r in baseline}),
                     "candidate": sorted({str(r.get("run_id")) for r in candidate})}}
