"""`swarm-bench -m key=a,b other=x,y ...`: Hydra's sweep syntax, run as one sweep.

Each combination of the swept values (Hydra's override grammar: `a,b,c`, `range(0,3)`,
`choice(...)`, `glob(...)`) is composed and built as its own command line would be; their
points then run as one sweep into one store, under one lock, with one summary table and one
exit code, and a point two combinations share runs once. Hydra's own multirun would start each
combination as a separate job with its own output folder (`multirun/<date>/...`); here nothing
is written outside the store. Keys that belong to the run, not to its points (the store, the
launcher, force, ...), cannot be swept.
"""
from __future__ import annotations

import itertools

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException

from harness.errors import UserError
from harness.structured import one_line

FLAGS = ("-m", "--multirun")
RUN_LEVEL = ("results_dir", "force", "progress", "dry_run", "isolation", "wait", "launcher")


def requested(argv: list[str]) -> bool:
    return any(a in FLAGS for a in argv)


def without_flag(argv: list[str]) -> list[str]:
    return [a for a in argv if a not in FLAGS]


def combinations(argv: list[str]) -> tuple[list[list[str]], list[str], str]:
    """The command line of each combination, its swept values as a tag ("seed=1 model=mamba"),
    and a title naming the swept keys."""
    try:
        overrides = OverridesParser.create().parse_overrides(argv)
    except HydraException as exc:
        raise UserError(f"cannot parse overrides: {one_line(exc)}") from None
    fixed, swept, title = [], [], []
    for override in overrides:
        if not override.is_sweep_override():
            fixed.append(override.input_line)
            continue
        key = override.get_key_element()
        if key.lstrip("+~").split(".")[0] in RUN_LEVEL:
            raise UserError(f"{key} cannot be swept: it belongs to the whole run; valid to sweep: any suite, model or "
                            "point key (seed, device, dtype, suite.*, model.*)")
        values = list(override.sweep_string_iterator())
        swept.append([f"{key}={value}" for value in values])
        title.append(f"{key}={','.join(values)}")
    chosen = list(itertools.product(*swept))
    title_text = f"{len(chosen)} combinations of " + " x ".join(title) if title else "1 combination"
    return [fixed + list(c) for c in chosen], [" ".join(c) for c in chosen], title_text
