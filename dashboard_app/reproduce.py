"""The command line that measures a stored point again, from its record alone (no models, no
torch): `python run.py suite=<suite> ...` narrowed to the point's model, mode, sizes and
settings, each setting that differs from the suite's device profile (conf/suite/<suite>.yaml)
given explicitly, into a fresh store (`results/repro`, `force=true`). The model is chosen
with `model=<name>` and its command-line keys (conf/model/<name>.yaml) set to the record's
values, so a model sized to another one needs no reference run. `exact` says the command
runs this point only (the same point id, each of its processes); otherwise `note` says what
else the narrowest sweep that holds it runs (e.g. the swarm a baseline is matched to).
tests/test_dashboard_reproduce.py checks both against the suites' own point lists."""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
CONF = next((p for p in (ROOT / "conf", ROOT / "harness" / "conf") if (p / "config.yaml").exists()), ROOT / "conf")
OUT = "results/repro"
TIMING = ("warmup", "iters", "max_time_s", "energy_min_s")
MATCHED_TO = re.compile(r"(params_\w+) of swarm N=(\d+) k=(\d+)")


@dataclass(frozen=True)
class Command:
    args: tuple[str, ...]  # the overrides after `python run.py`
    exact: bool
    note: str

    @property
    def text(self) -> str:
        return "python run.py " + " ".join(shlex.quote(a) for a in self.args)


