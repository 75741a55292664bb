"""Does a model learn a calibration setting's task at a given training length?

The calibration settings (conf/suite/quality.yaml) train at one length each: induction heads at 256
(Gu & Dao 2023, section 4.1.2, Table 11), MQAR at 64 and 512 (Arora et al. 2023, Figure 2). This
trains a setting's model with its vocabulary, batch, optimiser and schedule at any length, on any
device, with any of those changed on purpose (`--batch`, `--lr`, `--betas`, `--no-clip`, model
config keys through `--set`, task options through `--option`, e.g. MQAR's `pairs`), and prints the
accuracy at the training length at every probe. It separates what the length does from what the
budget, the device, the dtype or the optimiser do when a calibration row stays at chance.

    python -m benchmarks.synthetic_length --model transformer --length 64 --steps 4000 \
        --out results/reference/bench/induction_length_cpu.json
    python -m benchmarks.synthetic_length --setting mqar_zoology_512 --model "attention-only d=256" \
        --length 128 --option pairs=16 --device cuda --cuda-graphs --steps 20000 --out mqar128.json

(Records written before the benchmark took other settings, `induction_length_*.json`, were made
by the same code under the name benchmarks.induction_length.)
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


def shipped_model(label: str, setting_name: str = SETTING) -> tuple[dict, dict]:
    """(setting, model entry) of `setting_name` as conf/suite/quality.yaml ships it."""
    settings = {s["name"]: s for s in shipped_suite_value("quality", "calibration")}
    if setting_name not in settings:
        raise SystemExit(f"benchmarks.synthetic_length: unknown setting {setting_name!r}; valid: {', '.join(settings)}")
    setting = settings[setting_name]
    labels = [m["label"] for m in setting["models"]]
    if label not in labels:
        raise SystemExit(f"benchmarks.synthetic_length: unknown model {label!r}; valid: {', '.join(labels)}")
    return setting, next(m for m in setting["models"] if m["label"] == label)


def learn(label: str, length: int, steps: int, device: str, dtype: str, lr: float | None,
          changes: dict | None = None, optimizer: dict | None = None, setting_name: str = SETTING,
          batch: int | None = None, options: dict | None = None, cuda_graphs: bool = False, seed: int = 0) -> dict:
    """Train the shipped entry `label` of `setting_name`, its model config overridden by `changes`,
    its task options by `options`, at `length`; `seed` draws the initial weights and the batches."""
    setting, entry = shipped_model(label, setting_name)
    task_options = {**setting.get("options", {}), **(options or {})}
    try:
        task = TASKS[setting["task"]].configured(task_options)
    except ValueError as error:
        raise SystemExit(f"benchmarks.synthetic_length: {error}") from None
    if not task.min_length <= length <= task.max_length:
        raise SystemExit(f"benchmarks.synthetic_length: length {length} is impossible for {setting['task']} with "
                         f"{task_options} (valid: {task.min_length}..{task.max_length})")
    rate, batch = lr or entry["lr"], batch or setting["batch_size"]
    overrides = {"vocab_size": task.vocab_size, **entry["overrides"], **(changes or {})}
    config = registry.resolve_config(entry["model"], "tiny", overrides)
    point = {"model": entry["model"], "model_config": config, "device": device, "seed": seed, "steps": steps,
             "batch_size": batch, "train_lengths": [length], "lr": rate, "eval_every": EVAL_EVERY,
             "weight_decay": setting["weight_decay"], "schedule": setting["schedule"], "cuda_graphs": cuda_graphs,
             **(optimizer or {})}  # as a calibration point
    model, cfg, dev = build_model(point, train=True), train_config(point), torch.device(device)

    probes = []

    def probe() -> dict:  # printed as it is measured, so a run cut by a time limit keeps its curve in the log
        probes.append(accuracy(model, task, length, batch, PROBE_BATCHES, PROBE_SEED, dev, torch.float32)["accuracy"])
        print(f"  L={length} probe {len(probes)} (about step {len(probes) * cfg.eval_every}): {probes[-1]:.3f}",
              flush=True)
        return {"accuracy": probes[-1]}

    start = time.perf_counter()
    history = train(model, TaskSampler(task, [length], batch, seed), cfg, dev, DTYPES[dtype], probe)
    return {"setting": setting_name, "model": label, "changes": changes or {}, "optimizer": optimizer or {},
            "task_options": task_options, "batch_size": batch, "length": length, "seed": seed,
            "steps": history["steps"], "lr": rate, "device": device, "dtype": dtype, "cuda_graphs": history["cuda_graphs"],
            "wall_s": time.perf_counter() - start, "chance": 1 / task.answers,
            "accuracy_by_step": [[tokens // (batch * length), point["accuracy"]]
                                 for tokens, point in history["val_curve"]]}


def parse_pairs(pairs: list[str], flag: str) -> dict:
    """["attention_bias=true", ...] -> {"attention_bias": True, ...}; the model config or the task
    rejects unknown keys."""
    changes = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"benchmarks.synthetic_length: {flag} {pair!r} is not KEY=VALUE")
        changes[key] = yaml.safe_load(value)
    return changes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setting", default=SETTING, help="a calibration setting of conf/suite/quality.yaml")
    parser.add_argument("--model", default="transformer", help="a model label of the setting")
    parser.add_argument("--length", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--batch", type=int, default=None, help="default: the setting's batch")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="fp32", choices=sorted(DTYPES))
    parser.add_argument("--cuda-graphs", action="store_true", help="replay each step from a CUDA graph")
    parser.add_argument("--lr", type=float, default=None, help="default: the setting's rate for the model")
    parser.add_argument("--betas", type=float, nargs=2, default=None, help="AdamW's betas (default: the harness's)")
    parser.add_argument("--no-clip", action="store_true", help="no gradient-norm clipping (default: clip at 1)")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="model config changes, e.g. attention_bias=true (values read as YAML)")
    parser.add_argument("--option", nargs="*", default=[], metavar="KEY=VALUE", help="task options, e.g. pairs=16")
    parser.add_argument("--seed", type=int, default=0, help="initial weights and batches (rows without one: 0)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    changes, options = parse_pairs(args.set, "--set"), parse_pairs(args.option, "--option")
    optimizer = ({"adam_betas": args.betas} if args.betas else {}) | ({"grad_clip": None} if args.no_clip else {})
    torch.set_num_threads(1)  # one core per run: several lengths run side by side on a small machine
    rows = []
    for length in args.length:
        try:
            rows.append(learn(args.model, length, args.steps, args.device, args.dtype, args.lr, changes, optimizer,
                              args.setting, args.batch, options, args.cuda_graphs, args.seed))
        except ModelConfigError as error:
            raise SystemExit(f"benchmarks.synthetic_length: {error}") from None
        print(f"{args.setting} {args.model} L={length} batch {rows[-1]['batch_size']} {args.dtype}: accuracy by step "
              + ", ".join(f"{s}: {a:.2f}" for s, a in rows[-1]["accuracy_by_step"]), flush=True)
        with open(args.out, "w") as f:  # after every length: a cut run keeps what it measured
            json.dump({"torch": torch.__version__, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
