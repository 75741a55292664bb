"""Quality at matched budgets: every model trained from scratch on the same corpus, tokenizer,
token budget and seeds, then scored on the same held-out text (harness.quality).

`models` entries are `{model, label, overrides, match, by, target}`: the first entry is the
reference; an entry with `match` (params_active | params_total) is sized to the entry labelled
`target` (default: the first) by depth or width. Swarms get the corpus's domains as their
specialist domains unless their overrides say otherwise, so the router learns the domains.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from harness import tokenizer
from harness.corpus_build import load_manifest
from harness.points import Point
from models import matching, registry
from suites.common import RunContext, require

SWARMS = ("swarm", "transformer_swarm")
ENTRY_KEYS = {"model", "label", "overrides", "match", "by", "target"}


@dataclass(kw_only=True)
class QualityParams:
    name: str
    corpus: str = "data/corpus"
    tokenizer: str = "bpe16384"
    models: list[dict] = field(default_factory=list)
    preset: Optional[str] = None
    seeds: Optional[list[int]] = None
    train_tokens: Optional[int] = None
    batch_size: Optional[int] = None
    context: Optional[int] = None
    lr: Optional[float] = None
    eval_every: Optional[int] = None
    eval_tokens: Optional[int] = None
    test_tokens: Optional[int] = None  # per domain; null: the whole test split
    max_wall_s: Optional[float] = None
    timeout_s: Optional[float] = None
    profiles: dict = field(default_factory=dict)


def _resolve(params: QualityParams, ctx: RunContext) -> QualityParams:
    profile = dict(params.profiles.get(ctx.device_type) or {})
    profile.pop("description", None)
    for key, value in profile.items():
        require(hasattr(params, key) and key not in ("name", "profiles"),
                f"unknown key suite.profiles.{ctx.device_type}.{key}")
        if getattr(params, key) in (None, []):
            setattr(params, key, value)
    return params


def _configs(params: QualityParams, vocab: int, domains: list[str]) -> list[tuple[str, str, dict]]:
    """(label, model name, resolved config) per entry, matched entries sized to their target."""
    entries = []
    for i, entry in enumerate(params.models):
        require(set(entry) <= ENTRY_KEYS and "model" in entry,
                f"suite.models[{i}]={entry}: expected keys {', '.join(sorted(ENTRY_KEYS))} (model required)")
        registry.entry(entry["model"])
        overrides = {"vocab_size": vocab, **(entry.get("overrides") or {})}
        if entry["model"] in SWARMS and "domains" not in overrides:
            overrides["domains"] = domains
        config = registry.resolve_config(entry["model"], params.preset, overrides)
        entries.append([entry.get("label", entry["model"]), entry, config])
    labels = [label for label, _, _ in entries]
    require(len(set(labels)) == len(labels), f"suite.models labels repeat: {labels}; give each a `label`")
    for slot in entries:
        label, entry, config = slot
        if entry.get("match"):
            target = entry.get("target", labels[0])
            require(target in labels, f"suite.models {label}: target {target!r}; valid: {', '.join(labels)}")
            goal_entry = entries[labels.index(target)]
            active = entry["match"] == "params_active"
            goal = matching.count_params(goal_entry[1]["model"], goal_entry[2], active=active)
            slot[2] = matching.match(entry["model"], config, goal, active=False, by=entry.get("by", "depth"))
    return [(label, entry["model"], config) for label, entry, config in entries]


def build_points(params: QualityParams, ctx: RunContext) -> tuple[list[Point], str | None]:
    description = (params.profiles.get(ctx.device_type) or {}).get("description")
    params = _resolve(params, ctx)
    require(not ctx.model_choice, "suite=quality trains the models in suite.models; drop model=")
    for key in ("seeds", "train_tokens", "batch_size", "context", "lr", "eval_every", "eval_tokens", "timeout_s"):
        require(getattr(params, key) not in (None, []), f"suite.{key} is not set and has no {ctx.device_type} profile value")
    require(params.train_tokens >= params.batch_size * params.context,
            f"suite.train_tokens={params.train_tokens} is less than one batch ({params.batch_size} x {params.context})")
    corpus = Path(params.corpus)
    manifest = load_manifest(corpus)
    codec = tokenizer.load(corpus, params.tokenizer)
    domains = sorted(manifest["domains"])
    points = []
    for seed in params.seeds:
        for label, model, config in _configs(params, codec.vocab_size, domains):
            point = {"suite": params.name, "task": "harness.quality:train_and_evaluate", "model": model,
                     "label": label, "model_config": config, "mode": "quality", "batch_size": params.batch_size,
                     "seq_len": params.context, "device": ctx.device, "dtype": ctx.dtype, "seed": seed,
                     "corpus": str(corpus.resolve()), "corpus_id": manifest["corpus_id"], "tokenizer": codec.name,
                     "tokenizer_sha256": codec.sha256, "train_tokens": params.train_tokens, "lr": params.lr,
                     "eval_every": params.eval_every, "eval_tokens": params.eval_tokens,
                     "test_tokens": params.test_tokens, "max_wall_s": params.max_wall_s}
            points.append(Point(point, params.timeout_s, label=f"{label} seed={seed}"))
    return points, description

