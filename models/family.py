"""What a model family declares so that the harness can measure it.

A module anywhere in the `models` package that defines `MODEL_FAMILIES = [ModelEntry(...)]`
is found by models.registry; adding a family is that one file. A name may be a variant of a
family with fixed options (e.g. `transformer_eager`). A config field added after records
exist is named in the config class's `ADDED_LATER`; at its default it is left out of the
resolved config, so the point ids of every earlier record stay.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass(frozen=True)
class ModelEntry:
    name: str
    config_cls: type
    build: Callable[[Any], Any]
    presets: dict[str, dict]  # tiny | small | base (the suites' profiles name these)
    linear_time: bool  # cost grows linearly in sequence length: scaling sweeps extend its lengths
    fixed: dict = field(default_factory=dict)  # options a variant pins
