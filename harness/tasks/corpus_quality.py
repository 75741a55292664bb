"""The measurement of a `suite=quality` point: train one model from scratch on the corpus's
train split at a fixed token budget (harness.quality.train), then score every domain's test split
(the validation split instead for a learning-rate sweep point, `score_split: val`)
(harness.quality.evaluate): bits per byte and token perplexity per domain and their unweighted mean;
for the swarm, the router's domain accuracy and per-encoder load on test text. Scoring follows
lm-evaluation-harness's rolling log-likelihood; bits per byte as the Pile's (Gao et al. 2020).

The point carries the corpus_id and tokenizer hash it was built for; a corpus that changed
since is refused rather than mixed into the same table. A point with `keep_checkpoint` (the
suite's keep_checkpoints) also saves its trained model with transformers' `save_pretrained`
beside its record, `<store>/<suite>/<point_id>.checkpoint/` (a swarm through
models.swarm.hf_swarm, a Transformer as its LlamaForCausalLM); harness.tasks.quality_checkpoint
scores such a checkpoint later.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import torch

from harness.quality import tokenizer
from harness.quality.corpus_build import load_manifest, read_split
from harness.quality.evaluate import no_capacity_drops, score_stream
from harness.quality.train import TokenSampler, TrainConfig, run_summary, train, validation_bpb
from harness.tasks.model_setup import DTYPES, build_model, resume_path
from models import routing
from models.swarm import SwarmLM


def domain_streams(corpus: Path, codec, split: str) -> dict[str, np.ndarray]:
    """Token ids of every domain's `split`, encoded once per corpus and tokenizer and kept in
    `<corpus>/tokens/` (written whole, then renamed), so a sweep's points skip re-encoding."""
    manifest = load_manifest(corpus)
    cache = corpus / "tokens"
    cache.mkdir(exist_ok=True)
    streams = {}
    for domain in sorted(manifest["domains"]):
        path = cache / f"{manifest['corpus_id']}-{codec.sha256[:16]}-{domain}-{split}.npy"
        if path.exists():
            streams[domain] = np.load(path)
            continue
        streams[domain] = codec.encode_documents(read_split(corpus, domain, split))
        partial = path.with_name(f"{path.stem}.{os.getpid()}.partial.npy")
        np.save(partial, streams[domain])
        os.replace(partial, path)
    return streams


def _routing_on_test(model, test: dict[str, np.ndarray], context: int, device) -> dict:
    """Domain accuracy of the swarm's router and per-encoder load, on test windows."""
    if not hasattr(model, "router"):
        return {}
    model.eval()
    loads, correct, total = np.zeros(model.cfg.n_encoders), 0.0, 0
    k_sum, scored_rows = 0.0, 0
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
            k_sum, scored_rows = k_sum + stats.get("k_mean", model.cfg.top_k) * rows, scored_rows + rows
            if model.cfg.domains:
                acc = model.router.domain_accuracy(r, labels[:, ::model.cfg.chunk_len].transpose(0, 1).flatten())
                correct, total = correct + (acc or 0.0) * rows, total + rows
    model.train()
    out = {"encoder_load": (loads / max(loads.sum(), 1)).round(4).tolist()}
    if scored_rows:
        out["k_mean"] = k_sum / scored_rows  # encoders per chunk on test text (top_k unless routing_threshold > 0)
    if total:
        out["domain_accuracy"] = correct / total
    return out


def load_corpus(point: dict) -> tuple[Path, dict, tokenizer.Codec]:
    """The point's corpus, its manifest and tokenizer, refused if either changed since the point was built."""
    corpus = Path(point["corpus"])
    manifest = load_manifest(corpus)
    if manifest["corpus_id"] != point["corpus_id"]:
        raise ValueError(f"corpus {corpus} is {manifest['corpus_id']}, the point was built for {point['corpus_id']}")
    codec = tokenizer.load(corpus, point["tokenizer"])
    if codec.sha256 != point["tokenizer_sha256"]:
        raise ValueError(f"tokenizer {point['tokenizer']} changed since the point was built")
    return corpus, manifest, codec


def score_test_split(model, test: dict[str, np.ndarray], codec, point: dict, device, dtype) -> dict:
    """Every domain's test stream scored (harness.quality.evaluate), capacity limits off."""
    model.eval()
    with no_capacity_drops(model):
        return {d: score_stream(model, s, codec.token_bytes, point["seq_len"], device, dtype=dtype,
                                max_tokens=point.get("test_tokens"))
                for d, s in test.items()}


def keep_checkpoint(model, point: dict) -> str:
    """save_pretrained the trained model beside the point's record (written whole, then renamed)."""
    from models.swarm import hf_swarm

    final = Path(point["record_path"]).with_suffix(".checkpoint")  # the runner says where the record goes
    partial = final.with_name(final.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    (hf_swarm.wrap(model) if isinstance(model, SwarmLM) else model.hf).save_pretrained(partial)  # else a TransformerLM
    shutil.rmtree(final, ignore_errors=True)
    partial.rename(final)
    return str(final)


def train_and_evaluate(point: dict) -> dict:
    device = torch.device(point["device"])
    corpus, manifest, codec = load_corpus(point)
    train_streams, val, test = (domain_streams(corpus, codec, s) for s in ("train", "val", "test"))
    model = build_model(point, train=True)
    cfg = TrainConfig(tokens=point["train_tokens"], batch_size=point["batch_size"], context=point["seq_len"],
                      lr=point["lr"], eval_every=point["eval_every"], eval_tokens=point["eval_tokens"],
                      max_wall_s=point.get("max_wall_s"), seed=point["seed"], resume_path=resume_path(point))
    sampler = TokenSampler(train_streams, cfg.context, cfg.batch_size, point["seed"])
    dtype = DTYPES[point["dtype"]]
    history = train(model, sampler, cfg, device, dtype,
                    lambda: validation_bpb(model, val, codec.token_bytes, cfg.context, device, dtype, cfg.eval_tokens))
    split = point.get("score_split", "test")  # "val": a learning-rate sweep point, which never sees test
    held_out = val if split == "val" else test
    scores = score_test_split(model, held_out, codec, point, device, dtype) if history["status"] != "diverged" else {}
    quality = {
        "corpus_id": manifest["corpus_id"], "tokenizer": codec.name, "tokenizer_sha256": codec.sha256,
        "training": history, split: scores, "eval_capacity": "unlimited",
        f"{split}_bpb_mean": float(np.mean([s["bpb"] for s in scores.values()])) if scores else None,
        "routing": _routing_on_test(model, held_out, cfg.context, device) if scores else {},
    }
    if scores and point.get("keep_checkpoint"):
        quality["checkpoint"] = keep_checkpoint(model, point)
    return {"quality": quality, **run_summary(model, history, cfg.context, device)}
