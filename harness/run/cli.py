"""The command line behind run.py: compose the config, build the suite's points, run the
sweep, print the summary. User mistakes exit with code 2 and one line on stderr.

    python run.py suite=scaling                         # GPU profile on CUDA, CPU profile otherwise
    python run.py suite=scaling suite.seq_lens=[1024,4096] device=cuda dtype=bf16
    python run.py suite=smoke model=mamba force=true
    python run.py suite=scaling launcher=local_gpus     # one worker per GPU (harness.run.launchers)
    python run.py suite=scaling launcher=slurm launcher.partition=gpu
    python run.py --help | --cfg job                    # Hydra's own flags
    python run.py compare baseline=<run> candidate=<run> # the regression gate (harness.run.compare_command)
    python run.py corpus=build                          # the quality corpus (harness.quality.corpus_build)
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import pandas as pd

from harness.errors import UserError
from harness.run.config import compose_config, to_container
from harness.run.typed_config import from_mapping

DTYPES = ("auto", "fp32", "bf16", "fp16")
SUMMARY_COLUMNS = ["model", "mode", "batch_size", "seq_len", "status", "latency_ms_p50", "spread_%", "peak_mb",
                   "tokens_per_s", "backend", "note"]
DECODE_COLUMNS = ["cuda_graphs", "prefill_ms_p50", "state_mb"]  # shown when the suite has them


@dataclass
class TopConfig:
    device: str = "auto"
    dtype: str = "auto"
    seed: int = 0
    vocab_size: int = 16384
    results_dir: str = "results"
    force: bool = False
    progress: bool = True
    dry_run: bool = False


def resolve_device(requested: str) -> str:
    import torch

    has_cuda = torch.cuda.is_available()
    if requested == "auto":
        return "cuda" if has_cuda else "cpu"
    kind, _, index = requested.partition(":")
    if kind not in ("cpu", "cuda") or (index and (kind == "cpu" or not index.isdigit())):
        raise UserError(f"device={requested!r}; valid: auto, cpu, cuda, cuda:N")
    if kind == "cuda" and not has_cuda:
        raise UserError(f"device={requested!r} but no CUDA device is visible; valid here: auto, cpu")
    if index and int(index) >= torch.cuda.device_count():
        raise UserError(f"device={requested!r} but only {torch.cuda.device_count()} CUDA device(s) are visible")
    return requested


def resolve_dtype(requested: str, device: str) -> str:
    if requested not in DTYPES:
        raise UserError(f"dtype={requested!r}; valid: {', '.join(DTYPES)}")
    if requested == "auto":
        return "bf16" if device.startswith("cuda") else "fp32"
    return requested


def model_choice(model_cfg: dict | None) -> dict | None:
    if not model_cfg:
        return None
    fixed = {"name", "preset"}
    return {"name": model_cfg["name"], "preset": model_cfg.get("preset"),
            "overrides": {k: v for k, v in model_cfg.items() if k not in fixed and v is not None}}


def summary_table(rows: list[dict]) -> str:
    df = pd.DataFrame(rows)
    if df.empty:
        return "(no points)"
    peak = df.get("peak_alloc_mb")
    df["peak_mb"] = peak.fillna(df.get("peak_rss_mb")) if peak is not None else df.get("peak_rss_mb")
    df["spread_%"] = 100 * df.get("latency_iqr_over_median", pd.Series(dtype=float))
    columns = SUMMARY_COLUMNS[:6] + [c for c in DECODE_COLUMNS if c in df and df[c].notna().any()] + SUMMARY_COLUMNS[6:]
    for column in columns:
        if column not in df:
            df[column] = None
    return df[columns].to_string(index=False, na_rep="-", float_format=lambda v: f"{v:,.4g}")


def suites_of(rows: list[dict], default: str) -> list[str]:
    """The store folders a sweep wrote to (suite=claims writes to its sub-runs' suites)."""
    return sorted({r["suite"] for r in rows if r.get("suite")}) or [default]


def run(cfg: dict) -> int:
    from harness.run.runner import run_sweep
    from suites import registry as suites
    from suites.common import RunContext

    corpus_cfg = cfg.pop("corpus", None)
    if corpus_cfg:
        from harness.quality import corpus_build
        return corpus_build.run_from_config(corpus_cfg)
    suite_cfg, model_cfg, launcher = cfg.pop("suite"), cfg.pop("model", None), cfg.pop("launcher", None)
    top = from_mapping(TopConfig, cfg, where="config")
    if top.vocab_size < 2:
        raise UserError(f"vocab_size={top.vocab_size} is impossible: must be >= 2")
    device = resolve_device(top.device)
    dtype = resolve_dtype(top.dtype, device)
    suite = suites.entry(suite_cfg.get("name"))
    params = from_mapping(suite.params_cls, suite_cfg, where="suite")
    ctx = RunContext(device=device, dtype=dtype, seed=top.seed, vocab_size=top.vocab_size,
                     model_choice=model_choice(model_cfg))
    points, description = suite.build_points(params, ctx)
    folders = sorted({p.config["suite"] for p in points}) or [params.name]
    print(f"suite {params.name!r} on {device} ({dtype}): {len(points)} points -> "
          + ", ".join(f"{top.results_dir}/{name}/" for name in folders))
    if description:
        print(description)
    if top.dry_run:
        for point in points:
            print(f"  {point.label}")
        return 0
    rows = run_sweep(points, store=top.results_dir, force=top.force, progress=top.progress, launcher=launcher)
    print(summary_table(rows))
    if suite.after_run:
        suite.after_run(params, top.results_dir)
    statuses = pd.Series([r.get("status") for r in rows]).value_counts().to_dict()
    print("status: " + ", ".join(f"{k} {v}" for k, v in statuses.items())
          + f"; records in {', '.join(f'{top.results_dir}/{name}/' for name in suites_of(rows, params.name))}"
          " (load with harness.store.results.load())")
    return 1 if statuses.get("error") or statuses.get("crashed") else 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        if argv[:1] == ["compare"]:
            from harness.run import compare_command as compare_cli
            return compare_cli.main(argv[1:])
        if any(arg.startswith("-") for arg in argv):  # --help, --cfg job, --info ...: Hydra's own CLI
            compose_config([arg for arg in argv if "=" in arg and not arg.startswith("-")])
            return _hydra_main()
        return run(to_container(compose_config(argv)))
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; finished points are kept in the store", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _hydra_main() -> int:
    import hydra
    from omegaconf import OmegaConf

    from harness.run.config import CONF_DIR

    outcome = {"code": 0}

    @hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")
    def task(cfg) -> None:
        try:
            outcome["code"] = run(OmegaConf.to_container(cfg, resolve=True))
        except UserError as exc:
            print(f"error: {exc}", file=sys.stderr)
            outcome["code"] = 2

    task()
    return outcome["code"]
