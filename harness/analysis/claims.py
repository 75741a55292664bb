"""The claims ledger's core: each quantitative claim of the swarm's documents (the Mamba Encoder
Swarm design document, mes-design.txt; the Mamba-MoE write-up, mamba-r1-moe.txt; the design
brief's table of claims under test) as code, with a verdict computed from stored results, never
from a guess.

A `Claim` holds the quoted text and where it stands, the claim's own conditions, what must be
measured, and the rule in words; its `evaluate` turns the results table into a `Finding`:
`supported | refuted | inconclusive | not measured`, with the numbers, our conditions (GPU,
dtype, sizes) and the points used. Ratios use the latency CIs of both points, so a verdict
flips only when the whole interval is on one side of the threshold.

This module holds the types and verdict helpers only; the claims themselves are in
harness.analysis.claims_catalog, the written report in harness.analysis.claims_report.

    python run.py suite=claims                                           # measure what is missing, then report
    swarm-bench claims store=results/reference out=results/reference     # report only
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import pandas as pd

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


def evaluate_all(df: pd.DataFrame, claims: list[Claim]) -> list[dict]:
    rows = []
    for claim in claims:
        finding = claim.evaluate(df)
        if finding.verdict not in VERDICTS:
            raise ValueError(f"claim {claim.id}: verdict {finding.verdict!r} not in {VERDICTS}")
        rows.append({**{k: v for k, v in asdict(claim).items() if k != "evaluate"}, **asdict(finding)})
    return rows


def exponent_verdict(fit: dict, claimed: float, margin: float = 0.2) -> tuple[str, float, float]:
    """A claimed power-law exponent against a fit, as an equivalence test: supported when the
    whole 95% CI lies within `margin` of the claim, refuted when it lies wholly outside that
    band, inconclusive when it straddles an edge."""
    lo, hi = fit["ci_lo"] - 1e-9, fit["ci_hi"] + 1e-9  # an exact fit has a zero-width CI
    if claimed - margin <= lo and hi <= claimed + margin:
        return "supported", lo, hi
    return ("refuted" if hi < claimed - margin or lo > claimed + margin else "inconclusive"), lo, hi
