"""The suite registry, a leaf: each suite module registers itself here at import.

A suite is a params dataclass (its schema: keys and types; `conf/suite/<name>.yaml` holds its
defaults and device profiles), a point builder, and optionally a step after the sweep.
Adding a suite is one module in suites/ (listed in suites/__init__.py) and its YAML.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from harness.errors import UserError


@dataclass(frozen=True)
class SuiteEntry:
    params_cls: type
    build_points: Callable  # (params, RunContext) -> (list[Point], profile description | None)
    after_run: Optional[Callable] = None  # (params, results_dir) -> None, once the sweep is done
    summary: str = ""  # one line for --help


SUITES: dict[str, SuiteEntry] = {}


def register(name: str, params_cls: type, build_points: Callable, after_run: Optional[Callable] = None,
             summary: str = "") -> None:
    SUITES[name] = SuiteEntry(params_cls, build_points, after_run, summary)


def entry(name: str) -> SuiteEntry:
    if name not in SUITES:
        raise UserError(f"unknown suite {name!r}; valid: {', '.join(sorted(SUITES))}")
    return SUITES[name]
