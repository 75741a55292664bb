"""`python run.py compare baseline=<run> candidate=<run> [key=value ...]`: the regression gate.

A run is a results directory, a JSON file of records, or a run id (prefix) in `store`.
Prints the table; `markdown=PATH` and `json=PATH` also write those reports. Exit codes:
0 no regression, 1 a point regressed, failed or changed, 2 bad input or incomparable runs.

    python run.py suite=regression results_dir=runs/candidate
    python run.py compare baseline=results/reference/regression candidate=runs/candidate markdown=gate.md
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import yaml

from harness import compare, compare_report
from harness.errors import UserError
from harness.typed_config import from_mapping


@dataclass
class CompareConfig:
    baseline: str
    candidate: str
    store: str = "results"  # where run ids are looked up
    threshold: float = 0.10
    confidence: float = 0.95
    mem_rtol: float = 0.01
    mem_atol_mb: float = 1.0
    rss_rtol: float = 0.05
    rss_atol_mb: float = 16.0
    loss_atol: float = 0.02
    ignore_env: list[str] = field(default_factory=list)
    markdown: Optional[str] = None  # also write the markdown report here
    json: Optional[str] = None  # also write the JSON report here


def parse(argv: list[str]) -> CompareConfig:
    values = {}
    for arg in argv:
        key, sep, text = arg.partition("=")
        if not sep or not key:
            raise UserError(f"compare: expected key=value, got {arg!r}; keys: "
                            + ", ".join(f.name for f in dataclasses.fields(CompareConfig)))
        value = yaml.safe_load(text) if text else ""
        values[key] = str(value) if key in ("baseline", "candidate", "store", "markdown", "json") else value
    cfg = from_mapping(CompareConfig, values, where="compare")
    if not 0 < cfg.threshold < 1:
        raise UserError(f"compare.threshold={cfg.threshold} is impossible: must be in (0, 1)")
    if not 0.5 < cfg.confidence < 1:
        raise UserError(f"compare.confidence={cfg.confidence} is impossible: must be in (0.5, 1)")
    return cfg


def main(argv: list[str]) -> int:
    cfg = parse(argv)
    settings = compare.GateSettings(threshold=cfg.threshold, confidence=cfg.confidence, mem_rtol=cfg.mem_rtol,
                                    mem_atol_mb=cfg.mem_atol_mb, rss_rtol=cfg.rss_rtol, rss_atol_mb=cfg.rss_atol_mb,
                                    loss_atol=cfg.loss_atol)
    baseline = compare.load_run(cfg.baseline, cfg.store)
    candidate = compare.load_run(cfg.candidate, cfg.store)
    result = compare.compare_runs(baseline, candidate, settings, tuple(cfg.ignore_env))
    print(compare_report.table(result))
    for path, render in ((cfg.markdown, compare_report.markdown), (cfg.json, compare_report.as_json)):
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text(render(result))
            print(f"wrote {path}")
    return 0 if result["passed"] else 1
