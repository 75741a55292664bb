"""The suite registry: suite name (conf/suite/<name>.yaml) -> its params schema and point builder.

Adding a suite is one YAML file, plus a module here when it sweeps something new.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from harness.errors import UserError
from suites import claims, decode, distributed, encoders, quality, regression, scaling


@dataclass(frozen=True)
class SuiteEntry:
    params_cls: type
    build_points: Callable  # (params, RunContext) -> (list[Point], profile description | None)
    after_run: Optional[Callable] = None  # (params, results_dir) -> None, once the sweep is done


SUITES: dict[str, SuiteEntry] = {
    "smoke": SuiteEntry(scaling.ScalingParams, scaling.build_points),  # tiny models, seconds, any device
    "scaling": SuiteEntry(scaling.ScalingParams, scaling.build_points),  # sequence-length scaling
    "encoders": SuiteEntry(encoders.EncodersParams, encoders.build_points),  # swarm encoder count and top-k
    "claims": SuiteEntry(claims.ClaimsParams, claims.build_points, claims.write_report),  # the ledger's data
    "decode": SuiteEntry(decode.DecodeParams, decode.build_points),  # prefill, per-token decode, max batch
    "distributed": SuiteEntry(distributed.DistributedParams, distributed.build_points),  # encoders over GPUs
    "quality": SuiteEntry(quality.QualityParams, quality.build_points, quality.write_report),  # training from scratch, held-out bpb
    "regression": SuiteEntry(regression.RegressionParams, regression.build_points),  # CI gate (run.py compare)
}


def entry(name: str) -> SuiteEntry:
    if name not in SUITES:
        raise UserError(f"unknown suite {name!r}; valid: {', '.join(SUITES)}")
    return SUITES[name]
