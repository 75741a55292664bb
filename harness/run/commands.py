"""The commands beside the sweep, each a dataclass schema read from `key=value` arguments:

    swarm-bench compare baseline=<run> candidate=<run> [store=.. markdown=.. json=.. <gate keys>]
    swarm-bench claims [store=results] [out=<store>]
    swarm-bench corpus build [out=data/corpus vocab_size=16384 ...]

A run (for `compare`) is a results directory, a JSON file of records, or a run id (prefix) in
`store`. `compare` exits 0 when nothing regressed, 1 when a point regressed, failed or
changed, 2 for bad input or incomparable runs.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from harness.errors import UserError
from harness.run.config import parse_key_values
from harness.structured import field_names, from_mapping


@dataclass
class CompareConfig:
    baseline: str
    candidate: str
    store: str = "results"  # where run ids are looked up
    ignore_env: list[str] = field(default_factory=list)  # environment keys allowed to differ
    markdown: Optional[str] = None  # also write the markdown report here
    json: Optional[str] = None  # also write the JSON report here
    allow_unreadable: bool = False  # compare even when a run has unreadable record files


@dataclass
class ClaimsConfig:
    store: str = "results"  # the results evaluated
    out: Optional[str] = None  # where claims.md and claims.json go; None: the store


def compare(argv: list[str]) -> int:
    from harness.analysis import compare as gate
    from harness.analysis import compare_report

    run_keys = field_names(CompareConfig)
    gate_keys = sorted(set(field_names(gate.GateSettings)) - {"n_boot", "seed"})
    values = parse_key_values(argv, "compare", sorted(run_keys + gate_keys))
    unknown = sorted(set(values) - set(run_keys) - set(gate_keys))
    if unknown:
        raise UserError(f"unknown key compare.{unknown[0]}; valid keys: {', '.join(sorted(run_keys + gate_keys))}")
    # run ids such as 20261130 read as numbers; they are names
    values = {k: str(v) if k in run_keys and k not in ("ignore_env", "allow_unreadable") and v is not None else v
              for k, v in values.items()}
    cfg = from_mapping(CompareConfig, {k: v for k, v in values.items() if k in run_keys}, where="compare")
    settings = from_mapping(gate.GateSettings, {k: v for k, v in values.items() if k in gate_keys}, where="compare")
    if not 0 < settings.threshold < 1:
        raise UserError(f"compare.threshold={settings.threshold} is impossible: must be in (0, 1)")
    if not 0.5 < settings.confidence < 1:
        raise UserError(f"compare.confidence={settings.confidence} is impossible: must be in (0.5, 1)")
    baseline = gate.load_run(cfg.baseline, cfg.store, cfg.allow_unreadable)
    candidate = gate.load_run(cfg.candidate, cfg.store, cfg.allow_unreadable)
    result = gate.compare_runs(baseline, candidate, settings, tuple(cfg.ignore_env))
    print(compare_report.table(result))
    for key, path, render in (("markdown", cfg.markdown, compare_report.markdown), ("json", cfg.json, compare_report.as_json)):
        if path:
            try:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                Path(path).write_text(render(result))
            except OSError as exc:
                raise UserError(f"compare.{key}={path!r} cannot be written ({exc.strerror}); the table above is "
                                "the result") from None
            print(f"wrote {path}")
    return 0 if result["passed"] else 1


def claims(argv: list[str]) -> int:
    from harness.analysis import claims_report

    cfg = from_mapping(ClaimsConfig, parse_key_values(argv, "claims", field_names(ClaimsConfig)), where="claims")
    if not Path(cfg.store).is_dir():
        raise UserError(f"claims: store={cfg.store!r} is not a directory of results")
    out = Path(cfg.out or cfg.store)
    try:  # before the ledger is evaluated, not after
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"claims: out={str(out)!r} cannot be created: {exc.strerror}") from None
    if not os.access(out, os.W_OK):
        raise UserError(f"claims: out={str(out)!r} is not writable")
    for line in claims_report.write(cfg.store, str(out)):
        print(line)
    return 0


@dataclass
class ExportConfig:
    store: str
    format: str = "csv"
    out: Optional[str] = None  # default: <store>.<csv|parquet|json|mlruns> beside the store


def export(argv: list[str]) -> int:
    from harness.store import export as exporter

    cfg = from_mapping(ExportConfig, parse_key_values(argv, "export", field_names(ExportConfig)), where="export")
    ext = exporter.FORMATS.get(cfg.format, "out")
    out = cfg.out or f"{str(Path(cfg.store)).rstrip('/')}.{ext}"
    path, count = exporter.export(cfg.store, cfg.format, out)
    what = {"pytest-benchmark": "benchmarks", "mlflow": "MLflow runs added"}.get(cfg.format, "rows")
    print(f"wrote {path} ({count} {what}, format={cfg.format})")
    return 0


def corpus(argv: list[str]) -> int:
    """Build the corpus, train its tokenizer, print each domain's splits."""
    from harness.quality import corpus_build, tokenizer

    if argv[:1] != ["build"]:
        raise UserError(f"corpus: expected `corpus build [key=value ...]`, got {' '.join(['corpus', *argv])!r}")
    cfg = from_mapping(corpus_build.CorpusConfig,
                       parse_key_values(argv[1:], "corpus", field_names(corpus_build.CorpusConfig)), where="corpus")
    if cfg.vocab_size and not 257 <= cfg.vocab_size <= 1 << 20:
        raise UserError(f"corpus.vocab_size={cfg.vocab_size} is impossible: 0 (none) or 257 .. 1048576")
    manifest = corpus_build.build(cfg)
    if cfg.vocab_size:
        tokenizer.train_bpe(Path(cfg.out), cfg.vocab_size)
        manifest = corpus_build.load_manifest(Path(cfg.out))
    mb = corpus_build.MB
    for domain, splits in manifest["domains"].items():
        print(f"{domain:>8}: " + ", ".join(f"{s} {splits[s]['bytes'] / mb:.2f} MB ({splits[s]['units']} units)"
                                          for s in corpus_build.SPLITS)
              + f"; {splits['unused_bytes'] / mb:.2f} MB over the cap")
    print(f"corpus_id {manifest['corpus_id']} -> {cfg.out}/ (tokenizers: {', '.join(manifest['tokenizers']) or 'none'})")
    return 0


COMMANDS: dict[str, tuple[Callable[[list[str]], int], str]] = {
    "compare": (compare, "the regression gate: compare baseline=<run> candidate=<run>"),
    "claims": (claims, "the claims ledger over a store: claims store=<dir> [out=<dir>]"),
    "corpus": (corpus, "build the quality corpus and tokenizer: corpus build [out=data/corpus ...]"),
    "export": (export, "a store as csv, parquet, pytest-benchmark JSON or MLflow runs: export store=<dir> format=<f> [out=...]"),
}


def schema_help(cls: type) -> str:
    return ", ".join(f"{f.name}={f.default!r}" if f.default is not dataclasses.MISSING else f.name
                     for f in dataclasses.fields(cls))
