"""The measurement of a `suite=quality` point: train one model from scratch on the corpus's
train split at a fixed token budget (harness.quality.train), then score every domain's test split
(harness.quality.evaluate): bits per byte and token perplexity per domain and their unweighted mean;
for the swarm, the router's domain accuracy and per-encoder load on test text. Scoring follows
lm-evaluation-harness's rolling log-likelihood; bits per byte as the Pile's (Gao et al. 2020).

The point carries the corpus_id and tokenizer hash it was built for; a corpus that changed
since is refused rather than mixed into the same table.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from harness.quality import tokenizer
from harness.quality.corpus_build import load_manifest, read_split
from harness.quality.evaluate import no_capacity_drops, score_stream
from harness.quality.train import TokenSampler, TrainConfig, run_summary, train, validation_bpb
from harness.tasks.model_setup import DTYPES, build_model
from models import routing


def _streams(corpus: Path, codec, split: str) -> dict[str, np.ndarray]:
    manifest = load_manifest(corpus)
    return {d: codec.encode_documents(read_split(corpus, d, split)) for d in sorted(manifest["domains"])}


def _routing_on_test(model, test: dict[str, np.ndarray], context: int, device) -> dict:
    """Domain accuracy of the swarm's router and per-encoder load, on test windows."""
    if not hasattr(model, "router"):
        return {}
    model.eval()
    loads, correct, total = np.zeros(model.cfg.n_encoders), 0.0, 0
    names = sorted(test)
    with torch.no_grad():
        for i, d in enumerate(names):
            tokens = torch.as_tensor(test[d][: 8 * context], dtype=torch.long).to(device)
            rows = len(tokens) // context
            if rows == 0:
                continue
            idx = tokens[: rows * context].view(rows, context)
            labels = torch.full_like(idx, i) if model.cfg.domains else None
            model(idx, domain_labels=labels)
            r = model.last_routing
            stats = routing.routing_stats(r, model.cfg.n_encoders)
            loads += np.asarray(stats["load"])
            if model.cfg.domains:
                acc = model.router.domain_accuracy(r, labels[:, ::model.cfg.chunk_len].transpose(0, 1).flatten())
                correct, total = correct + (acc or 0.0) * rows, total + rows
    model.train()
    out = {"encoder_load": (loads / max(loads.sum(), 1)).round(4).tolist()}
    if total:
        out["domain_accuracy"] = correct / total
    return out


def train_and_evaluate(point: dict) -> dict:
    device = torch.device(point["device"])
    corpus = Path(point["corpus"])
    manifest = load_manifest(corpus)
    if manifest["corpus_id"] != point["corpus_id"]:
        raise ValueError(f"corpus {corpus} is {manifest['corpus_id']}, the point was built for {point['corpus_id']}")
    codec = tokenizer.load(corpus, point["tokenizer"])
    if codec.sha256 != point["tokenizer_sha256"]:
        raise ValueError(f"tokenizer {point['tokenizer']} changed since the point was built")
    train_streams, val, test = (_streams(corpus, codec, s) for s in ("train", "val", "test"))
    model = build_model(point, train=True)
    cfg = TrainConfig(tokens=point["train_tokens"], batch_size=point["batch_size"], context=point["seq_len"],
                      lr=point["lr"], eval_every=point["eval_every"], eval_tokens=point["eval_tokens"],
                      max_wall_s=point.get("max_wall_s"), seed=point["seed"])
    sampler = TokenSampler(train_streams, cfg.context, cfg.batch_size, point["seed"])
    dtype = DTYPES[point["dtype"]]
    history = train(model, sampler, cfg, device, dtype,
                    lambda: validation_bpb(model, val, codec.token_bytes, cfg.context, device, dtype, cfg.eval_tokens))
    scores = {}
    if history["status"] != "diverged":
        model.eval()
        with no_capacity_drops(model):
            scores = {d: score_stream(model, s, codec.token_bytes, cfg.context, device, dtype=dtype,
                                      max_tokens=point.get("test_tokens"))
                      for d, s in test.items()}
    quality = {
        "corpus_id": manifest["corpus_id"], "tokenizer": codec.name, "tokenizer_sha256": codec.sha256,
        "training": history, "test": scores, "eval_capacity": "unlimited",
        "test_bpb_mean": float(np.mean([s["bpb"] for s in scores.values()])) if scores else None,
        "routing": _routing_on_test(model, test, cfg.context, device) if scores else {},
    }
    return {"quality": quality, **run_summary(model, history, cfg.context, device)}
