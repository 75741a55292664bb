"""The model registry: every measurable model family, its presets and how to build it.

Families register themselves: each module of the `models` package that defines
`MODEL_FAMILIES` (a list of models.family.ModelEntry) is imported on first use and its entries
join `MODELS`, sorted by name. Values arrive type-checked by the caller (the harness checks
overrides against the config dataclass); this module checks names and ranges.
"""
from __future__ import annotations

import dataclasses
import functools
import importlib
import importlib.util
import pkgutil
import typing
from pathlib import Path

from models.errors import ModelConfigError
from models.family import ModelEntry


@functools.cache
def _families() -> dict[str, ModelEntry]:
    import models

    found: dict[str, ModelEntry] = {}
    for module in pkgutil.walk_packages(models.__path__, prefix="models."):
        origin = importlib.util.find_spec(module.name).origin
        if not origin or "\nMODEL_FAMILIES" not in Path(origin).read_text():  # import only the family files
            continue
        for e in getattr(importlib.import_module(module.name), "MODEL_FAMILIES", []):
            if e.name in found:
                raise RuntimeError(f"model {e.name!r} is registered twice ({module.name})")
            found[e.name] = e
    return dict(sorted(found.items()))


def __getattr__(name: str):
    if name == "MODELS":  # {name: ModelEntry}, found on first use (PEP 562)
        return _families()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# Integer config fields where 0 means something (off, or "the default size"); every other
# integer field (sizes, counts, lengths) must be >= 1.
ZERO_ALLOWED = frozenset({"d_ff", "generalists", "share_rank", "min_capacity", "capacity_window"})


def entry(name: str) -> ModelEntry:
    if name not in _families():
        raise ModelConfigError(f"unknown model {name!r}; valid: {', '.join(_families())}")
    return _families()[name]


def _config(cls: type, values: dict, where: str):
    """The default `cls` with `values` replaced; an unknown key names the valid ones. An int
    given for a float field becomes a float, so a resolved config has one spelling."""
    hints = typing.get_type_hints(cls)
    names = sorted(f.name for f in dataclasses.fields(cls) if f.init)
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise ModelConfigError(f"unknown key {where}.{unknown[0]}; valid keys: {', '.join(names)}")
    widened = {k: float(v) if hints[k] is float and type(v) is int else v for k, v in values.items()}
    return dataclasses.replace(cls(), **widened)


def resolve_config(name: str, preset: str, overrides: dict | None = None) -> dict:
    """The full, validated config of model `name` at `preset` with `overrides`, as a plain dict."""
    e = entry(name)
    if preset not in e.presets:
        raise ModelConfigError(f"unknown preset {preset!r} for model {name!r}; valid: {', '.join(e.presets)}")
    cfg = _config(e.config_cls, {**e.presets[preset], **(overrides or {}), **e.fixed}, where=f"model[{name}]")
    for key, value in dataclasses.asdict(cfg).items():
        if isinstance(value, int) and not isinstance(value, bool) and value < (0 if key in ZERO_ALLOWED else 1):
            raise ModelConfigError(f"model[{name}].{key}={value} is impossible: must be >= "
                                   f"{0 if key in ZERO_ALLOWED else 1}")
    resolved = dataclasses.asdict(cfg)
    defaults = e.config_cls()
    for key in getattr(e.config_cls, "ADDED_LATER", ()):  # at its default, a later field stays out of the point id
        if resolved[key] == getattr(defaults, key):
            del resolved[key]
    return resolved


def build(name: str, config: dict):
    """Instantiate model `name` from a resolved config dict (see resolve_config)."""
    e = entry(name)
    try:
        return e.build(e.config_cls(**config))
    except ValueError as exc:
        raise ModelConfigError(f"model[{name}]: {exc}") from exc
