"""Compose the Hydra config from command-line overrides, turning every mistake into a
one-line UserError that names the bad group option or key and lists the valid ones.

Hydra itself would print a multi-line message with a hint about HYDRA_FULL_ERROR; a user
who typed `suite=scalng` or `suite.seq_len=...` deserves one line and the valid choices.
"""
from __future__ import annotations

from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from harness.errors import UserError

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"


def group_options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))


def groups() -> list[str]:
    return sorted(p.name for p in CONF_DIR.iterdir() if p.is_dir())


def _first_line(exc: Exception) -> str:
    return next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)


def _compose(overrides: list[str]) -> DictConfig:
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            return compose(config_name="config", overrides=overrides)
    except (HydraException, OmegaConfBaseException) as exc:
        raise UserError(f"cannot apply overrides {' '.join(overrides)}: {_first_line(exc)}") from exc


def _check_key(cfg: DictConfig, key: str) -> None:
    parts = key.split(".")
    node = cfg
    for depth, part in enumerate(parts):
        if not isinstance(node, DictConfig) or part not in node:
            where = ".".join(parts[:depth]) or "the config"
            valid = ", ".join(sorted(str(k) for k in node.keys())) if isinstance(node, DictConfig) else "(none: not a mapping)"
            hint = " (use model=<name> first)" if parts[0] == "model" and "model" not in cfg else ""
            raise UserError(f"unknown key {key!r}{hint}; valid keys of {where}: {valid}")
        node = node[part]


def compose_config(argv: list[str]) -> DictConfig:
    """The composed config for `argv` (Hydra override syntax), or a UserError."""
    try:
        parsed = OverridesParser.create().parse_overrides(argv)
    except HydraException as exc:
        raise UserError(f"cannot parse overrides {' '.join(argv)}: {_first_line(exc)}") from exc
    group_names = groups()
    group_overrides = []
    for override, text in zip(parsed, argv):
        if override.key_or_group in group_names:
            value = override.value()
            if isinstance(value, str) and value not in group_options(override.key_or_group):
                raise UserError(f"unknown {override.key_or_group} {value!r}; valid: "
                                f"{', '.join(group_options(override.key_or_group))}")
            group_overrides.append(text)
    base = _compose(group_overrides)
    for override in parsed:
        if override.key_or_group not in group_names:
            if override.is_add() or override.is_force_add():
                raise UserError(f"adding keys is not supported: {override.input_line}; set an existing key")
            _check_key(base, override.key_or_group)
    return _compose(argv)


def to_container(cfg: DictConfig) -> dict:
    try:
        return OmegaConf.to_container(cfg, resolve=True)
    except OmegaConfBaseException as exc:
        raise UserError(f"cannot resolve config: {_first_line(exc)}") from exc
