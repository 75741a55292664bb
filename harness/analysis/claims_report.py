"""The claims ledger's report: every claim of harness.analysis.claims_catalog evaluated over a
results store and written as claims.md (the ledger table, then each rule and the points it used)
and claims.json (one row per claim). `swarm-bench claims store=<dir> out=<dir>` and the claims
suite (`python run.py suite=claims`) both call `write`.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from harness.analysis.claims import VERDICTS, evaluate_all
from harness.analysis.claims_catalog import CLAIMS
from harness.store import results


def report_markdown(rows: list[dict], store: str, out_dir: str | None = None) -> str:
    """The ledger as markdown; `store` and `out_dir` (default: the store) name the command that
    writes it."""
    counts = pd.Series([r["verdict"] for r in rows]).value_counts().to_dict()
    lines = [
        "# Claims ledger", "",
        f"Every claim of the swarm's documents, with a verdict computed from the results in `{store}` "
        f"(`swarm-bench claims store={store} out={store if out_dir is None else out_dir}`). "
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
    rows = evaluate_all(results.load(store), CLAIMS)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "claims.md").write_text(report_markdown(rows, str(store), str(out_dir)))
    (out / "claims.json").write_text(json.dumps(rows, indent=1, default=str))
    return [f"{r['verdict']:>13}  {r['id']}: {r['detail']}" for r in rows] + \
        [f"wrote {out / 'claims.md'} and {out / 'claims.json'}"]