def value(v) -> str:
    """`v` in Hydra's override syntax: true/false, null, [a,b], {k: v}, quoted odd strings."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {value(x)}" for k, x in v.items()) + "}"
    if isinstance(v, str) and not re.fullmatch(r"[\w./@+-]+", v):
        return "'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return str(v)


def _yaml(path: Path) -> dict:
    return (yaml.safe_load(path.read_text()) or {}) if path.is_file() else {}


def defaults(suite: str, device_type: str) -> dict:
    """The suite's values on a device type: its YAML, null values (and a nested mapping's
    null keys) taken from the device profile, as suites.common.apply_profile fills them."""
    raw = _yaml(CONF / "suite" / f"{suite}.yaml")
    out = {k: v for k, v in raw.items() if k not in ("defaults", "profiles")}
    for key, v in ((raw.get("profiles") or {}).get(device_type) or {}).items():
        if isinstance(v, dict) and isinstance(out.get(key), dict):
            out[key] = {**v, **{k: x for k, x in out[key].items() if x is not None}}
        elif out.get(key) is None and key != "description":
            out[key] = v
    return out


def _same(a, b) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return float(a) == float(b)
    return a == b


def _set(args: list[str], d: dict, config: dict, keys, prefix: str = "suite.") -> None:
    """`suite.<key>=<record value>` for each of `keys` (a name, or (suite key, config key)) the
    record sets and the profile `d` does not."""
    for key in keys:
        name, field = key if isinstance(key, tuple) else (key, key)
        if field in config and not _same(config[field], d.get(name)):
            args.append(f"{prefix}{name}={value(config[field])}")


def model_args(name: str, model_config: dict) -> list[str] | None:
    """`model=<name>` and its command-line keys at the record's values; None where the model
    has no `conf/model/<name>.yaml` (a registry variant such as transformer_eager)."""
    keys = _yaml(CONF / "model" / f"{name}.yaml")
    if not keys:
        return None
    return [f"model={name}"] + [f"model.{k}={value(model_config[k])}" for k in keys
                                if k not in ("name", "preset") and k in model_config]


def _models(args: list[str], d: dict, config: dict) -> str:
    """The model of a suite that matches its models to the first (scaling, decode): by
    `model=` where it can, else in `suite.models` after its reference; what else that runs."""
    name, mc = config["model"], config.get("model_config") or {}
    chosen = model_args(name, mc)
    if chosen is not None:
        args += chosen
        return ""
    models = d.get("models") or [name]
    if d.get("match", "none") != "none" and name in models[1:]:
        args.append(f"suite.models={value([models[0], name])}")
        return f"{models[0]} too ({name} is sized to it and has no model= keys)"
    args.append(f"suite.models={value([name])}")
    return ""


def _repeats(args: list[str], d: dict, processes: int, key: str = "repeats") -> None:
    if processes != (d.get(key) or 1):
        args.append(f"suite.{key}={processes}")


def _scaling(c: dict, d: dict, n: int) -> tuple[list[str], str]:
    args: list[str] = []
    also = _models(args, d, c)
    mc = c.get("model_config") or {}
    if "capacity_factor" in mc and not any(a.startswith("model.capacity_factor=") for a in args):
        _set(args, d, mc, ["capacity_factor"])
    args += [f"suite.modes=[{c['mode']}]", f"suite.seq_lens=[{c['seq_len']}]"]
    if d.get("extend_seq_lens"):
        args.append("suite.extend_seq_lens=[]")
    _set(args, d, c, ["batch_size", *TIMING])
    _repeats(args, d, n)
    return args, also


def _decode(c: dict, d: dict, n: int) -> tuple[list[str], str]:
    args: list[str] = []
    also = _models(args, d, c)
    graphs = f"suite.cuda_graphs=[{value(bool(c.get('cuda_graphs')))}]"
    if c.get("sweep") == "max_batch":
        args += [f"suite.max_batch_context={c['seq_len']}", f"suite.max_batch_sizes=[{c['batch_size']}]", graphs,
                 f"suite.contexts=[{c['seq_len']}]", "suite.batch_sizes=[1]"]
        _set(args, d, c, [("max_batch_gen_tokens", "gen_tokens")])
        _repeats(args, d, n, "max_batch_repeats")
        also = ", ".join(filter(None, [also, "one latency point at batch 1 (the suite always has one)"]))
    else:
        args += [f"suite.contexts=[{c['seq_len']}]", f"suite.batch_sizes=[{c['batch_size']}]", graphs,
                 "suite.max_batch_sizes=[]"]
        _set(args, d, c, ["gen_tokens", "decode_repeats"])
        _repeats(args, d, n)
    _set(args, d, c, TIMING)
    return args, also


def _regression(c: dict, d: dict, n: int) -> tuple[list[str], str]:
    name, mc = c["model"], c.get("model_config") or {}
    args = model_args(name, mc) or [f"suite.models=[{name}]"]
    args.append(f"suite.presets=[{value(c.get('preset'))}]")
    shape = f"suite.shapes=[[{c['batch_size']},{c['seq_len']}]]"
    if c["mode"] != "loss":
        args += [shape, f"suite.modes=[{c['mode']}]", "suite.loss_steps=0"]
        _set(args, d, c, TIMING)
        _repeats(args, d, n)
        return args, ""
    args += [f"suite.loss_shape=[{c['batch_size']},{c['seq_len']}]", shape, "suite.modes=[forward]", "suite.repeats=1"]
    _set(args, d, c, ["loss_steps", ("loss_lr", "lr"), ("loss_branching", "branching"),
                      ("loss_data_vocab", "data_vocab")])
    _repeats(args, d, n, "loss_repeats")
    return args, "one forward timing point at that shape (the suite always times one)"


def _encoders(c: dict, d: dict, n: int) -> tuple[list[str], str]:
    mc, name, mode = c.get("model_config") or {}, c["model"], c["mode"]
    swarm_model = d.get("swarm_model", "swarm")
    args = [f"suite.modes=[{mode}]", f"suite.seq_lens=[{c['seq_len']}]"]
    matched = MATCHED_TO.fullmatch(str(c.get("matched_to") or ""))
    also = ""
    if matched:
        kind, big_n, k = matched.group(1), int(matched.group(2)), int(matched.group(3))
        entry = next((b for b in d.get("baselines") or [] if b.get("model") == name
                      and b.get("match", "params_active") == kind), {"model": name, "match": kind, "by": "depth"})
        args += [f"suite.n_encoders=[{big_n}]", f"suite.top_k=[{k}]", f"suite.baselines=[{value(entry)}]",
                 "suite.loop_n_encoders=[]"]
        if kind == "params_total":
            args.append(f"suite.total_match_n_encoders=[{big_n}]")
        if mode == "forward":
            also = f"the {swarm_model} N={big_n} k={k} it is matched to"
        else:
            args.append("suite.train_top_k=[]")
    else:
        swarm_model = name
        big_n, k = int(mc.get("n_encoders", 0)), int(mc.get("top_k", 0))
        loop = mc.get("pool_backend") == "loop"
        args += [f"suite.n_encoders=[{big_n}]", f"suite.top_k=[{k}]", "suite.baselines=[]",
                 f"suite.loop_n_encoders=[{big_n if loop else ''}]"]
        if mode == "train":
            args.append(f"suite.train_top_k=[{k}]")
        if loop:
            also = f"the same swarm with its default pool (N={big_n} k={k})"
    if swarm_model != d.get("swarm_model", "swarm"):
        args.append(f"suite.swarm_model={swarm_model}")
    _set(args, d, c, ["batch_size", *TIMING])
    _repeats(args, d, n)
    return args, also


def _distributed(c: dict, d: dict, n: int) -> tuple[list[str], str]:
    mc = c.get("model_config") or {}
    args = [f"suite.n_encoders=[{mc.get('n_encoders')}]", f"suite.world_sizes=[{c.get('world_size')}]"]
    _set(args, d, mc, ["top_k"])
    _set(args, d, c, ["seq_len", "batch_size", *TIMING])
    return args, ""


SYNTHETIC = ("steps", "batch_size", "lr", "eval_every", "eval_batches", "train_lengths", "eval_lengths")
CORPUS = ("train_tokens", "batch_size", "lr", "eval_every", "eval_tokens", "test_tokens", "max_wall_s")


def _quality(c: dict, d: dict, n: int) -> tuple[list[str], str]:
    entries = d.get("models") or []
    labels = [e.get("label", e.get("model")) for e in entries]
    label = c.get("label", c.get("model"))
    entry = entries[labels.index(label)] if label in labels else {"model": c["model"], "label": label}
    chosen = [entry]
    if entry.get("match"):
        target = entry.get("target", labels[0] if labels else label)
        chosen = [entries[labels.index(target)], entry] if target in labels and target != label else chosen
    args = [f"suite.seeds=[{c.get('seed', 0)}]", f"suite.models={value(chosen)}"]
    if c.get("mode") == "synthetic":
        args += ["suite.parts=[synthetic]", f"suite.synthetic.tasks=[{c.get('synthetic_task')}]"]
        _set(args, d.get("synthetic") or {}, c, SYNTHETIC, "suite.synthetic.")
    else:
        args += ["suite.parts=[corpus]", f"suite.corpus={value(c.get('corpus'))}",
                 f"suite.tokenizer={value(c.get('tokenizer'))}"]
        _set(args, d, c, [*CORPUS, ("context", "seq_len")])
        if c.get("keep_checkpoint"):
            args.append("suite.keep_checkpoints=true")
    also = f"the {chosen[0].get('label', chosen[0]['model'])} it is sized to" if len(chosen) > 1 else ""
    return args, also


def _swarm_differs(c: dict, d: dict) -> str:
    """The record's values of the profile's `suite.swarm` keys that differ from it (encoders and
    distributed build their swarm from it), as text; "" when none do or it has no swarm."""
    mc, swarm = c.get("model_config") or {}, d.get("swarm") or {}
    if c.get("matched_to") or "n_encoders" not in mc:
        return ""
    return ", ".join(f"{key}={mc[key]}" for key, v in swarm.items() if key in mc and not _same(mc[key], v))


SUITES = {"scaling": _scaling, "smoke": _scaling, "decode": _decode, "regression": _regression,
          "encoders": _encoders, "distributed": _distributed, "quality": _quality}


def command(record: dict, processes: int = 1, out: str = OUT) -> Command:
    """The command that measures `record`'s point again (with `processes` of its processes;
    a pooled row has several), and whether it runs that point only."""
    c = record.get("config") or {}
    suite, device = c.get("suite", "smoke"), str(c.get("device", "cpu"))
    top = _yaml(CONF / "config.yaml")
    args = [f"suite={suite}", f"device={device}", f"dtype={c.get('dtype', 'auto')}"]
    if not _same(c.get("seed", 0), top.get("seed", 0)):
        args.append(f"seed={c.get('seed')}")
    vocab = (c.get("model_config") or {}).get("vocab_size")
    if suite != "quality" and vocab is not None and not _same(vocab, top.get("vocab_size")):
        args.append(f"vocab_size={vocab}")
    build = SUITES.get(suite)
    if build is None or "model" not in c:
        return Command(tuple(args + [f"results_dir={out}", "force=true"]), False,
                       f"the whole suite: no narrowing is known for suite={suite}")
    runs = max(processes, int(c.get("repeat") or 0) + 1)  # a repeat comes with the ones before it
    d = defaults(suite, device.split(":")[0])
    narrowed, also = build(c, d, runs)
    if _swarm_differs(c, d):
        return Command(tuple(args + narrowed + [f"results_dir={out}", "force=true"]), False,
                       f"not exactly this point: its swarm has {_swarm_differs(c, d)} where the profile's "
                       "suite.swarm differs, and suite.swarm cannot be set on the command line; this measures the "
                       "profile's swarm at the same N, k and sizes")
    also = ", ".join(filter(None, [also, f"{runs - processes} earlier repeat(s)" if runs > processes else ""]))
    note = f"this point only ({runs} process{'es' if runs > 1 else ''})" if not also else f"this point and {also}"
    return Command(tuple(args + narrowed + [f"results_dir={out}", "force=true"]), not also, note)
