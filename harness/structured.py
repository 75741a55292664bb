"""Dataclass schemas checked by OmegaConf's structured configs, with one-line errors.

Every config the harness reads (the top-level keys, each suite's params, a launcher, the
`compare`, `claims` and `corpus build` commands) is a dataclass; `from_mapping` validates a
plain mapping against it with `OmegaConf.structured` (unknown keys, wrong types, missing
values) and returns the dataclass instance. `one_line` turns the OmegaConf error that Hydra
raises while composing the same schemas into the same message, so a mistake reads the same
wherever it is made:

    unknown key suite.seq_len; valid keys: ...
    config.seed: expected int, got 'abc'
    suite.seq_lens[1]: expected int, got 'x'
"""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any, Mapping, TypeVar

from omegaconf import OmegaConf
from omegaconf.errors import ConfigKeyError, MissingMandatoryValue, OmegaConfBaseException, ValidationError

from harness.errors import UserError

T = TypeVar("T")
_HARNESS = Path(__file__).resolve().parent
# the Hydra config tree: conf/ beside harness/ in a checkout, harness/conf inside the wheel
CONF_DIR = next((p for p in (_HARNESS / "conf", _HARNESS.parent / "conf") if (p / "config.yaml").exists()),
                _HARNESS.parent / "conf")
_TYPE_WORDS = {"Integer": "int", "Float": "float", "Boolean": "bool", "String": "str"}


def shipped_suite_value(suite: str, key: str) -> list:
    """`suite.<key>` as conf/suite/<suite>.yaml ships it, as plain lists and dicts; [] where the
    conf or the key is absent."""
    path = CONF_DIR / "suite" / f"{suite}.yaml"
    return (OmegaConf.to_container(OmegaConf.load(path)).get(key) or []) if path.exists() else []


def _qualified(where: str, key: str) -> str:
    return f"{where}.{key}" if where and key else (where or key)


def one_line(exc: OmegaConfBaseException, where: str = "", valid: list[str] | None = None) -> str:
    """The message for an OmegaConf validation error raised under the node named `where`."""
    key = str(getattr(exc, "full_key", "") or "")
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, ConfigKeyError) or "not in struct" in text or text.startswith("Key '"):
        missing = re.search(r"Key '([^']+)'", text)
        name = _qualified(where, key or (missing.group(1) if missing else "?"))
        return f"unknown key {name}" + (f"; valid keys: {', '.join(valid)}" if valid else "")
    if isinstance(exc, MissingMandatoryValue):
        return f"missing key {_qualified(where, key)}"
    if isinstance(exc, ValidationError):
        converted = re.search(r"could not be converted to (\w+)", text)
        value = getattr(exc, "value", None)
        if converted:
            return f"{_qualified(where, key)}: expected {_TYPE_WORDS.get(converted.group(1), converted.group(1))}, " \
                   f"got {value!r}"
        if "is not a ListConfig" in text:
            return f"{_qualified(where, key)}: expected a list, got {value!r}"
        if "is not a subclass of" in text or "DictConfig" in text:
            return f"{_qualified(where, key)}: expected a mapping, got {value!r}"
        if "Non optional field cannot be assigned None" in text:
            return f"{_qualified(where, key)}: expected a value, got None"
    return f"{_qualified(where, key)}: {text}" if key else text


def field_names(cls: type) -> list[str]:
    return sorted(f.name for f in dataclasses.fields(cls) if f.init)


def from_mapping(cls: type[T], mapping: Mapping[str, Any], where: str) -> T:
    """Instantiate dataclass `cls` from `mapping`; unknown keys, wrong types and missing values
    raise a UserError naming the key (`where.key`) and what is valid."""
    names = field_names(cls)
    unknown = sorted(set(mapping) - set(names))
    if unknown:
        raise UserError(f"unknown key {where}.{unknown[0]}; valid keys: {', '.join(names)}")
    try:
        merged = OmegaConf.merge(OmegaConf.structured(cls), dict(mapping))
        return OmegaConf.to_object(merged)
    except OmegaConfBaseException as exc:
        raise UserError(one_line(exc, where, names)) from None

