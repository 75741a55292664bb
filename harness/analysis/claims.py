"""The claims ledger: each quantitative claim of the swarm's documents (shared/seeds/) as code,
with a verdict computed from stored results, never from a guess.

A `Claim` holds the quoted text and where it stands, the claim's own conditions, what must be
measured, and the rule in words; its `evaluate` turns the results table into a `Finding`:
`supported | refuted | inconclusive | not measured`, with the numbers, our conditions (GPU,
dtype, sizes) and the points used. Ratios use the latency CIs of both points, so a verdict
flips only when the whole interval is on one side of the threshold.

    python run.py suite=claims                       # measure what is missing, then report
    python -m harness.analysis.claims --store results/reference --out results/reference   # report only
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd

from harness.store import results

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
    source: str  # file:line in shared/seeds/
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


def report_markdown(rows: list[dict], store: str) -> str:
    counts = pd.Series([r["verdict"] for r in rows]).value_counts().to_dict()
    lines = [
        "# Claims ledger", "",
        f"Every claim of the swarm's documents, with a verdict computed from the results in `{store}` "
        f"(`python -m harness.analysis.claims --store {store}`). "
        + ", ".join(f"{counts.get(v, 0)} {v}" for v in VERDICTS) + ".", "",
        "| claim | source | verdict | key figure | our conditions | claim's conditions |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        ours = ", ".join(f"{k} {v}" for k, v in r["conditions"].items() if v not in (None, ""))
        cells = [f"“{r['text']}”", r["source"], f"**{r['verdict']}**", r["detail"], ours or "-", r["claim_conditions"]]
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
    lines += ["", "## Rules and data", ""]
    for r in rows:
        lines.append(f"- **{r['id']}**: {r['rule']} Needs: {r['needs']}. Points: {', '.join(r['points']) or 'none'}.")
    return "\n".join(lines) + "\n"


def write(store: str, out_dir: str) -> list[str]:
    """Evaluate the ledger over `store`, write claims.md and claims.json to `out_dir`; returns
    one printable line per claim and one naming the files."""
    from harness.analysis.claims_catalog import CLAIMS

    rows = evaluate_all(results.load(store), CLAIMS)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "claims.md").write_text(report_markdown(rows, str(store)))
    (out / "claims.json").write_text(json.dumps(rows, indent=1, default=str))
    return [f"{r['verdict']:>13}  {r['id']}: {r['detail']}" for r in rows] + \
        [f"wrote {out / 'claims.md'} and {out / 'claims.json'}"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Evaluate the claims ledger over a results store.")
    parser.add_argument("--store", default=str(results.DEFAULT_STORE))
    parser.add_argument("--out", default=str(results.DEFAULT_STORE), help="directory for claims.md and claims.json")
    args = parser.parse_args(argv)
    try:
        for line in write(args.store, args.out):
            print(line)
    except BrokenPipeError:  # piped into `head`: the files are written; stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
