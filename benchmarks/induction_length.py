"""Does a model learn the Mamba paper's induction-heads task at a given training length?

The calibration setting `induction_heads_e1` (conf/suite/quality.yaml; Gu & Dao 2023, section
4.1.2, Table 11) trains at length 256; this trains the same model, vocabulary, batch, optimiser
and constant rate at any length, on any device, and prints the accuracy at the training length
at every probe. It separates what the length does from what the budget, the device or the dtype
do when a calibration row stays at chance.

    python -m benchmarks.induction_length --model transformer --length 64 --steps 4000 \
        --out results/reference/bench/induction_length_cpu.json
"""
from __future__ import annotations

import argparse
import json
import time

import torch
import yaml

from harness.quality.synthetic_batches import TaskSampler, accuracy
from harness.quality.synthetic_tasks import TASKS
from harness.quality.train import train
from harness.structured import shipped_suite_value
from harness.tasks.model_setup import DTYPES, build_model
from harness.tasks.synthetic import train_config
from models import registry
from models.errors import ModelConfigError

SETTING = "induction_heads_e1"
PROBE_BATCHES = 32
PROBE_SEED = 99
EVAL_EVERY = 500  # steps between probes


def shipped_model(label: str) -> tuple[dict, dict]:
    """(setting, model entry) of SETTING as conf/suite/quality.yaml ships it."""
    setting = next(s for s in shipped_suite_value("quality", "calibration") if s["name"] == SETTING)
    labels = [m["label"] for m in setting["models"]]
    if label not in labels:
        raise SystemExit(f"benchmarks.induction_length: unknown model {label!r}; valid: {', '.join(labels)}")
    return setting, next(m for m in setting["models"] if m["label"] == label)


def learn(label: str, length: int, steps: int, device: str, dtype: str, lr: float | None,
          changes: dict | None = None, optimizer: dict | None = None) -> dict:
    """Train the shipped entry `label`, its model config overridden by `changes`, at `length`."""
    setting, entry = shipped_model(label)
    task = TASKS[setting["task"]].configured(setting.get("options"))
    rate = lr or entry["lr"]
    overrides = {"vocab_size": task.vocab_size, **entry["overrides"], **(changes or {})}
    config = registry.resolve_config(entry["model"], "tiny", overrides)
    point = {"model": entry["model"], "model_config": config, "device": device, "seed": 0, "steps": steps,
             "batch_size": setting["batch_size"], "train_lengths": [length], "lr": rate, "eval_every": EVAL_EVERY,
             "weight_decay": setting["weight_decay"], "schedule": setting["schedule"],
             **(optimizer or {})}  # as a calibration point
    model, cfg, dev = build_model(point, train=True), train_config(point), torch.device(device)

    def probe() -> dict:
        return {"accuracy": accuracy(model, task, length, setting["batch_size"], PROBE_BATCHES, PROBE_SEED, dev,
                                     torch.float32)["accuracy"]}

    start = time.perf_counter()
    history = train(model, TaskSampler(task, [length], setting["batch_size"], 0), cfg, dev, DTYPES[dtype], probe)
    return {"model": label, "changes": changes or {}, "optimizer": optimizer or {}, "length": length, "steps": history["steps"], "lr": rate, "device": device, "dtype": dtype,
            "wall_s": time.perf_counter() - start, "chance": 1 / task.answers,
            "accuracy_by_step": [[tokens // (setting["batch_size"] * length), point["accuracy"]]
                                 for tokens, point in history["val_curve"]]}


def parse_changes(pairs: list[str]) -> dict:
    """["attention_bias=true", ...] -> {"attention_bias": True, ...}; the model config rejects unknown keys."""
    changes = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"benchmarks.induction_length: --set {pair!r} is not KEY=VALUE")
        changes[key] = yaml.safe_load(value)
    return changes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="transformer", help=f"a model label of {SETTING}")
    parser.add_argument("--length", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="fp32", choices=sorted(DTYPES))
    parser.add_argument("--lr", type=float, default=None, help="default: the setting's rate for the model")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="model config changes, e.g. attention_bias=true (values read as YAML)")
    parser.add_argument("--betas", type=float, nargs=2, default=None, help="AdamW's betas (default: the harness's)")
    parser.add_argument("--no-clip", action="store_true", help="no gradient-norm clipping (default: clip at 1)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    changes = parse_changes(args.set)
    optimizer = ({"adam_betas": args.betas} if args.betas else {}) | ({"grad_clip": None} if args.no_clip else {})
    torch.set_num_threads(1)  # one core per run: several lengths run side by side on a small machine
    rows = []
    for length in args.length:
        try:
            rows.append(learn(args.model, length, args.steps, args.device, args.dtype, args.lr, changes, optimizer))
        except ModelConfigError as error:
            raise SystemExit(f"benchmarks.induction_length: {error}") from None
        print(f"{args.model} L={length} {args.dtype}: accuracy by step "
              + ", ".join(f"{s}: {a:.2f}" for s, a in rows[-1]["accuracy_by_step"]), flush=True)
    with open(args.out, "w") as f:
        json.dump({"setting": SETTING, "torch": torch.__version__, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
