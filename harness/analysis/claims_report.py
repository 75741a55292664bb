"""The claims ledger's report: every claim of harness.analysis.claims_catalog evaluated over a
results store, once per GPU the store holds (newest results first; harness.analysis.claims
evaluate_by_gpu), and written as claims.md (per GPU: the ledger table, then each rule and the
points it used) and claims.json (one row per claim and GPU, with its `gpu`). `swarm-bench claims
store=<dir> out=<dir>` and the claims suite (`python run.py suite=claims`) both call `write`.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from harness.analysis.claims import VERDICTS, evaluate_by_gpu
from harness.analysis.claims_catalog import CLAIMS
from harness.store import results


def _counts(rows: list[dict]) -> str:
    counts = pd.Series([r["verdict"] for r in rows], dtype=object).value_counts().to_dict()
    return ", ".join(f"{counts.get(v, 0)} {v}" for v in VERDICTS)


def report_markdown(by_gpu: dict[str, list[dict]], store: str, out_dir: str | None = None) -> str:
    """The ledger as markdown, one section per GPU; `store` and `out_dir` (default: the store)
    name the command that writes it."""
    lines = [
        "# Claims ledger", "",
        f"Every claim of the swarm's documents, with a verdict computed from the results in `{store}` "
        f"(`swarm-bench claims store={store} out={store if out_dir is None else out_dir}`), once per GPU: "
        "no ratio mixes two GPUs. Latency intervals are between-process (each point in >= 3 processes); a "
        "timed verdict on fewer processes, or on a noisy point, is inconclusive.", "",
    ]
    lines += [f"- {gpu}: {_counts(rows)}" for gpu, rows in by_gpu.items()] or ["No results yet."]
    for gpu, rows in by_gpu.items():
        lines += ["", f"## {gpu}", ""] + _ledger(rows)
    return "\n".join(lines) + "\n"


def _ledger(rows: list[dict]) -> list[str]:
    lines = [
        "| claim | source | verdict | key figure | our conditions | claim's conditions |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        ours = ", ".join(f"{k} {v}" for k, v in r["conditions"].items() if v not in (None, ""))
        cells = [f"“{r['text']}”", r["source"], f"**{r['verdict']}**", r["detail"], ours or "-", r["claim_conditions"]]
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
    lines += ["", "### Rules and data", ""]
    for r in rows:
        lines.append(f"- **{r['id']}**: {r['rule']} Needs: {r['needs']}. Points: {', '.join(r['points']) or 'none'}.")
    return lines


def write(store: str, out_dir: str) -> list[str]:
    """Evaluate the ledger over `store`, write claims.md and claims.json to `out_dir`; returns
    one printable line per claim and one naming the files."""
    by_gpu = evaluate_by_gpu(results.load(store), CLAIMS)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "claims.md").write_text(report_markdown(by_gpu, str(store), str(out_dir)))
    flat = [{"gpu": gpu, **row} for gpu, rows in by_gpu.items() for row in rows]
    (out / "claims.json").write_text(json.dumps(flat, indent=1, default=str))
    return [f"{gpu}: {r['verdict']:>13}  {r['id']}: {r['detail']}" for gpu, rows in by_gpu.items() for r in rows] + \
        [f"wrote {out / 'claims.md'} and {out / 'claims.json'}"]
