"""The quality report lists every run that did not end ok, with its exception's last line."""
from __future__ import annotations

from harness.analysis import quality_report
from harness.store import results


def test_runs_that_did_not_end_ok_are_listed_not_dropped(tmp_path):
    store = tmp_path / "store"
    error = "Traceback (most recent call last):\n  File \"train.py\", line 126\nTypeError: RNG state must be a torch.ByteTensor\n"
    failed = [({"suite": "quality", "mode": "quality", "label": "swarm-5", "size": "d256", "seed": 2, "lr": 0.004},
               {"status": "error", "error": error}),
              ({"suite": "quality", "mode": "synthetic", "label": "mamba", "seed": 0, "lr": 0.002},
               {"status": "timeout", "error": None})]
    for i, (config, outcome) in enumerate(failed):
        results.write_record(store, f"{i:016x}", "run", config, outcome)
    lines = quality_report.write(store / "quality", calibration=[], feature_models=[])
    at = lines.index(f"## {quality_report.NOT_OK_HEADING}")
    rows = [line for line in "\n".join(lines[at:]).splitlines() if line.startswith("| ") and "status" not in line]
    assert len(rows) == 2
    assert any("swarm-5" in r and "d256" in r and "TypeError: RNG state must be a torch.ByteTensor" in r for r in rows)
    assert any("mamba" in r and "timeout" in r for r in rows)
    assert "Runs that did not end ok" in (store / "quality" / "report.md").read_text()
