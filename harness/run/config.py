"""The config schema and its composition: Hydra over `conf/`, the dataclasses as the schema.

Each suite's params dataclass (suites/*.py) and each launcher's dataclass is registered in
Hydra's ConfigStore as `<group>/<name>_schema`, and every model family without a YAML of its own
as `model/<name>` (models.registry finds the families); the YAML of `conf/suite/<name>.yaml` extends it
(`defaults: [<name>_schema, _self_]`) and holds only defaults and device profiles, so a key is
declared once, with its type, in Python. Every mistake becomes a one-line UserError naming
the bad group option or key and the valid ones (Hydra's own message is several lines with a
hint about HYDRA_FULL_ERROR).

`conf/` ships inside the wheel as `harness/conf` (pyproject.toml), so an installed
`swarm-bench` finds its config from any directory.
"""
from __future__ import annotations

import dataclasses
import functools

from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from harness.errors import UserError
from harness.run import launchers
from harness.structured import CONF_DIR, one_line
from models import registry as model_registry
from suites import registry as suites

LAUNCHER_SCHEMAS = {"local_gpus": launchers.LocalGpusConfig, "slurm": launchers.SlurmConfig}


def group_options(group: str) -> list[str]:
    names = {p.stem for p in (CONF_DIR / group).glob("*.yaml")}
    return sorted(names | set(model_registry.MODELS) if group == "model" else names)


def model_node(name: str) -> dict:
    """The `model=<name>` group of a family without its own conf/model/<name>.yaml: its name, a
    preset and every config key but the shared vocabulary and the options its variant pins,
    all null (the preset's value)."""
    family = model_registry.entry(name)
    keys = [f.name for f in dataclasses.fields(family.config_cls)
            if f.init and f.name != "vocab_size" and f.name not in family.fixed]
    return {"name": name, "preset": None, **dict.fromkeys(keys)}


def groups() -> list[str]:
    return sorted(p.name for p in CONF_DIR.iterdir() if p.is_dir() and not p.name.startswith("_"))


@functools.cache
def register_schemas() -> None:
    """Put every suite's and launcher's dataclass into Hydra's ConfigStore, once per process."""
    store = ConfigStore.instance()
    for name, entry in suites.SUITES.items():
        store.store(group="suite", name=f"{name}_schema", node=entry.params_cls)
    for name, schema in LAUNCHER_SCHEMAS.items():
        store.store(group="launcher", name=f"{name}_schema", node=schema)
    for name in model_registry.MODELS:  # a family is one file: conf/model/<name>.yaml is optional
        if not (CONF_DIR / "model" / f"{name}.yaml").exists():
            store.store(group="model", name=name, node=model_node(name))


def _first_line(exc: Exception) -> str:
    return next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)


def _compose(overrides: list[str]) -> DictConfig:
    register_schemas()
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            return compose(config_name="config", overrides=overrides)
    except (HydraException, OmegaConfBaseException) as exc:
        cause = exc.__cause__ if isinstance(exc.__cause__, OmegaConfBaseException) else exc
        if isinstance(cause, OmegaConfBaseException) and getattr(cause, "full_key", None):
            raise UserError(one_line(cause)) from None
        raise UserError(f"cannot apply overrides {' '.join(overrides)}: {_first_line(exc)}") from None


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
        raise UserError(f"cannot parse overrides {' '.join(argv)}: {_first_line(exc)}") from None
    group_names = groups()
    group_overrides = []
    for override, text in zip(parsed, argv):
        if override.key_or_group in group_names:
            value = override.value()
            if override.is_delete():
                raise UserError(f"{text}: a config group cannot be deleted; choose one of "
                                f"{', '.join(group_options(override.key_or_group))}")
            if not isinstance(value, str) or value not in group_options(override.key_or_group):
                raise UserError(f"unknown {override.key_or_group} {value!r}; valid: "
                                f"{', '.join(group_options(override.key_or_group))}")
            group_overrides.append(text)
    base = _compose(group_overrides)
    for override in parsed:
        if override.key_or_group not in group_names:
            if override.is_add() or override.is_force_add():
                raise UserError(f"adding keys is not supported: {override.input_line}; set an existing key")
            if override.is_delete():
                raise UserError(f"deleting keys is not supported: {override.input_line}; set the key instead")
            _check_key(base, override.key_or_group)
    return _compose(argv)


def to_container(cfg: DictConfig) -> dict:
    try:
        return OmegaConf.to_container(cfg, resolve=True)
    except OmegaConfBaseException as exc:
        raise UserError(f"cannot resolve config: {_first_line(exc)}") from None


def parse_key_values(argv: list[str], where: str, valid: list[str]) -> dict:
    """`key=value` arguments of a command (Hydra's override grammar, so values read as they do
    after `suite=`), as a mapping; anything else is a UserError naming the valid keys."""
    for arg in argv:
        if "=" not in arg or arg.startswith("="):
            raise UserError(f"{where}: expected key=value, got {arg!r}; keys: {', '.join(valid)}")
    try:
        parsed = OverridesParser.create().parse_overrides(argv)
    except HydraException as exc:
        raise UserError(f"{where}: cannot parse {' '.join(argv)}: {_first_line(exc)}; keys: {', '.join(valid)}") from None
    values = {}
    for override in parsed:
        if override.is_delete() or override.is_add() or override.is_force_add() or "." in override.key_or_group:
            raise UserError(f"{where}: expected key=value, got {override.input_line!r}; keys: {', '.join(valid)}")
        value = override.value()
        values[override.key_or_group] = value
    return values


