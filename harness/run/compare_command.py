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

from harness.analysis import compare, compare_report
from harness.errors import UserError
from harness.run.typed_config import from_mapping


@dataclass
class CompareConfig:
    baseline: str
    candidate: str
    store: str = "results"  # where run ids are looked up
    ignore_env: list[str] = field(default_factory=list)
    markdown: Optional[str] = None  # also write the markdown report here
    json: Optional[str] = None  # also write the JSON report here


GATE_KEYS = {f.name for f in dataclasses.fields(compare.GateSettings)} - {"n_boot", "seed"}


def parse(argv: list[str]) -> tuple[CompareConfig, compare.GateSettings]:
    """`key=value` arguments -> the runs to compare and the gate's settings."""
    run_keys = {f.name for f in dataclasses.fields(CompareConfig)}
    values = {}
    for arg in argv:
        key, sep, text = arg.partition("=")
        if not sep or not key:
            raise UserError(f"compare: expected key=value, got {arg!r}; keys: {', '.join(sorted(run_keys | GATE_KEYS))}")
        value = yaml.safe_load(text) if text else ""
        values[key] = str(value) if key in run_keys - {"ignore_env"} else value
    unknown = sorted(set(values) - run_keys - GATE_KEYS)
    if unknown:
        raise UserError(f"unknown key compare.{unknown[0]}; valid keys: {', '.join(sorted(run_keys | GATE_KEYS))}")
    cfg = from_mapping(CompareConfig, {k: v for k, v in values.items() if k in run_keys}, where="compare")
    settings = from_mapping(compare.GateSettings, {k: v for k, v in values.items() if k in GATE_KEYS}, where="compare")
    if not 0 < settings.threshold < 1:
        raise UserError(f"compare.threshold={settings.threshold} is impossible: must be in (0, 1)")
    if not 0.5 < settings.confidence < 1:
        raise UserError(f"compare.confidence={settings.confidence} is impossible: must be in (0.5, 1)")
    return cfg, settings


def main(argv: list[str]) -> int:
    cfg, settings = parse(argv)
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
