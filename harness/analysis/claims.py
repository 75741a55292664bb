"""The claims ledger's core: each quantitative claim of the swarm's documents (the Mamba Encoder
Swarm design document, mes-design.txt; the Mamba-MoE write-up, mamba-r1-moe.txt; the design
brief's table of claims under test) as code, with a verdict computed from stored results, never
from a guess.

A `Claim` holds the quoted text and where it stands, the claim's own conditions, what must be
measured, and the rule in words; its `evaluate` turns the results table into a `Finding`:
`supported | refuted | inconclusive | not measured`, with the numbers, our conditions (GPU,
dtype, sizes) and the points used. Ratios use the latency CIs of both points, so a verdict
flips only when the whole interval is on one side of the threshold. The table a claim sees has
one row per point, its processes pooled (harness.analysis.claims_pool): the latency CIs are
between-process intervals, and a timed claim (`timed`) whose points ran in fewer than 3
processes, or are noisy, is inconclusive however its interval falls. The ledger is evaluated
per GPU (`evaluate_by_gpu`), so no ratio mixes two GPUs.

This module holds the types and verdict helpers only; the claims themselves are in
harness.analysis.claims_catalog, the written report in harness.analysis.claims_report.

    python run.py suite=claims                                           # measure what is missing, then report
    swarm-bench claims store=results/reference out=results/reference     # report only
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import pandas as pd

from harness.analysis import claims_pool

VERDICTS = ("supported", "refuted", "inconclusive", "not measured")


@dataclass(frozen=True)
class Finding:
    verdict: str
    detail: str  # the key figure in words
    measured: dict = field(default_factory=dict)  # name -> number
    conditions: dict = field(default_factory=dict)  # where we measured: gpu, dtype, sizes
    points: list = field(default_factory=list)  # point ids the verdict rests on


@dataclass(frozen=True)
class Claim:
    id: str
    text: str  # verbatim from the source
    source: str  # file:line of the source document
    claim_conditions: str  # what the claim itself assumes
    needs: str  # the measurements: suite and filters
    rule: str  # comparison and threshold, in words
    evaluate: Callable[[pd.DataFrame], Finding]
    timed: bool = False  # decided by latencies or throughputs: needs >= 3 processes per point, none noisy


def not_measured(needs: str) -> Finding:
    return Finding("not measured", f"no stored result yet: {needs}")


def ratio_interval(num: pd.Series, den: pd.Series) -> tuple[float, float, float]:
    """(ratio of medians, low, high) of two latency points from their 95% CIs."""
    ratio = num["latency_ms_p50"] / den["latency_ms_p50"]
    lo = num.get("latency_ms_ci_lo", num["latency_ms_p50"]) / den.get("latency_ms_ci_hi", den["latency_ms_p50"])
    hi = num.get("latency_ms_ci_hi", num["latency_ms_p50"]) / den.get("latency_ms_ci_lo", den["latency_ms_p50"])
    return float(ratio), float(lo), float(hi)


def verdict_at_most(lo: float, hi: float, limit: float) -> str:
    """A claim that a quantity is at most `limit`: decided only when the interval is one side."""
    return "supported" if hi <= limit else ("refuted" if lo > limit else "inconclusive")


def verdict_at_least(lo: float, hi: float, limit: float) -> str:
    return "supported" if lo >= limit else ("refuted" if hi < limit else "inconclusive")


def conditions(*rows: pd.Series) -> dict:
    first = rows[0]
    return {"gpu": first.get("gpu_name") or "cpu", "dtype": first.get("dtype"),
            "batch_size": first.get("batch_size"), "seq_len": first.get("seq_len"),
            "models": ", ".join(f"{r['model']} ({int(r['params_active']):,} active params)" for r in rows
                                if pd.notna(r.get("params_active")))}


def _guarded(claim: Claim, finding: Finding, pooled: pd.DataFrame) -> Finding:
    """A timed verdict stands only on points of >= 3 processes, none noisy (claims_pool.decidable)."""
    if not claim.timed or finding.verdict not in ("supported", "refuted") or "point_id" not in pooled:
        return finding
    why = claims_pool.decidable(pooled[pooled["point_id"].isin(finding.points)])
    if why is None:
        return finding
    return Finding("inconclusive", f"{finding.detail}; would be {finding.verdict}, but {why}", finding.measured,
                   finding.conditions, finding.points)


def evaluate_all(df: pd.DataFrame, claims: list[Claim]) -> list[dict]:
    """Every claim over the results of one GPU (or CPU), processes pooled first."""
    pooled = claims_pool.pool_processes(df)
    rows = []
    for claim in claims:
        finding = _guarded(claim, claim.evaluate(pooled), pooled)
        if finding.verdict not in VERDICTS:
            raise ValueError(f"claim {claim.id}: verdict {finding.verdict!r} not in {VERDICTS}")
        rows.append({**{k: v for k, v in asdict(claim).items() if k != "evaluate"}, **asdict(finding)})
    return rows


def device_of(df: pd.DataFrame) -> pd.Series:
    """Each row's device: its GPU's name, or "cpu". A failed point records no environment; it
    takes the GPU of the other points of its run (or "cuda, GPU unknown")."""
    gpu = df["gpu_name"] if "gpu_name" in df else pd.Series(None, index=df.index, dtype=object)
    gpu = gpu.where(gpu.notna() & (gpu.astype(str) != ""))
    if "run_id" in df:
        gpu = gpu.fillna(df.assign(_gpu=gpu).groupby("run_id")["_gpu"].transform("first"))
    on_cuda = df["device"].astype(str).str.startswith("cuda") if "device" in df else pd.Series(False, index=df.index)
    return gpu.where(gpu.notna(), pd.Series("cuda, GPU unknown", index=df.index).where(on_cuda, "cpu")).astype(str)


def evaluate_by_gpu(df: pd.DataFrame, claims: list[Claim]) -> dict[str, list[dict]]:
    """`evaluate_all` once per device in the results, newest results first, devices without a
    single measured claim left out; a store without results gives one "no results" ledger."""
    if df.empty:
        return {"no results": evaluate_all(df, claims)}
    devices = device_of(df)
    newest = df.assign(_device=devices).groupby("_device")["created_at"].max() if "created_at" in df else None
    order = list(newest.sort_values(ascending=False).index) if newest is not None else sorted(set(devices))
    by_device = {device: evaluate_all(df[devices == device], claims) for device in order}
    return {device: rows for device, rows in by_device.items()
            if any(r["verdict"] != "not measured" for r in rows)} or dict(list(by_device.items())[:1])


def exponent_verdict(fit: dict, claimed: float, margin: float = 0.2) -> tuple[str, float, float]:
    """A claimed power-law exponent against a fit, as an equivalence test: supported when the
    whole 95% CI lies within `margin` of the claim, refuted when it lies wholly outside that
    band, inconclusive when it straddles an edge."""
    lo, hi = fit["ci_lo"] - 1e-9, fit["ci_hi"] + 1e-9  # an exact fit has a zero-width CI
    if claimed - margin <= lo and hi <= claimed + margin:
        return "supported", lo, hi
    return ("refuted" if hi < claimed - margin or lo > claimed + margin else "inconclusive"), lo, hi
