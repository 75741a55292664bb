"""suite=claims composes its sub-runs' points without duplicates, refuses what it cannot run,
and writes the report after the sweep."""
from __future__ import annotations

import json

from harness.store import results
from tests.test_cli import run_cli


def test_claims_suite_runs_its_sub_runs_then_writes_the_report(tmp_path):
    runs = ("suite.runs=[['suite=smoke','model=mamba','suite.seq_lens=[16]','suite.modes=[forward]'],"
            "['suite=smoke','model=mamba','suite.seq_lens=[16,32]','suite.modes=[forward]']]")
    out = run_cli("suite=claims", runs, f"results_dir={tmp_path}", "progress=false")
    assert out.returncode == 0, out.stderr
    assert "2 points" in out.stdout  # L=16 is asked twice and measured once
    assert len(results.load(tmp_path)) == 2
    ledger = json.loads((tmp_path / "claims.json").read_text())
    assert {r["verdict"] for r in ledger} == {"not measured"}  # smoke points back no claim
    assert (tmp_path / "claims.md").read_text().startswith("# Claims ledger")


def test_claims_suite_refuses_bad_sub_runs():
    out = run_cli("suite=claims", "suite.runs=[['suite=scalng']]", "dry_run=true")
    assert out.returncode == 2 and "suite.runs[0]" in out.stderr and "valid:" in out.stderr
    out = run_cli("suite=claims", "suite.runs=[['suite=smoke','device=cuda']]", "dry_run=true")
    assert out.returncode == 2 and "the claims run's own" in out.stderr
    out = run_cli("suite=claims", "model=mamba", "dry_run=true")
    assert out.returncode == 2 and "drop model=" in out.stderr
