"""suite=claims: run every measurement the claims ledger (harness.analysis.claims_catalog) rests on, then
write its report.

`runs` lists sub-runs exactly as they would be typed after `python run.py` (a suite, an optional
model, overrides). Their points are built by their own suites, on this run's device, dtype and
seed, and run as one sweep into the same store, so points already stored are reused, not
measured again (`force=true` redoes them). After the sweep the ledger is evaluated over the whole
store and written to `<results_dir>/claims.md` and `claims.json`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from harness.errors import UserError
from harness.store.points import Point, point_id
from suites import registry as suite_registry
from suites.common import RunContext, require


@dataclass(kw_only=True)
class ClaimsParams:
    name: str
    runs: list[list[str]]
    profiles: dict = field(default_factory=dict)


def _sub_run(overrides: list[str], ctx: RunContext, where: str) -> list[Point]:
    require(all(isinstance(o, str) and "=" in o for o in overrides),
            f"{where} = {overrides}: expected overrides such as [suite=scaling, model=mamba, suite.seq_lens=[2048]]")
    require(not any(o.split("=")[0].lstrip("+~") in ("device", "dtype", "seed", "vocab_size", "results_dir")
                    for o in overrides), f"{where}: device, dtype, seed, vocab_size and results_dir are the claims run's own")
    require(ctx.expand is not None, "suite=claims needs the command line's sub-run expansion (RunContext.expand)")
    try:
        return ctx.expand(list(overrides))
    except UserError as exc:
        raise UserError(f"{where}: {exc}") from exc


def build_points(params: ClaimsParams, ctx: RunContext) -> tuple[list[Point], str]:
    require(ctx.model_choice is None, "suite=claims takes its models from suite.runs; drop model=")
    require(bool(params.runs), "suite.runs is empty: nothing would be measured")
    points, seen = [], set()
    for i, overrides in enumerate(params.runs):
        for point in _sub_run(overrides, ctx, f"suite.runs[{i}]"):
            pid = point_id(point.config)
            if pid not in seen:
                seen.add(pid)
                points.append(point)
    return points, f"the measurements of the claims ledger: {len(params.runs)} sub-runs; stored points are reused"


def write_report(params: ClaimsParams, store: str) -> None:
    from harness.analysis import claims_report

    for line in claims_report.write(store, store):
        print(line)


suite_registry.register("claims", ClaimsParams, build_points, write_report,
                        summary="every measurement the claims ledger needs, then claims.md")
